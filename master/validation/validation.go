// Package validation holds the master's pure input checks, mirroring Mesos'
// master validation (IDs, roles, FrameworkInfo, calls, tasks). Functions take
// messages and return an error describing the first problem; they never touch
// master state, so they are table-tested in isolation. Checks that need state
// (duplicate task IDs, offer ownership) live in the master and call these.
package validation

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid")

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// nameMax is NAME_MAX: IDs become path components on agents.
const nameMax = 255

// ID checks a Mesos ID (task, framework, executor, agent...): non-empty, at
// most 255 bytes, not "." or "..", no slashes and no control characters —
// IDs become path components on agents (validateID in Mesos).
func ID(kind, id string) error {
	switch {
	case id == "":
		return errorf("%s ID must not be empty", kind)
	case len(id) > nameMax:
		return errorf("%s ID %.40q... is longer than %d bytes", kind, id, nameMax)
	case id == "." || id == "..":
		return errorf("%s ID %q is disallowed", kind, id)
	case strings.ContainsAny(id, "/\\"):
		return errorf("%s ID %q must not contain slashes", kind, id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return errorf("%s ID %q must not contain control characters", kind, id)
		}
	}
	return nil
}

// Role checks a role name, including hierarchical names like "eng/backend".
func Role(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return errorf("role must not be empty")
	}
	if strings.HasPrefix(role, "/") || strings.HasSuffix(role, "/") {
		return errorf("role %q must not start or end with a slash", role)
	}
	for _, part := range strings.Split(role, "/") {
		switch {
		case part == "":
			return errorf("role %q must not contain empty path components", role)
		case part == "." || part == "..":
			return errorf("role %q must not contain %q", role, part)
		case strings.HasPrefix(part, "-"):
			return errorf("role %q: component %q must not start with '-'", role, part)
		case part == "*":
			return errorf("role %q: '*' is only valid as a whole role", role)
		}
		for _, r := range part {
			if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\\' {
				return errorf("role %q must not contain whitespace, control characters or backslashes", role)
			}
		}
	}
	return nil
}

// HasCapability reports whether info lists capability t.
func HasCapability(info *mesos.FrameworkInfo, t mesos.FrameworkInfo_Capability_Type) bool {
	for _, c := range info.GetCapabilities() {
		if c.GetType() == t {
			return true
		}
	}
	return false
}

// FrameworkRoles returns the roles a framework subscribes to: `roles` for
// MULTI_ROLE frameworks, otherwise the deprecated `role` (default "*").
func FrameworkRoles(info *mesos.FrameworkInfo) []string {
	if HasCapability(info, mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		return info.GetRoles()
	}
	return []string{info.GetRole()}
}

// FrameworkInfo checks a FrameworkInfo as Mesos' framework validation does.
func FrameworkInfo(info *mesos.FrameworkInfo) error {
	if info == nil {
		return errorf("'framework_info' must be present")
	}
	if info.GetUser() == "" && info.User == nil {
		return errorf("'framework_info.user' must be present")
	}
	if info.Id != nil {
		if err := ID("framework", info.GetId().GetValue()); err != nil {
			return err
		}
	}
	if ft := info.GetFailoverTimeout(); math.IsNaN(ft) || math.IsInf(ft, 0) || ft < 0 {
		return errorf("'framework_info.failover_timeout' %v is not a valid duration", ft)
	}
	if HasCapability(info, mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		if info.Role != nil {
			return errorf("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable")
		}
		seen := make(map[string]bool)
		for _, r := range info.GetRoles() {
			if err := Role(r); err != nil {
				return err
			}
			if seen[r] {
				return errorf("'FrameworkInfo.roles' contains duplicate role %q", r)
			}
			seen[r] = true
		}
	} else {
		if len(info.GetRoles()) > 0 {
			return errorf("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable")
		}
		if err := Role(info.GetRole()); err != nil {
			return err
		}
	}
	for role, f := range info.GetOfferFilters() {
		if err := Role(role); err != nil {
			return err
		}
		for _, q := range f.GetMinAllocatableResources().GetQuantities() {
			for name, s := range q.GetQuantities() {
				if v := s.GetValue(); math.IsNaN(v) || v < 0 {
					return errorf("offer_filters for role %q: quantity of %q must be a non-negative number", role, name)
				}
			}
		}
	}
	return nil
}

