package allocator_test

import (
	"errors"
	"fmt"
	"math"
	mathrand "math/rand"
	"math/rand/v2"
	"testing"
	"testing/quick"
	"time"

	"github.com/mesosd/mesosd/allocator"
	at "github.com/mesosd/mesosd/allocator/allocatortest"
	"github.com/mesosd/mesosd/internal/resources"
)

func qty(s string) resources.Quantities {
	if s == "" {
		return resources.Quantities{}
	}
	return resources.MustParse(s).Quantities()
}

func agents(h *at.Harness, n int, res string) {
	for i := range n {
		h.AddAgents(at.Agent(fmt.Sprintf("a%d", i+1), res))
	}
}

func TestHierarchicalDRFOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights map[string]float64
		want    string
	}{{
		// eng's subtree and ops alternate; backend and frontend share
		// eng's half (flat DRF would give 2/2/2).
		name: "equal weights",
		want: `
			fb@a1(eng/backend): cpus:1; mem:1024
			fo@a2(ops): cpus:1; mem:1024
			ff@a3(eng/frontend): cpus:1; mem:1024
			fo@a4(ops): cpus:1; mem:1024
			fb@a5(eng/backend): cpus:1; mem:1024
			fo@a6(ops): cpus:1; mem:1024`,
	}, {
		name:    "ops weight 2",
		weights: map[string]float64{"ops": 2},
		want: `
			fb@a1(eng/backend): cpus:1; mem:1024
			fo@a2(ops): cpus:1; mem:1024
			fo@a3(ops): cpus:1; mem:1024
			ff@a4(eng/frontend): cpus:1; mem:1024
			fo@a5(ops): cpus:1; mem:1024
			fo@a6(ops): cpus:1; mem:1024`,
	}, {
		// A nested weight only matters among siblings.
		name:    "eng/frontend weight 3",
		weights: map[string]float64{"eng/frontend": 3},
		want: `
			fb@a1(eng/backend): cpus:1; mem:1024
			fo@a2(ops): cpus:1; mem:1024
			ff@a3(eng/frontend): cpus:1; mem:1024
			fo@a4(ops): cpus:1; mem:1024
			ff@a5(eng/frontend): cpus:1; mem:1024
			fo@a6(ops): cpus:1; mem:1024`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := at.NewHarness(t, allocator.Options{})
			if err := h.A.UpdateWeights(tc.weights); err != nil {
				t.Fatal(err)
			}
			agents(h, 6, "cpus:1;mem:1024")
			h.AddFrameworks(at.Framework("fb", "eng/backend"), at.Framework("ff", "eng/frontend"), at.Framework("fo", "ops"))
			expect(t, h.Allocate(), tc.want)
			h.CheckInvariants()
		})
	}
}

func TestRoleWithFrameworksAndChildren(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 4, "cpus:1;mem:1024")
	h.AddFrameworks(at.Framework("fe", "eng"))
	o := h.Allocate()
	expect(t, o, `
		fe@a1(eng): cpus:1; mem:1024
		fe@a2(eng): cpus:1; mem:1024
		fe@a3(eng): cpus:1; mem:1024
		fe@a4(eng): cpus:1; mem:1024`)
	// A child appears after eng already holds everything: eng's own
	// allocation moves into its "self" client, so the child goes first.
	h.AddFrameworks(at.Framework("fb", "eng/backend"))
	h.Decline(o[2], 0)
	h.Decline(o[3], 0)
	expect(t, h.AllocatePending(), `
		fb@a3(eng/backend): cpus:1; mem:1024
		fb@a4(eng/backend): cpus:1; mem:1024`)
	h.CheckInvariants()
	// Removing the child's framework drops the child role; eng keeps its
	// allocation.
	if err := h.A.RemoveFramework("fb"); err != nil {
		t.Fatal(err)
	}
	h.Outstanding["a3"], h.Outstanding["a4"] = resources.Resources{}, resources.Resources{}
	expect(t, h.AllocatePending(), `
		fe@a3(eng): cpus:1; mem:1024
		fe@a4(eng): cpus:1; mem:1024`)
	h.CheckInvariants()
}

