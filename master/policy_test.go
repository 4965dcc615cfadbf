package master

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/quota"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

func weightsCall(kv ...any) *masterpb.Call {
	u := &masterpb.Call_UpdateWeights{}
	for i := 0; i < len(kv); i += 2 {
		u.WeightInfos = append(u.WeightInfos, &mesos.WeightInfo{Role: proto.String(kv[i].(string)), Weight: proto.Float64(kv[i+1].(float64))})
	}
	return &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: u}
}

func quotaCall(force bool, role string, guarantees, limits map[string]float64) *masterpb.Call {
	c := &quota.QuotaConfig{Role: proto.String(role), Guarantees: map[string]*mesos.Value_Scalar{}, Limits: map[string]*mesos.Value_Scalar{}}
	for k, v := range guarantees {
		c.Guarantees[k] = &mesos.Value_Scalar{Value: proto.Float64(v)}
	}
	for k, v := range limits {
		c.Limits[k] = &mesos.Value_Scalar{Value: proto.Float64(v)}
	}
	return &masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{
		Force: proto.Bool(force), QuotaConfigs: []*quota.QuotaConfig{c},
	}}
}

// TestWeightsAndQuotaThroughOperatorAPI: updates are validated, replicated,
// survive a master restart, and quota limits shape offers.
func TestWeightsAndQuotaThroughOperatorAPI(t *testing.T) {
	c := codec.JSON
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{}) // cpus:4;mem:1024

	if code, _, _ := operatorCall(t, tm, c, weightsCall("eng", 2.0, "ops", 0.5)); code != http.StatusAccepted {
		t.Fatalf("UPDATE_WEIGHTS: got %d, want 202", code)
	}
	if code, _, _ := operatorCall(t, tm, c, weightsCall("eng", 3.0, "bad", -1.0)); code != http.StatusBadRequest {
		t.Fatalf("UPDATE_WEIGHTS with a negative weight: got %d, want 400", code)
	}
	// Above the cluster's 4 cpus: refused unless forced.
	if code, _, _ := operatorCall(t, tm, c, quotaCall(false, "eng", map[string]float64{"cpus": 100}, nil)); code != http.StatusBadRequest {
		t.Fatalf("UPDATE_QUOTA above capacity: got %d, want 400", code)
	}
	if code, _, _ := operatorCall(t, tm, c, quotaCall(false, "eng", map[string]float64{"cpus": 2}, map[string]float64{"cpus": 1})); code != http.StatusBadRequest {
		t.Fatalf("UPDATE_QUOTA guarantee above limit: got %d, want 400", code)
	}
	if code, _, _ := operatorCall(t, tm, c, quotaCall(false, "eng", nil, map[string]float64{"cpus": 1})); code != http.StatusOK {
		t.Fatalf("UPDATE_QUOTA: got %d, want 200", code)
	}
	if code, _, _ := operatorCall(t, tm, c, quotaCall(true, "ops", map[string]float64{"gpus": 100}, nil)); code != http.StatusOK {
		t.Fatalf("forced UPDATE_QUOTA: got %d, want 200", code)
	}

	check := func(tm *testMaster) {
		t.Helper()
		_, _, r := operatorCall(t, tm, c, &masterpb.Call{Type: masterpb.Call_GET_WEIGHTS.Enum()})
		got := map[string]float64{}
		for _, w := range r.GetGetWeights().GetWeightInfos() {
			got[w.GetRole()] = w.GetWeight()
		}
		if len(got) != 2 || got["eng"] != 2 || got["ops"] != 0.5 {
			t.Fatalf("GET_WEIGHTS = %v, want eng=2 ops=0.5 (the rejected update changed nothing)", got)
		}
		_, _, r = operatorCall(t, tm, c, &masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()})
		cfgs := r.GetGetQuota().GetStatus().GetConfigs()
		if len(cfgs) != 2 || cfgs[0].GetRole() != "eng" || cfgs[0].GetLimits()["cpus"].GetValue() != 1 || cfgs[1].GetGuarantees()["gpus"].GetValue() != 100 {
			t.Fatalf("GET_QUOTA = %v", cfgs)
		}
		_, _, r = operatorCall(t, tm, c, &masterpb.Call{Type: masterpb.Call_GET_ROLES.Enum()})
		for _, role := range r.GetGetRoles().GetRoles() {
			if role.GetName() == "eng" && role.GetWeight() != 2 {
				t.Fatalf("GET_ROLES: eng has weight %v, want 2", role.GetWeight())
			}
		}
	}
	check(tm)

	// A framework in role eng is offered at most its 1-cpu limit. (ops'
	// unmet guarantee is on gpus, which no agent has, so it holds back no
	// cpus as headroom.)
	s := tm.subscribe(c, multiRole(frameworkInfo("limited"), "eng"))
	o := s.offer(a)
	var cpus float64
	for _, r := range o.GetResources() {
		if r.GetName() == "cpus" {
			cpus += r.GetScalar().GetValue()
		}
	}
	if cpus == 0 || cpus > 1 {
		t.Fatalf("offer to a role limited to 1 cpu has %v cpus", cpus)
	}

	tm2 := tm.restart()
	check(tm2)
}

// FrameworkInfo.offer_filters.min_allocatable_resources: an agent whose
// resources cannot cover the framework's minimum is not offered to it.
func TestOfferFiltersMinAllocatable(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{}) // cpus:4
	picky := frameworkInfo("picky")
	picky.OfferFilters = map[string]*mesos.OfferFilters{"*": {MinAllocatableResources: &mesos.OfferFilters_MinAllocatableResources{
		Quantities: []*mesos.OfferFilters_ResourceQuantities{{Quantities: map[string]*mesos.Value_Scalar{"cpus": {Value: proto.Float64(10)}}}},
	}}}
	s := tm.subscribe(codec.JSON, picky)
	s.noOffersFrom(a, "the agent has 4 cpus, the framework wants at least 10")
	easy := tm.subscribe(codec.JSON, frameworkInfo("easy"))
	easy.offer(a)
}

// --roles whitelists roles; "*" is always allowed.
func TestRolesWhitelist(t *testing.T) {
	cfg := testConfig(t)
	cfg.Roles = []string{"ops"}
	tm := startMaster(t, cfg)
	tm.subscribe(codec.JSON, multiRole(frameworkInfo("ok"), "ops", "*"))
	s, code := tm.openStream(codec.JSON, multiRole(frameworkInfo("bad"), "eng"))
	if code != http.StatusOK {
		t.Fatalf("SUBSCRIBE with a role outside --roles: HTTP %d, want 200 + ERROR", code)
	}
	ev := s.take("ERROR", scheduler.Event_ERROR, nil)
	if !strings.Contains(ev.GetError().GetMessage(), "--roles") {
		t.Fatalf("error event %v", ev)
	}
}