// SchedulerCall checks the shape of a scheduler Call (Mesos'
// scheduler::call::validate): a type, its sub-message, the framework ID.
// principal is the authenticated principal ("" when authentication is off).
func SchedulerCall(call *scheduler.Call) error {
	if call.Type == nil {
		return errorf("Expecting 'type' to be present")
	}
	t := call.GetType()
	if t == scheduler.Call_SUBSCRIBE {
		sub := call.GetSubscribe()
		if sub == nil {
			return errorf("Expecting 'subscribe' to be present")
		}
		if err := FrameworkInfo(sub.GetFrameworkInfo()); err != nil {
			return err
		}
		// Mesos compares the two IDs with unset meaning empty, so a
		// re-subscribe must set both: framework_info.id alone is a 400 too.
		fid := sub.GetFrameworkInfo().GetId().GetValue()
		if call.GetFrameworkId().GetValue() != fid {
			return errorf("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		return nil
	}
	if call.FrameworkId == nil {
		return errorf("Expecting 'framework_id' to be present")
	}
	if err := ID("framework", call.GetFrameworkId().GetValue()); err != nil {
		return err
	}
	missing := func(name string) error { return errorf("Expecting '%s' to be present", name) }
	switch t {
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return missing("accept")
		}
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return missing("decline")
		}
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		if call.AcceptInverseOffers == nil {
			return missing("accept_inverse_offers")
		}
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		if call.DeclineInverseOffers == nil {
			return missing("decline_inverse_offers")
		}
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return missing("kill")
		}
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return missing("shutdown")
		}
	case scheduler.Call_ACKNOWLEDGE:
		ack := call.GetAcknowledge()
		if ack == nil {
			return missing("acknowledge")
		}
		if len(ack.GetUuid()) != 16 {
			return errorf("'acknowledge.uuid' must be a 16-byte UUID, got %d bytes", len(ack.GetUuid()))
		}
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		ack := call.GetAcknowledgeOperationStatus()
		if ack == nil {
			return missing("acknowledge_operation_status")
		}
		if len(ack.GetUuid()) != 16 {
			return errorf("'acknowledge_operation_status.uuid' must be a 16-byte UUID")
		}
		if ack.AgentId == nil {
			return missing("acknowledge_operation_status.agent_id")
		}
	case scheduler.Call_RECONCILE:
		if call.Reconcile == nil {
			return missing("reconcile")
		}
	case scheduler.Call_RECONCILE_OPERATIONS:
		if call.ReconcileOperations == nil {
			return missing("reconcile_operations")
		}
	case scheduler.Call_MESSAGE:
		if call.Message == nil {
			return missing("message")
		}
	case scheduler.Call_REQUEST:
		if call.Request == nil {
			return missing("request")
		}
	case scheduler.Call_UPDATE_FRAMEWORK:
		uf := call.GetUpdateFramework()
		if uf == nil {
			return missing("update_framework")
		}
		if err := FrameworkInfo(uf.GetFrameworkInfo()); err != nil {
			return err
		}
		if uf.GetFrameworkInfo().GetId().GetValue() != call.GetFrameworkId().GetValue() {
			return errorf("'framework_id' differs from 'update_framework.framework_info.id'")
		}
	case scheduler.Call_TEARDOWN, scheduler.Call_REVIVE, scheduler.Call_SUPPRESS:
		// No sub-message required (mesos-go sends bare SUPPRESS/TEARDOWN).
	}
	return nil
}