func TestUpdateWeightsValidation(t *testing.T) {
	a := allocator.New(allocator.Options{})
	if err := a.UpdateWeights(map[string]float64{"eng": 2}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]float64{
		{"ops": 3, "x": -1},
		{"ops": 3, "x": 0},
		{"ops": 3, "x": math.NaN()},
		{"ops": 3, "x": math.Inf(1)},
		{"ops": 3, "a//b": 1},
	} {
		if err := a.UpdateWeights(bad); !errors.Is(err, allocator.ErrInvalid) {
			t.Fatalf("%v: got %v, want ErrInvalid", bad, err)
		}
	}
	if got := a.Weights(); len(got) != 1 || got["eng"] != 2 {
		t.Fatalf("weights changed by rejected updates: %v", got)
	}
	if err := a.UpdateWeights(map[string]float64{"eng": 1}); err != nil {
		t.Fatal(err)
	}
	if got := a.Weights(); len(got) != 0 {
		t.Fatalf("weight 1 is the default and is not kept: %v", got)
	}
}

func TestQuotaGuaranteeFirst(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 4, "cpus:2;mem:2048")
	h.AddFrameworks(at.Framework("fa", "a"), at.Framework("fb", "b"))
	if err := h.A.UpdateQuota("b", allocator.Quota{Guarantee: qty("cpus:4;mem:4096")}, false); err != nil {
		t.Fatal(err)
	}
	// Without quota a would be first (share tie, name order).
	expect(t, h.Allocate(), `
		fb@a1(b): cpus:2; mem:2048
		fb@a2(b): cpus:2; mem:2048
		fa@a3(a): cpus:2; mem:2048
		fa@a4(a): cpus:2; mem:2048`)
	h.CheckInvariants()
}

func TestQuotaGuaranteeChopsAgents(t *testing.T) {
	// Mesos LargeAndSmallQuota in miniature: guarantee = limit, agents are
	// cut so that every role gets exactly its quota.
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 3, "cpus:2;mem:2048;disk:2048")
	h.AddFrameworks(at.Framework("fs1", "s1"), at.Framework("fs2", "s2"), at.Framework("fl", "l"))
	small, large := qty("cpus:1;mem:1024;disk:1024"), qty("cpus:4;mem:4096;disk:4096")
	for r, q := range map[string]resources.Quantities{"s1": small, "s2": small, "l": large} {
		if err := h.A.UpdateQuota(r, allocator.Quota{Guarantee: q, Limit: q}, false); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, h.Allocate(), `
		fl@a1(l): cpus:2; disk:2048; mem:2048
		fs1@a2(s1): cpus:1; disk:1024; mem:1024
		fs2@a2(s2): cpus:1; disk:1024; mem:1024
		fl@a3(l): cpus:2; disk:2048; mem:2048`)
	expect(t, h.Allocate(), "")
	h.CheckInvariants()
}

func TestQuotaLimit(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 3, "cpus:2;mem:2048;ports:[1-10]")
	h.AddFrameworks(at.Framework("fx", "eng/x"), at.Framework("fy", "eng/y"))
	if err := h.A.UpdateQuota("eng", allocator.Quota{Limit: qty("cpus:3")}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.A.UpdateQuota("eng/y", allocator.Quota{Limit: qty("mem:1000")}, false); err != nil {
		t.Fatal(err)
	}
	// eng's subtree may hold 3 cpus in all; eng/y at most 1000 mem. Ports
	// are never cut.
	expect(t, h.Allocate(), `
		fx@a1(eng/x): cpus:2; mem:2048; ports:[1-10]
		fy@a2(eng/y): cpus:1; mem:1000; ports:[1-10]
		fx@a2(eng/x): mem:1048
		fx@a3(eng/x): mem:2048; ports:[1-10]`)
	expect(t, h.Allocate(), "")
	h.CheckInvariants()
}

