// Package allocatortest is a deterministic harness for allocator tests and
// benchmarks: in-memory builders for agents and frameworks, a logical
// clock, and a recording sink that also keeps its own ledger of what is
// outstanding so that invariants can be checked independently of the
// allocator's bookkeeping.
package allocatortest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
)

// Epoch is the harness clock's start.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// AgentSpec builds an agent.
type AgentSpec struct {
	ID        string
	Info      allocator.AgentInfo
	Resources resources.Resources
}

// Agent parses res (Mesos --resources syntax) into an agent spec; it panics
// on bad input, which is a bug in the test.
func Agent(id, res string) AgentSpec {
	return AgentSpec{ID: id, Info: allocator.AgentInfo{Hostname: id}, Resources: resources.MustParse(res)}
}

// FrameworkSpec builds a framework.
type FrameworkSpec struct {
	ID string
	allocator.Framework
}

// Framework is an active framework in roles (default "*").
func Framework(id string, roles ...string) FrameworkSpec {
	if len(roles) == 0 {
		roles = []string{"*"}
	}
	return FrameworkSpec{ID: id, Framework: allocator.Framework{Roles: roles, Active: true}}
}

// With adds capabilities.
func (f FrameworkSpec) With(c allocator.Capabilities) FrameworkSpec {
	f.Capabilities |= c
	return f
}

// Inactive marks the framework disconnected.
func (f FrameworkSpec) Inactive() FrameworkSpec {
	f.Active = false
	return f
}

// MinAllocatable sets a per-role minimum ("cpus:1;mem:128|gpus:1").
func (f FrameworkSpec) MinAllocatable(role, spec string) FrameworkSpec {
	qs, err := allocator.ParseMinAllocatable(spec)
	if err != nil {
		panic(err)
	}
	m := map[string][]resources.Quantities{}
	for k, v := range f.Framework.MinAllocatable {
		m[k] = v
	}
	m[role] = qs
	f.Framework.MinAllocatable = m
	return f
}

// Harness drives one allocator.
type Harness struct {
	T   testing.TB
	A   *allocator.Allocator
	Now time.Time
	// Offers records every offer ever made, in order.
	Offers []allocator.Offer
	// Outstanding is the harness's own ledger of offered-and-not-recovered
	// resources, per agent.
	Outstanding map[string]resources.Resources
	totals      map[string]resources.Resources
}

// NewHarness returns a harness over a fresh allocator.
func NewHarness(t testing.TB, opts allocator.Options) *Harness {
	return &Harness{T: t, A: allocator.New(opts), Now: Epoch,
		Outstanding: map[string]resources.Resources{}, totals: map[string]resources.Resources{}}
}

func (h *Harness) must(err error) {
	h.T.Helper()
	if err != nil {
		h.T.Fatal(err)
	}
}

// AddAgents registers agents.
func (h *Harness) AddAgents(specs ...AgentSpec) {
	h.T.Helper()
	for _, s := range specs {
		h.must(h.A.AddAgent(s.ID, s.Info, s.Resources))
		h.totals[s.ID] = s.Resources
	}
}

// RemoveAgent removes an agent and forgets its ledger.
func (h *Harness) RemoveAgent(id string) {
	h.T.Helper()
	h.must(h.A.RemoveAgent(id))
	delete(h.totals, id)
	delete(h.Outstanding, id)
}

// AddFrameworks registers frameworks.
func (h *Harness) AddFrameworks(specs ...FrameworkSpec) {
	h.T.Helper()
	for _, s := range specs {
		h.must(h.A.AddFramework(s.ID, s.Framework))
	}
}

// Advance moves the logical clock.
func (h *Harness) Advance(d time.Duration) { h.Now = h.Now.Add(d) }

// Sink records an offer and books it in the ledger.
func (h *Harness) Sink(o allocator.Offer) {
	h.Offers = append(h.Offers, o)
	h.Outstanding[o.AgentID] = h.Outstanding[o.AgentID].Add(o.Resources)
}

// Allocate runs a full cycle and returns this cycle's offers.
func (h *Harness) Allocate() []allocator.Offer {
	n := len(h.Offers)
	h.A.Allocate(h.Now, h.Sink)
	return slices.Clone(h.Offers[n:])
}

// AllocatePending runs the pending (batched) allocation.
func (h *Harness) AllocatePending() []allocator.Offer {
	n := len(h.Offers)
	h.A.AllocatePending(h.Now, h.Sink)
	return slices.Clone(h.Offers[n:])
}

// Decline returns an offer with a refuse filter (0 for none).
func (h *Harness) Decline(o allocator.Offer, refuse time.Duration) {
	h.T.Helper()
	h.must(h.A.Recover(o.FrameworkID, o.AgentID, o.Role, o.Resources, refuse, h.Now))
	h.Outstanding[o.AgentID] = h.Outstanding[o.AgentID].Subtract(o.Resources)
}

// CheckInvariants verifies, for every agent, that the harness ledger equals
// the allocator's allocated resources and that allocated ⊆ total.
func (h *Harness) CheckInvariants() {
	h.T.Helper()
	for id, total := range h.totals {
		alloc, ok := h.A.Allocated(id)
		if !ok {
			h.T.Fatalf("agent %s unknown to the allocator", id)
		}
		if !total.Contains(alloc) {
			h.T.Fatalf("agent %s: allocated %v exceeds total %v", id, alloc, total)
		}
		if !alloc.Equal(h.Outstanding[id]) {
			h.T.Fatalf("agent %s: allocator says %v allocated, ledger says %v", id, alloc, h.Outstanding[id])
		}
		avail, _ := h.A.Available(id)
		if !avail.Add(alloc).Equal(total) {
			h.T.Fatalf("agent %s: available %v + allocated %v != total %v", id, avail, alloc, total)
		}
	}
}

// Format renders offers one per line ("f1@a1(*): cpus:4; mem:4096"), the
// shape table tests compare against.
func Format(offers []allocator.Offer) string {
	var b strings.Builder
	for _, o := range offers {
		fmt.Fprintf(&b, "%s@%s(%s): %v\n", o.FrameworkID, o.AgentID, o.Role, o.Resources)
	}
	return b.String()
}

// UpdateAllocation applies an operation to part of an outstanding offer
// (from becomes to) and books it in the ledger and the agent's total.
func (h *Harness) UpdateAllocation(o allocator.Offer, from, to resources.Resources) error {
	h.T.Helper()
	if err := h.A.UpdateAllocation(o.FrameworkID, o.AgentID, o.Role, from, to); err != nil {
		return err
	}
	h.Outstanding[o.AgentID] = h.Outstanding[o.AgentID].Subtract(from).Add(to)
	h.totals[o.AgentID] = h.totals[o.AgentID].Subtract(from).Add(to)
	return nil
}

// UpdateAvailable applies an operation to unallocated resources of an agent.
func (h *Harness) UpdateAvailable(agentID string, from, to resources.Resources) error {
	h.T.Helper()
	if err := h.A.UpdateAvailable(agentID, from, to); err != nil {
		return err
	}
	h.totals[agentID] = h.totals[agentID].Subtract(from).Add(to)
	return nil
}
