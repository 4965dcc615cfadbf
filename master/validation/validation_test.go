package validation

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// check asserts err matches want: "" means no error, otherwise err must wrap
// ErrInvalid and contain want.
func check(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !errors.Is(err, ErrInvalid):
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		id, want string
	}{
		{"task-1", ""},
		{"a.b_c-d:e@f", ""},
		{"ünïcödé", ""},
		{strings.Repeat("x", 255), ""},
		{"", "must not be empty"},
		{strings.Repeat("x", 256), "longer than 255"},
		{".", "disallowed"},
		{"..", "disallowed"},
		{"...", ""}, // only exactly "." and ".." are path traversal
		{"a/b", "slashes"},
		{"/", "slashes"},
		{`a\b`, "slashes"},
		{"a\x00b", "control"},
		{"a\nb", "control"},
		{"a\x7fb", "control"},
		{"a\u0085b", "control"}, // C1 control (NEL)
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) { check(t, ID("task", tc.id), tc.want) })
	}
}

func TestRole(t *testing.T) {
	tests := []struct {
		role, want string
	}{
		{"*", ""},
		{"web", ""},
		{"eng/backend", ""},
		{"a.b", ""},
		{"a-b", ""},
		{"", "must not be empty"},
		{"/web", "slash"},
		{"web/", "slash"},
		{"a//b", "empty path"},
		{".", `"."`},
		{"..", `".."`},
		{"a/../b", `".."`},
		{"-web", "'-'"},
		{"a/-b", "'-'"},
		{"a/*", "'*'"},
		{"**", ""}, // only a whole component "*" is special
		{"we b", "whitespace"},
		{"web\t", "whitespace"},
		{"we\x01b", "control"},
		{`we\b`, "backslash"},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) { check(t, Role(tc.role), tc.want) })
	}
}

func caps(ts ...mesos.FrameworkInfo_Capability_Type) []*mesos.FrameworkInfo_Capability {
	var out []*mesos.FrameworkInfo_Capability
	for _, t := range ts {
		out = append(out, &mesos.FrameworkInfo_Capability{Type: t.Enum()})
	}
	return out
}

const multiRole = mesos.FrameworkInfo_Capability_MULTI_ROLE

func TestFrameworkInfo(t *testing.T) {
	base := func(mod func(*mesos.FrameworkInfo)) *mesos.FrameworkInfo {
		fi := &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}
		if mod != nil {
			mod(fi)
		}
		return fi
	}
	tests := []struct {
		name string
		info *mesos.FrameworkInfo
		want string
	}{
		{"nil", nil, "must be present"},
		{"minimal", base(nil), ""},
		{"empty but present user", base(func(fi *mesos.FrameworkInfo) { fi.User = proto.String("") }), ""},
		{"missing user", base(func(fi *mesos.FrameworkInfo) { fi.User = nil }), "user"},
		{"valid id", base(func(fi *mesos.FrameworkInfo) { fi.Id = &mesos.FrameworkID{Value: proto.String("x-0000")} }), ""},
		{"id with slash", base(func(fi *mesos.FrameworkInfo) { fi.Id = &mesos.FrameworkID{Value: proto.String("x/0")} }), "slashes"},
		{"empty id", base(func(fi *mesos.FrameworkInfo) { fi.Id = &mesos.FrameworkID{Value: proto.String("")} }), "empty"},
		{"failover_timeout 0", base(func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = proto.Float64(0) }), ""},
		{"failover_timeout 1 week", base(func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = proto.Float64(604800) }), ""},
		{"failover_timeout NaN", base(func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = proto.Float64(math.NaN()) }), "failover_timeout"},
		{"failover_timeout negative", base(func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = proto.Float64(-1) }), "failover_timeout"},
		{"failover_timeout +Inf", base(func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = proto.Float64(math.Inf(1)) }), "failover_timeout"},
		{"legacy role", base(func(fi *mesos.FrameworkInfo) { fi.Role = proto.String("web") }), ""},
		{"legacy bad role", base(func(fi *mesos.FrameworkInfo) { fi.Role = proto.String("-web") }), "'-'"},
		{"legacy with roles", base(func(fi *mesos.FrameworkInfo) { fi.Roles = []string{"web"} }), "not MULTI_ROLE"},
		{"multi-role", base(func(fi *mesos.FrameworkInfo) { fi.Capabilities = caps(multiRole); fi.Roles = []string{"a", "b/c", "*"} }), ""},
		{"multi-role no roles", base(func(fi *mesos.FrameworkInfo) { fi.Capabilities = caps(multiRole) }), ""},
		{"multi-role with role", base(func(fi *mesos.FrameworkInfo) {
			fi.Capabilities = caps(multiRole)
			fi.Role = proto.String("*")
		}), "'FrameworkInfo.role' must not be set"},
		{"multi-role duplicate roles", base(func(fi *mesos.FrameworkInfo) {
			fi.Capabilities = caps(multiRole)
			fi.Roles = []string{"a", "b", "a"}
		}), "duplicate role"},
		{"multi-role bad role", base(func(fi *mesos.FrameworkInfo) {
			fi.Capabilities = caps(mesos.FrameworkInfo_Capability_PARTITION_AWARE, multiRole)
			fi.Roles = []string{"a", "b c"}
		}), "whitespace"},
		{"offer filters ok", base(func(fi *mesos.FrameworkInfo) {
			fi.OfferFilters = map[string]*mesos.OfferFilters{"*": minAlloc("cpus", 0.5)}
		}), ""},
		{"offer filters negative", base(func(fi *mesos.FrameworkInfo) {
			fi.OfferFilters = map[string]*mesos.OfferFilters{"*": minAlloc("cpus", -1)}
		}), "non-negative"},
		{"offer filters NaN", base(func(fi *mesos.FrameworkInfo) {
			fi.OfferFilters = map[string]*mesos.OfferFilters{"*": minAlloc("mem", math.NaN())}
		}), "non-negative"},
		{"offer filters bad role", base(func(fi *mesos.FrameworkInfo) {
			fi.OfferFilters = map[string]*mesos.OfferFilters{"a//b": minAlloc("mem", 1)}
		}), "empty path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, FrameworkInfo(tc.info), tc.want) })
	}
}