func TestQuotaHeadroomHeldBack(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 3, "cpus:2;mem:1024")
	h.AddFrameworks(at.Framework("fx", "x"))
	if err := h.A.UpdateQuota("q", allocator.Quota{Guarantee: qty("cpus:4;mem:2048")}, false); err != nil {
		t.Fatal(err)
	}
	// q has no framework yet, but its guarantee is held back: x gets only
	// the surplus of 2 cpus / 1024 mem.
	expect(t, h.Allocate(), "fx@a1(x): cpus:2; mem:1024")
	expect(t, h.Allocate(), "")
	h.AddFrameworks(at.Framework("fq", "q"))
	expect(t, h.AllocatePending(), `
		fq@a2(q): cpus:2; mem:1024
		fq@a3(q): cpus:2; mem:1024`)
	// Quota removed: nothing is held back any more.
	h.Decline(h.Offers[len(h.Offers)-1], 0)
	if err := h.A.UpdateQuota("q", allocator.Quota{}, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.A.Quota("q"); ok {
		t.Fatal("quota still set")
	}
	h.A.Suppress("fq", nil)
	expect(t, h.AllocatePending(), "fx@a3(x): cpus:2; mem:1024")
	h.CheckInvariants()
}

func TestQuotaBadInput(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	agents(h, 2, "cpus:2;mem:2048")
	ok := allocator.Quota{Guarantee: qty("cpus:1"), Limit: qty("cpus:2")}
	if err := h.A.UpdateQuota("eng", ok, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role  string
		q     allocator.Quota
		force bool
	}{
		{"eng", allocator.Quota{Guarantee: qty("cpus:3"), Limit: qty("cpus:2")}, true}, // guarantee > limit
		{"*", allocator.Quota{Limit: qty("cpus:1")}, false},                            // no quota on "*"
		{"a//b", allocator.Quota{Limit: qty("cpus:1")}, false},                         // bad role
		{"eng", allocator.Quota{Limit: qty("cpus:1;foo:3")}, false},                    // non-standard name
		{"ops", allocator.Quota{Guarantee: qty("cpus:3.5")}, false},                    // 1 + 3.5 > 4 cpus in the cluster
		{"eng/x", allocator.Quota{Guarantee: qty("cpus:2")}, true},                     // child above parent's guarantee
	} {
		err := h.A.UpdateQuota(tc.role, tc.q, tc.force)
		if !errors.Is(err, allocator.ErrInvalid) {
			t.Fatalf("%s %+v: got %v, want ErrInvalid", tc.role, tc.q, err)
		}
		t.Log(err)
	}
	if got := h.A.Quotas(); len(got) != 1 || !got["eng"].Guarantee.Equal(ok.Guarantee) || !got["eng"].Limit.Equal(ok.Limit) {
		t.Fatalf("rejected updates changed quotas: %v", got)
	}
	// force lifts only the capacity check.
	if err := h.A.UpdateQuota("ops", allocator.Quota{Guarantee: qty("cpus:3.5")}, true); err != nil {
		t.Fatal(err)
	}
	// Negative amounts never make it into Quantities.
	if _, err := resources.QuantitiesFromFloats(map[string]float64{"cpus": -1}); !errors.Is(err, resources.ErrInvalid) {
		t.Fatalf("negative quantity: %v", err)
	}
	if _, err := resources.QuantitiesFromFloats(map[string]float64{"mem": math.NaN()}); !errors.Is(err, resources.ErrInvalid) {
		t.Fatalf("NaN quantity: %v", err)
	}
}

// TestQuotaLimitsNeverExceeded is a property test: random events over a
// role tree with limits on several levels; after every step no role's
// subtree holds more unreserved resources than its limit (nor than any
// ancestor's), and the ledger agrees with the allocator.
func TestQuotaLimitsNeverExceeded(t *testing.T) {
	f := func(seed uint64) bool { return quotaEvents(t, seed) }
	if err := quick.Check(f, &quick.Config{MaxCount: 30, Rand: mathrand.New(mathrand.NewSource(4))}); err != nil {
		t.Fatal(err)
	}
}

