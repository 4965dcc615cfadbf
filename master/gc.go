package master

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mesosd/mesosd/internal/flagx"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// RateLimit is Mesos' "N/duration" form of --agent_removal_rate_limit: at
// most N agents become unreachable per duration. The zero value means no limit.
type RateLimit struct {
	N   int
	Per time.Duration
}

// ParseRateLimit reads "1/20mins" or "100/1secs" (Go durations work too).
func ParseRateLimit(s string) (RateLimit, error) {
	if strings.TrimSpace(s) == "" {
		return RateLimit{}, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err != nil || n <= 0 {
		return RateLimit{}, fmt.Errorf("rate limit %q: want N/duration with N > 0, e.g. 1/20mins", s)
	}
	d, err := flagx.ParseDuration(ds)
	if err != nil || d <= 0 {
		return RateLimit{}, fmt.Errorf("rate limit %q: want N/duration with a positive duration, e.g. 1/20mins", s)
	}
	return RateLimit{N: n, Per: d}, nil
}

// scheduleUnreachable queues an agent to be marked unreachable, honouring
// --agent_removal_rate_limit: a mass failure (a partitioned rack, a master
// failover with agents slow to come back) must not wipe out a cluster's
// tasks at once. An agent that reconnects meanwhile is taken off the queue.
func (m *Master) scheduleUnreachable(a *agent, why string) {
	if _, queued := m.unreachableQueue[a.id]; queued {
		return
	}
	m.metrics.inc("master/slave_unreachable_scheduled")
	m.unreachableQueue[a.id] = why
	m.unreachableOrder = append(m.unreachableOrder, a.id)
	m.drainUnreachable(time.Now())
}

// drainUnreachable marks queued agents unreachable as far as the rate limit
// allows now, and arms a timer for the rest.
func (m *Master) drainUnreachable(now time.Time) {
	rl := m.cfg.AgentRemovalRateLimit
	for len(m.unreachableOrder) > 0 {
		id := m.unreachableOrder[0]
		why, queued := m.unreachableQueue[id]
		a, present := m.agents[id]
		if !queued || !present || (a.conn != nil && a.missedPings == 0 && !a.recovered) {
			// Reconnected (or gone) while waiting.
			m.unreachableOrder = m.unreachableOrder[1:]
			if queued {
				delete(m.unreachableQueue, id)
				m.metrics.inc("master/slave_unreachable_canceled")
			}
			continue
		}
		if rl.N > 0 {
			cut := now.Add(-rl.Per)
			kept := m.recentRemovals[:0]
			for _, t := range m.recentRemovals {
				if t.After(cut) {
					kept = append(kept, t)
				}
			}
			m.recentRemovals = kept
			if len(m.recentRemovals) >= rl.N {
				if m.unreachableTimer == nil {
					wait := m.recentRemovals[0].Add(rl.Per).Sub(now)
					m.unreachableTimer = m.after(wait, func() {
						m.unreachableTimer = nil
						if m.leaderOn {
							m.drainUnreachable(time.Now())
						}
					})
				}
				return
			}
			m.recentRemovals = append(m.recentRemovals, now)
		}
		m.unreachableOrder = m.unreachableOrder[1:]
		delete(m.unreachableQueue, id)
		m.markUnreachable(a, why)
	}
}

// collectRegistryGarbage drops unreachable and gone agents from the
// registry once they are older than --registry_max_agent_age, and the oldest
// ones beyond --registry_max_agent_count (Mesos' registry GC). Agents that
// come back after that register as new agents.
func (m *Master) collectRegistryGarbage(now time.Time) {
	type entry struct {
		id string
		at int64
	}
	var old []entry
	for _, ra := range m.reg.Agents() {
		if s := ra.GetState(); s == pb.RegistryAgent_UNREACHABLE || s == pb.RegistryAgent_GONE {
			old = append(old, entry{ra.GetInfo().GetId().GetValue(), ra.GetStateTimeNs()})
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].at < old[j].at || old[i].at == old[j].at && old[i].id < old[j].id })
	cutoff := now.Add(-m.cfg.RegistryMaxAgentAge).UnixNano()
	var remove []*mesos.AgentID
	for i, e := range old {
		if e.at < cutoff || len(old)-i > m.cfg.RegistryMaxAgentCount {
			remove = append(remove, &mesos.AgentID{Value: &e.id})
		}
	}
	if len(remove) == 0 {
		return
	}
	m.propose(&pb.Command{Kind: &pb.Command_RemoveAgents{RemoveAgents: &pb.RemoveAgents{AgentIds: remove}}}, func(err error) {
		if err != nil {
			m.log.Warn("registry GC failed", "err", err)
			return
		}
		m.metrics.add("master/registry_gc_removals", float64(len(remove)))
		m.log.Info("registry GC removed unreachable/gone agents", "count", len(remove))
	})
}
