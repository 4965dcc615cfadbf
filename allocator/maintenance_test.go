package allocator_test

import (
	"testing"

	"github.com/mesosd/mesosd/allocator"
	at "github.com/mesosd/mesosd/allocator/allocatortest"
)

func TestBlockAgent(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	h.A.BlockAgent("a1", true) // before the agent is known
	h.AddAgents(at.Agent("a1", "cpus:4;mem:4096"), at.Agent("a2", "cpus:2;mem:1024"))
	h.AddFrameworks(at.Framework("f1"))
	expect(t, h.Allocate(), "f1@a2(*): cpus:2; mem:1024")
	// Remembered across remove and re-add (an agent re-registering).
	h.RemoveAgent("a1")
	h.AddAgents(at.Agent("a1", "cpus:4;mem:4096"))
	expect(t, h.Allocate(), "")
	if !h.A.AgentBlocked("a1") || len(h.A.BlockedAgents()) != 1 {
		t.Fatal("a1 should be blocked")
	}
	h.A.BlockAgent("a1", false)
	expect(t, h.AllocatePending(), "f1@a1(*): cpus:4; mem:4096")
	h.CheckInvariants()
}