func quotaEvents(t *testing.T, seed uint64) bool {
	rnd := rand.New(rand.NewPCG(seed, 11))
	h := at.NewHarness(t, allocator.Options{Shuffle: seed%2 == 0, Seed: seed})
	roles := []string{"a", "a/x", "a/y", "b", "c"}
	limits := map[string]resources.Quantities{
		"a":   qty("cpus:6;mem:5000"),
		"a/x": qty("cpus:2.5"),
		"b":   qty("mem:3000;gpus:1"),
	}
	for _, r := range []string{"a", "a/x", "b"} {
		if err := h.A.UpdateQuota(r, allocator.Quota{Limit: limits[r]}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.A.UpdateQuota("c", allocator.Quota{Guarantee: qty("cpus:2;mem:1024"), Limit: qty("cpus:4")}, true); err != nil {
		t.Fatal(err)
	}
	if err := h.A.UpdateWeights(map[string]float64{"b": 2, "a/y": 0.5}); err != nil {
		t.Fatal(err)
	}
	agentRes := []string{"cpus:4;mem:4096;ports:[1-100]", "cpus:1;mem:512;gpus:1", "cpus:2;cpus(a):2;mem:2048", "cpus:0.5;mem:16"}
	var outstanding []allocator.Offer
	sink := func(o allocator.Offer) { h.Sink(o); outstanding = append(outstanding, o) }
	nAgents, nFws := 0, 0
	var live []string
	for step := range 200 {
		switch op := rnd.IntN(8); {
		case op == 0 || nAgents == 0:
			nAgents++
			id := fmt.Sprintf("a%d", nAgents)
			h.AddAgents(at.Agent(id, agentRes[rnd.IntN(len(agentRes))]))
			live = append(live, id)
		case op == 1 || nFws == 0:
			nFws++
			h.AddFrameworks(at.Framework(fmt.Sprintf("f%d", nFws), roles[rnd.IntN(len(roles))]).With(allocator.GPUResources))
		case op == 2 && len(outstanding) > 0:
			i := rnd.IntN(len(outstanding))
			h.Decline(outstanding[i], time.Duration(rnd.IntN(2))*time.Second)
			outstanding = append(outstanding[:i], outstanding[i+1:]...)
		case op == 3 && len(live) > 1:
			i := rnd.IntN(len(live))
			id := live[i]
			h.RemoveAgent(id)
			live = append(live[:i], live[i+1:]...)
			kept := outstanding[:0]
			for _, o := range outstanding {
				if o.AgentID != id {
					kept = append(kept, o)
				}
			}
			outstanding = kept
		case op == 4:
			h.Advance(time.Second)
			h.A.AllocatePending(h.Now, sink)
		default:
			h.A.Allocate(h.Now, sink)
		}
		h.CheckInvariants()
		// Unreserved consumption per role subtree, from the harness's own
		// ledger. Reservations are the role's own and never cut (as in
		// Mesos, where RESERVE is checked against limits instead); they
		// count as consumption, so unreserved offers stop earlier.
		held := map[string]resources.Quantities{}
		for _, o := range outstanding {
			q := o.Resources.NonRevocable().Unreserved().Quantities()
			for r := o.Role; ; {
				held[r] = held[r].Add(q)
				i := lastSlash(r)
				if i < 0 {
					break
				}
				r = r[:i]
			}
		}
		for r, l := range limits {
			if !l.LimitRoom(resources.Quantities{}).Contains(held[r]) {
				t.Errorf("seed %d step %d: role %s holds %v, limit %v", seed, step, r, held[r], l)
				return false
			}
		}
		if !qty("cpus:4").LimitRoom(resources.Quantities{}).Contains(held["c"]) {
			t.Errorf("seed %d step %d: role c holds %v, limit cpus:4", seed, step, held["c"])
			return false
		}
	}
	return true
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
