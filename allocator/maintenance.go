package allocator

// Maintenance: agents on machines that are DOWN and agents being drained get
// no offers. Unlike DeactivateAgent (which the master uses for disconnected
// agents and undoes when they come back), a block is remembered by agent ID
// across RemoveAgent and AddAgent, so a re-registering agent stays blocked
// until the operator lifts it.

// BlockAgent excludes (blocked) or re-admits an agent to allocation. The
// agent need not be known yet. Its allocations stay tracked either way.
func (a *Allocator) BlockAgent(id string, blocked bool) {
	if blocked {
		if a.blocked == nil {
			a.blocked = map[string]bool{}
		}
		a.blocked[id] = true
	} else {
		delete(a.blocked, id)
	}
	if ag, ok := a.agents[id]; ok && ag.blocked != blocked {
		ag.blocked = blocked
		if !blocked {
			a.markAgent(ag)
		}
	}
}

// AgentBlocked reports whether BlockAgent excluded the agent.
func (a *Allocator) AgentBlocked(id string) bool { return a.blocked[id] }

// BlockedAgents lists the blocked agent IDs (any order).
func (a *Allocator) BlockedAgents() []string {
	out := make([]string, 0, len(a.blocked))
	for id := range a.blocked {
		out = append(out, id)
	}
	return out
}