func minAlloc(name string, v float64) *mesos.OfferFilters {
	return &mesos.OfferFilters{MinAllocatableResources: &mesos.OfferFilters_MinAllocatableResources{
		Quantities: []*mesos.OfferFilters_ResourceQuantities{{Quantities: map[string]*mesos.Value_Scalar{name: {Value: proto.Float64(v)}}}},
	}}
}

func TestFrameworkRoles(t *testing.T) {
	legacy := &mesos.FrameworkInfo{}
	if got := FrameworkRoles(legacy); len(got) != 1 || got[0] != "*" {
		t.Errorf("FrameworkRoles(no role) = %v, want [*] (the proto default)", got)
	}
	multi := &mesos.FrameworkInfo{Capabilities: caps(multiRole), Roles: []string{"a", "b"}, Role: proto.String("ignored")}
	if got := FrameworkRoles(multi); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("FrameworkRoles(MULTI_ROLE) = %v, want [a b]", got)
	}
}

func TestSchedulerCall(t *testing.T) {
	fid := func(s string) *mesos.FrameworkID { return &mesos.FrameworkID{Value: proto.String(s)} }
	info := func(id string) *mesos.FrameworkInfo {
		fi := &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}
		if id != "" {
			fi.Id = fid(id)
		}
		return fi
	}
	uuid16 := []byte("0123456789abcdef")
	call := func(typ scheduler.Call_Type, mod func(*scheduler.Call)) *scheduler.Call {
		c := &scheduler.Call{Type: typ.Enum(), FrameworkId: fid("f-0000")}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name string
		call *scheduler.Call
		want string
	}{
		{"missing type", &scheduler.Call{FrameworkId: fid("f")}, "Expecting 'type' to be present"},

		{"subscribe new", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info("")}}, ""},
		{"subscribe missing sub-message", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum()}, "Expecting 'subscribe' to be present"},
		{"subscribe invalid framework info", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), Subscribe: &scheduler.Call_Subscribe{
			FrameworkInfo: &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), FailoverTimeout: proto.Float64(-3)},
		}}, "failover_timeout"},
		{"resubscribe ids equal", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), FrameworkId: fid("f-1"), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info("f-1")}}, ""},
		{"resubscribe ids differ", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), FrameworkId: fid("f-1"), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info("f-2")}}, "differs"},
		{"framework_id without info id", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), FrameworkId: fid("f-1"), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info("")}}, "differs"},
		// Mesos compares framework_info.id with call.framework_id, unset
		// meaning empty: a re-subscribe must set both.
		{"info id without framework_id", &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info("f-1")}}, "differs"},

		{"non-subscribe without framework_id", &scheduler.Call{Type: scheduler.Call_TEARDOWN.Enum()}, "Expecting 'framework_id' to be present"},
		{"non-subscribe with bad framework_id", &scheduler.Call{Type: scheduler.Call_TEARDOWN.Enum(), FrameworkId: fid("a/b")}, "slashes"},

		{"bare teardown", call(scheduler.Call_TEARDOWN, nil), ""},
		{"bare suppress", call(scheduler.Call_SUPPRESS, nil), ""},
		{"bare revive", call(scheduler.Call_REVIVE, nil), ""},

		{"accept", call(scheduler.Call_ACCEPT, func(c *scheduler.Call) { c.Accept = &scheduler.Call_Accept{} }), ""},
		{"accept missing", call(scheduler.Call_ACCEPT, nil), "Expecting 'accept' to be present"},
		{"decline missing", call(scheduler.Call_DECLINE, nil), "Expecting 'decline' to be present"},
		{"accept inverse missing", call(scheduler.Call_ACCEPT_INVERSE_OFFERS, nil), "accept_inverse_offers"},
		{"decline inverse missing", call(scheduler.Call_DECLINE_INVERSE_OFFERS, nil), "decline_inverse_offers"},
		{"kill missing", call(scheduler.Call_KILL, nil), "Expecting 'kill' to be present"},
		{"shutdown missing", call(scheduler.Call_SHUTDOWN, nil), "Expecting 'shutdown' to be present"},
		{"reconcile missing", call(scheduler.Call_RECONCILE, nil), "Expecting 'reconcile' to be present"},
		{"reconcile empty (implicit)", call(scheduler.Call_RECONCILE, func(c *scheduler.Call) { c.Reconcile = &scheduler.Call_Reconcile{} }), ""},
		{"reconcile operations missing", call(scheduler.Call_RECONCILE_OPERATIONS, nil), "reconcile_operations"},
		{"message missing", call(scheduler.Call_MESSAGE, nil), "Expecting 'message' to be present"},
		{"request missing", call(scheduler.Call_REQUEST, nil), "Expecting 'request' to be present"},

		{"acknowledge", call(scheduler.Call_ACKNOWLEDGE, func(c *scheduler.Call) {
			c.Acknowledge = &scheduler.Call_Acknowledge{Uuid: uuid16}
		}), ""},
		{"acknowledge missing", call(scheduler.Call_ACKNOWLEDGE, nil), "Expecting 'acknowledge' to be present"},
		{"acknowledge uuid 15 bytes", call(scheduler.Call_ACKNOWLEDGE, func(c *scheduler.Call) {
			c.Acknowledge = &scheduler.Call_Acknowledge{Uuid: uuid16[:15]}
		}), "16-byte"},
		{"acknowledge uuid 36-char string", call(scheduler.Call_ACKNOWLEDGE, func(c *scheduler.Call) {
			c.Acknowledge = &scheduler.Call_Acknowledge{Uuid: []byte("01234567-89ab-cdef-0123-456789abcdef")}
		}), "16-byte"},
		{"acknowledge uuid empty", call(scheduler.Call_ACKNOWLEDGE, func(c *scheduler.Call) {
			c.Acknowledge = &scheduler.Call_Acknowledge{}
		}), "16-byte"},
		{"ack operation status", call(scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, func(c *scheduler.Call) {
			c.AcknowledgeOperationStatus = &scheduler.Call_AcknowledgeOperationStatus{Uuid: uuid16, AgentId: &mesos.AgentID{Value: proto.String("a")}}
		}), ""},
		{"ack operation status without agent", call(scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, func(c *scheduler.Call) {
			c.AcknowledgeOperationStatus = &scheduler.Call_AcknowledgeOperationStatus{Uuid: uuid16}
		}), "agent_id"},
		{"ack operation status bad uuid", call(scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, func(c *scheduler.Call) {
			c.AcknowledgeOperationStatus = &scheduler.Call_AcknowledgeOperationStatus{Uuid: uuid16[:3], AgentId: &mesos.AgentID{Value: proto.String("a")}}
		}), "16-byte"},

		{"update framework", call(scheduler.Call_UPDATE_FRAMEWORK, func(c *scheduler.Call) {
			c.UpdateFramework = &scheduler.Call_UpdateFramework{FrameworkInfo: info("f-0000")}
		}), ""},
		{"update framework missing", call(scheduler.Call_UPDATE_FRAMEWORK, nil), "update_framework"},
		{"update framework id mismatch", call(scheduler.Call_UPDATE_FRAMEWORK, func(c *scheduler.Call) {
			c.UpdateFramework = &scheduler.Call_UpdateFramework{FrameworkInfo: info("other")}
		}), "differs"},
		{"update framework invalid info", call(scheduler.Call_UPDATE_FRAMEWORK, func(c *scheduler.Call) {
			fi := info("f-0000")
			fi.Roles = []string{"x"}
			c.UpdateFramework = &scheduler.Call_UpdateFramework{FrameworkInfo: fi}
		}), "not MULTI_ROLE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, SchedulerCall(tc.call), tc.want) })
	}
}
