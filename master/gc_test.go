package master

import (
	"testing"
	"time"
)

func TestParseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RateLimit
		bad  bool
	}{
		{in: "", want: RateLimit{}},
		{in: "1/20mins", want: RateLimit{N: 1, Per: 20 * time.Minute}},
		{in: "100/1secs", want: RateLimit{N: 100, Per: time.Second}},
		{in: "5/10s", want: RateLimit{N: 5, Per: 10 * time.Second}},
		{in: "0/1mins", bad: true},
		{in: "1", bad: true},
		{in: "x/1mins", bad: true},
		{in: "1/never", bad: true},
	} {
		got, err := ParseRateLimit(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("ParseRateLimit(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// With --agent_removal_rate_limit 1/1hour, only one of two agents that stop
// answering pings becomes unreachable; the other waits its turn.
func TestAgentRemovalRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.AgentPingTimeout = 20 * time.Millisecond
	cfg.MaxAgentPingTimeouts = 2
	cfg.AgentRemovalRateLimit = RateLimit{N: 1, Per: time.Hour}
	tm := startMaster(t, cfg)
	a1 := tm.addAgent(agentOpts{hostname: "a1"})
	a2 := tm.addAgent(agentOpts{hostname: "a2"})
	a1.ignorePings.Store(true)
	a2.ignorePings.Store(true)
	waitUntil(t, "one agent unreachable", func() bool { return tm.metrics()["master/slaves_unreachable"] == 1 })
	time.Sleep(10 * cfg.AgentPingTimeout) // several more ping rounds: the limit must hold
	m := tm.metrics()
	if m["master/slaves_unreachable"] != 1 || m["master/slave_unreachable_scheduled"] != 2 {
		t.Fatalf("unreachable=%v scheduled=%v; want 1 unreachable and 2 scheduled under a 1/1hour limit",
			m["master/slaves_unreachable"], m["master/slave_unreachable_scheduled"])
	}
}

// Registry GC removes unreachable agents older than --registry_max_agent_age.
func TestRegistryGC(t *testing.T) {
	cfg := testConfig(t)
	cfg.AgentPingTimeout = 20 * time.Millisecond
	cfg.MaxAgentPingTimeouts = 2
	cfg.RegistryGCInterval = 20 * time.Millisecond
	cfg.RegistryMaxAgentAge = time.Millisecond
	tm := startMaster(t, cfg)
	a := tm.addAgent(agentOpts{})
	a.ignorePings.Store(true)
	waitUntil(t, "the agent is unreachable, then collected", func() bool {
		return tm.metrics()["master/registry_gc_removals"] == 1
	})
	var inRegistry bool
	if err := tm.m.do(t.Context(), func() { _, inRegistry = tm.m.reg.Agent(a.id) }); err != nil {
		t.Fatal(err)
	}
	if inRegistry {
		t.Fatalf("agent %s still in the registry after GC", a.id)
	}
}
