package master

// Maintenance (Mesos' maintenance primitives and agent draining):
//
//   - UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE and STOP_MAINTENANCE
//     change the replicated schedule and machine modes (registry/maintenance.go);
//     GET_MAINTENANCE_SCHEDULE and GET_MAINTENANCE_STATUS read them.
//   - While a machine is DRAINING, offers of its agents carry the window's
//     unavailability, and every framework holding resources on them (tasks or
//     offers) gets an inverse offer each allocation cycle, unless it has one
//     outstanding or its answer's refuse filter still holds. Answers
//     (ACCEPT/DECLINE_INVERSE_OFFERS) are kept per agent and framework and
//     shown by GET_MAINTENANCE_STATUS; as in Mesos they are not replicated.
//     A changed unavailability rescinds the agent's offers and inverse offers
//     and forgets the answers.
//   - Agents on DOWN machines and draining agents (DRAIN_AGENT) get no offers
//     (allocator.BlockAgent). DRAIN_AGENT kills the agent's tasks with a grace
//     period capped at max_grace_period, and the agent becomes DRAINED once
//     none remain.
//
// The runtime part lives in maintState, one per leadership term (the
// allocator is rebuilt on election, and inverse offers never survive a
// failover); maintenanceCycle, called after every allocation run, brings the
// allocator and the frameworks in line with the registry.

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/registry"
	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	allocpb "github.com/mesosd/mesosd/proto/mesos/v1/allocator"
	"github.com/mesosd/mesosd/proto/mesos/v1/maintenance"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

type fwAgent struct{ framework, agent string }

type inverseOffer struct {
	id          string
	frameworkID string
	agentID     string
	msg         *mesos.InverseOffer
}

// maintState is the leader's runtime maintenance state. Owned by the loop.
type maintState struct {
	epoch    uint64
	nextID   uint64
	inverse  map[string]*inverseOffer
	byFwAg   map[fwAgent]*inverseOffer
	statuses map[string]map[string]*allocpb.InverseOfferStatus // agent -> framework -> answer
	filters  map[fwAgent]time.Time                             // no inverse offer before
	unavail  map[string]*mesos.Unavailability                  // agents whose machine is DRAINING
	blocked  map[string]bool                                   // agents blocked in the allocator
	killSent map[taskKey]bool                                  // tasks of draining agents already killed
	drained  map[string]bool                                   // MarkAgentDrained proposed
}

func (m *Master) maint() *maintState {
	// Inverse offers and framework answers are per leadership term (not
	// replicated, as in Mesos): a new term starts from scratch.
	st := m.maintSt
	if st == nil || st.epoch != m.leaderEpoch {
		st = &maintState{
			epoch:    m.leaderEpoch,
			inverse:  map[string]*inverseOffer{},
			byFwAg:   map[fwAgent]*inverseOffer{},
			statuses: map[string]map[string]*allocpb.InverseOfferStatus{},
			filters:  map[fwAgent]time.Time{},
			unavail:  map[string]*mesos.Unavailability{},
			blocked:  map[string]bool{},
			killSent: map[taskKey]bool{},
			drained:  map[string]bool{},
		}
		m.maintSt = st
	}
	return st
}

// machineIndex finds the scheduled machine of an agent. Agents are matched
// by hostname (case-insensitive); a machine given by IP only matches agents
// whose hostname is that IP (mesosd agents do not report another address).
type machineIndex struct {
	byHost map[string]*mesos.MachineInfo
	byIP   map[string]*mesos.MachineInfo
}

func newMachineIndex(ms []*mesos.MachineInfo) machineIndex {
	idx := machineIndex{byHost: map[string]*mesos.MachineInfo{}, byIP: map[string]*mesos.MachineInfo{}}
	for _, mi := range ms {
		if h := mi.GetId().GetHostname(); h != "" {
			idx.byHost[h] = mi
		} else {
			idx.byIP[mi.GetId().GetIp()] = mi
		}
	}
	return idx
}

func (x machineIndex) lookup(info *mesos.AgentInfo) *mesos.MachineInfo {
	h := strings.ToLower(info.GetHostname())
	if mi, ok := x.byHost[h]; ok {
		return mi
	}
	if net.ParseIP(h) != nil {
		return x.byIP[h]
	}
	return nil
}

// agentMachineDown reports whether the agent's machine is DOWN. Hook for
// agent registration: Mesos refuses agents of DOWN machines.
func (m *Master) agentMachineDown(info *mesos.AgentInfo) bool {
	mi := newMachineIndex(m.reg.Machines()).lookup(info)
	return mi != nil && mi.GetMode() == mesos.MachineInfo_DOWN
}

// maintenanceCycle runs after every allocation run, before the offers in
// byFramework are sent. It drops fresh offers of blocked agents, stamps the
// unavailability on offers of draining machines, rescinds what a changed
// schedule invalidated, drives agent drains and sends inverse offers.
func (m *Master) maintenanceCycle(now time.Time, byFramework map[string][]*mesos.Offer) {
	st := m.maint()
	machines := m.reg.Machines()
	drains := m.reg.Drains()
	if len(machines) == 0 && len(drains) == 0 && m.reg.DeactivatedAgents() == 0 &&
		len(st.blocked) == 0 && len(st.inverse) == 0 && len(st.unavail) == 0 {
		return
	}
	idx := newMachineIndex(machines)
	wantBlocked := map[string]bool{}
	wantUnavail := map[string]*mesos.Unavailability{}
	agents := m.sortedAgents()
	for _, a := range agents {
		if a.recovered {
			continue
		}
		if mi := idx.lookup(a.info); mi != nil {
			switch mi.GetMode() {
			case mesos.MachineInfo_DOWN:
				wantBlocked[a.id] = true
			case mesos.MachineInfo_DRAINING:
				wantUnavail[a.id] = mi.GetUnavailability()
			}
		}
		if m.agentDeactivated(a.id) {
			wantBlocked[a.id] = true
		}
	}

	// Offers made in this run: dropped if their agent is blocked (they
	// were never sent), otherwise stamped with the unavailability.
	fresh := map[string]bool{}
	for fid, list := range byFramework {
		kept := list[:0]
		for _, msg := range list {
			id := msg.GetId().GetValue()
			aid := msg.GetAgentId().GetValue()
			if wantBlocked[aid] {
				if o, ok := m.offers[id]; ok {
					m.removeOffer(o, false, 0)
				}
				continue
			}
			fresh[id] = true
			if u := wantUnavail[aid]; u != nil {
				msg.Unavailability = proto.Clone(u).(*mesos.Unavailability)
			}
			kept = append(kept, msg)
		}
		if len(kept) == 0 {
			delete(byFramework, fid)
		} else {
			byFramework[fid] = kept
		}
	}

	// A new, changed or lifted unavailability: outstanding offers and
	// inverse offers are rescinded (frameworks get new ones) and earlier
	// answers no longer count.
	for _, a := range agents {
		if a.recovered {
			continue
		}
		old, had := st.unavail[a.id]
		u := wantUnavail[a.id]
		if had == (u != nil) && (!had || proto.Equal(old, u)) {
			continue
		}
		m.rescindAgentOffers(a, fresh)
		m.rescindInverseOffers(a.id)
		delete(st.statuses, a.id)
		for k := range st.filters {
			if k.agent == a.id {
				delete(st.filters, k)
			}
		}
		if u != nil {
			st.unavail[a.id] = u
		} else {
			delete(st.unavail, a.id)
		}
	}
	for id := range st.unavail {
		if _, ok := m.agents[id]; !ok {
			delete(st.unavail, id)
			delete(st.statuses, id)
		}
	}

	// Blocks follow DOWN machines, drains and deactivated agents.
	for _, a := range agents {
		if wantBlocked[a.id] && !st.blocked[a.id] {
			st.blocked[a.id] = true
			m.alloc.BlockAgent(a.id, true)
			m.rescindAgentOffers(a, fresh)
			m.rescindInverseOffers(a.id)
		}
	}
	for id := range st.blocked {
		if !wantBlocked[id] {
			delete(st.blocked, id)
			m.alloc.BlockAgent(id, false)
			m.markAgentDirty(id)
		}
	}

	m.driveDrains(drains)
	m.sendInverseOffers(now, agents)
}

// rescindAgentOffers rescinds an agent's outstanding offers except the ones
// made in this run (not sent yet).
func (m *Master) rescindAgentOffers(a *agent, fresh map[string]bool) {
	for _, o := range sortedOffers(a) {
		if !fresh[o.id] {
			m.removeOffer(o, true, 0)
		}
	}
}

func (m *Master) rescindInverseOffers(agentID string) {
	st := m.maint()
	ids := make([]string, 0)
	for id, io := range st.inverse {
		if io.agentID == agentID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		m.removeInverseOffer(st.inverse[id], true)
	}
}

func (m *Master) removeInverseOffer(io *inverseOffer, rescind bool) {
	st := m.maint()
	delete(st.inverse, io.id)
	delete(st.byFwAg, fwAgent{io.frameworkID, io.agentID})
	if f := m.frameworks[io.frameworkID]; f != nil && rescind {
		f.send(&scheduler.Event{Type: scheduler.Event_RESCIND_INVERSE_OFFER.Enum(), RescindInverseOffer: &scheduler.Event_RescindInverseOffer{
			InverseOfferId: io.msg.GetId(),
		}})
	}
	m.version++
}

// sendInverseOffers offers every framework with resources on an agent of a
// DRAINING machine an inverse offer, unless one is outstanding or filtered.
func (m *Master) sendInverseOffers(now time.Time, agents []*agent) {
	st := m.maint()
	// Inverse offers of frameworks or agents that went away are dropped.
	for id, io := range st.inverse {
		f := m.frameworks[io.frameworkID]
		a := m.agents[io.agentID]
		if f == nil || !f.connected() || a == nil || st.unavail[io.agentID] == nil {
			m.removeInverseOffer(st.inverse[id], f != nil && f.connected())
		}
	}
	byFramework := map[string][]*mesos.InverseOffer{}
	for _, a := range agents {
		u := st.unavail[a.id]
		if u == nil || st.blocked[a.id] {
			continue
		}
		holders := map[string]bool{}
		for _, t := range a.tasks {
			if !t.resourcesRecovered && !isTerminal(t.state()) {
				holders[t.frameworkID()] = true
			}
		}
		for _, o := range a.offers {
			holders[o.frameworkID] = true
		}
		fids := make([]string, 0, len(holders))
		for fid := range holders {
			fids = append(fids, fid)
		}
		sort.Strings(fids)
		for _, fid := range fids {
			f := m.frameworks[fid]
			k := fwAgent{fid, a.id}
			if f == nil || !f.connected() || st.byFwAg[k] != nil {
				continue
			}
			if until, ok := st.filters[k]; ok {
				if now.Before(until) {
					continue
				}
				delete(st.filters, k)
			}
			st.nextID++
			id := fmt.Sprintf("%s-IO%d", m.info.GetId(), st.nextID)
			msg := &mesos.InverseOffer{
				Id:             &mesos.OfferID{Value: proto.String(id)},
				FrameworkId:    f.info.GetId(),
				AgentId:        a.info.GetId(),
				Unavailability: proto.Clone(u).(*mesos.Unavailability),
			}
			if a.info.Port != nil {
				msg.Url = &mesos.URL{
					Scheme:  proto.String("http"),
					Address: &mesos.Address{Hostname: a.info.Hostname, Port: a.info.Port},
					Path:    proto.String("/slave(1)"),
				}
			}
			io := &inverseOffer{id: id, frameworkID: fid, agentID: a.id, msg: msg}
			st.inverse[id] = io
			st.byFwAg[k] = io
			byFramework[fid] = append(byFramework[fid], msg)
			m.version++
		}
	}
	fids := make([]string, 0, len(byFramework))
	for fid := range byFramework {
		fids = append(fids, fid)
	}
	sort.Strings(fids)
	for _, fid := range fids {
		m.frameworks[fid].send(&scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS.Enum(), InverseOffers: &scheduler.Event_InverseOffers{
			InverseOffers: byFramework[fid],
		}})
		m.metrics.add("master/messages_inverse_offers", 1)
	}
}

// inverseOfferResponse handles ACCEPT_INVERSE_OFFERS and
// DECLINE_INVERSE_OFFERS: the answer is recorded for GET_MAINTENANCE_STATUS
// and the refuse filter (default 5 s) holds back the next inverse offer for
// that agent. Unknown IDs and other frameworks' inverse offers are ignored,
// as in Mesos.
func (m *Master) inverseOfferResponse(f *framework, call *scheduler.Call, now time.Time) {
	status := allocpb.InverseOfferStatus_ACCEPT
	ids := call.GetAcceptInverseOffers().GetInverseOfferIds()
	filters := call.GetAcceptInverseOffers().GetFilters()
	if call.GetType() == scheduler.Call_DECLINE_INVERSE_OFFERS {
		status = allocpb.InverseOfferStatus_DECLINE
		ids = call.GetDeclineInverseOffers().GetInverseOfferIds()
		filters = call.GetDeclineInverseOffers().GetFilters()
	}
	st := m.maint()
	refuse := refuseDuration(filters)
	for _, id := range ids {
		io, ok := st.inverse[id.GetValue()]
		if !ok || io.frameworkID != f.id {
			m.log.Info("ignoring answer to an unknown inverse offer", "framework", f.id, "inverse_offer", id.GetValue())
			continue
		}
		m.removeInverseOffer(io, false)
		byFw := st.statuses[io.agentID]
		if byFw == nil {
			byFw = map[string]*allocpb.InverseOfferStatus{}
			st.statuses[io.agentID] = byFw
		}
		byFw[f.id] = &allocpb.InverseOfferStatus{
			Status:      status.Enum(),
			FrameworkId: f.info.GetId(),
			Timestamp:   &mesos.TimeInfo{Nanoseconds: proto.Int64(now.UnixNano())},
		}
		if refuse > 0 {
			st.filters[fwAgent{f.id, io.agentID}] = now.Add(refuse)
		}
	}
}

// driveDrains kills the tasks of draining agents (once each) and records
// DRAINED when an agent has none left.
func (m *Master) driveDrains(drains []*pb.AgentDrain) {
	st := m.maint()
	live := map[taskKey]bool{}
	defer func() {
		for k := range st.killSent {
			if !live[k] {
				delete(st.killSent, k) // the task is gone
			}
		}
	}()
	for _, d := range drains {
		id := d.GetAgentId().GetValue()
		a := m.agents[id]
		if a == nil || a.recovered || d.GetInfo().GetState() != mesos.DrainState_DRAINING {
			continue
		}
		running := 0
		keys := make([]taskKey, 0, len(a.tasks))
		for k, t := range a.tasks {
			if !isTerminal(t.state()) {
				running++
				live[k] = true
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].framework != keys[j].framework {
				return keys[i].framework < keys[j].framework
			}
			return keys[i].task < keys[j].task
		})
		for _, k := range keys {
			if st.killSent[k] || a.conn == nil {
				continue
			}
			st.killSent[k] = true
			t := a.tasks[k]
			a.sendEvent(&pb.AgentEvent{
				Type: pb.AgentEvent_KILL_TASK.Enum(),
				KillTask: &pb.AgentEvent_KillTask{
					FrameworkId: t.t.GetFrameworkId(),
					TaskId:      t.t.GetTaskId(),
					KillPolicy:  drainKillPolicy(t.t.GetKillPolicy(), d.GetInfo().GetConfig()),
				},
			})
		}
		if running == 0 && !st.drained[id] {
			st.drained[id] = true
			m.propose(&pb.Command{Kind: &pb.Command_MarkAgentDrained{MarkAgentDrained: &pb.MarkAgentDrained{AgentId: a.info.GetId()}}}, func(err error) {
				if err != nil {
					delete(m.maint().drained, id)
					m.log.Warn("could not record agent as drained", "agent", id, "err", err)
					return
				}
				if d.GetInfo().GetConfig().GetMarkGone() {
					// DRAIN_AGENT with mark_gone: once drained, the agent is
					// gone for good, as with MARK_AGENT_GONE (gone.go).
					m.markAgentGone(id, func(err error) {
						if err != nil {
							m.log.Warn("could not mark the drained agent gone", "agent", id, "err", err)
						}
					})
				}
			})
		}
	}
}

// drainKillPolicy caps the task's grace period at the drain's
// max_grace_period (Mesos: the shorter of the two is used).
func drainKillPolicy(task *mesos.KillPolicy, cfg *mesos.DrainConfig) *mesos.KillPolicy {
	if cfg.GetMaxGracePeriod() == nil {
		return task
	}
	maxNs := cfg.GetMaxGracePeriod().GetNanoseconds()
	if task.GetGracePeriod() != nil && task.GetGracePeriod().GetNanoseconds() <= maxNs {
		return task
	}
	return &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(maxNs)}}
}

// ---- operator API ----

// serveMaintenanceCall serves the maintenance operator calls that change
// state: UPDATE_MAINTENANCE_SCHEDULE and START/STOP_MAINTENANCE answer 202,
// DRAIN_AGENT 200 without a body. (The GETs go through operatorRead.)
func (m *Master) serveMaintenanceCall(w http.ResponseWriter, r *http.Request, call *masterpb.Call) {
	var cmd *pb.Command
	status := http.StatusAccepted
	switch call.GetType() {
	case masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE:
		if call.UpdateMaintenanceSchedule == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'update_maintenance_schedule' to be present", http.StatusBadRequest)
			return
		}
		cmd = &pb.Command{Kind: &pb.Command_UpdateMaintenanceSchedule{UpdateMaintenanceSchedule: &pb.UpdateMaintenanceSchedule{
			Schedule: normalizeSchedule(call.GetUpdateMaintenanceSchedule().GetSchedule()),
		}}}
	case masterpb.Call_START_MAINTENANCE:
		if call.StartMaintenance == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'start_maintenance' to be present", http.StatusBadRequest)
			return
		}
		cmd = &pb.Command{Kind: &pb.Command_StartMaintenance{StartMaintenance: &pb.StartMaintenance{
			Machines: normalizeMachines(call.GetStartMaintenance().GetMachines()),
		}}}
	case masterpb.Call_STOP_MAINTENANCE:
		if call.StopMaintenance == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'stop_maintenance' to be present", http.StatusBadRequest)
			return
		}
		cmd = &pb.Command{Kind: &pb.Command_StopMaintenance{StopMaintenance: &pb.StopMaintenance{
			Machines: normalizeMachines(call.GetStopMaintenance().GetMachines()),
		}}}
	case masterpb.Call_DRAIN_AGENT:
		c := call.GetDrainAgent()
		if c == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'drain_agent' to be present", http.StatusBadRequest)
			return
		}
		cfg := &mesos.DrainConfig{MarkGone: proto.Bool(c.GetMarkGone())}
		if g := c.GetMaxGracePeriod(); g != nil {
			if err := g.CheckValid(); err != nil || g.AsDuration() < 0 {
				http.Error(w, "Failed to validate master::Call: 'max_grace_period' must be a non-negative duration", http.StatusBadRequest)
				return
			}
			cfg.MaxGracePeriod = &mesos.DurationInfo{Nanoseconds: proto.Int64(g.AsDuration().Nanoseconds())}
		}
		cmd = &pb.Command{Kind: &pb.Command_DrainAgent{DrainAgent: &pb.DrainAgent{AgentId: c.GetAgentId(), Config: cfg}}}
		status = http.StatusOK
	case masterpb.Call_DEACTIVATE_AGENT:
		if call.DeactivateAgent == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'deactivate_agent' to be present", http.StatusBadRequest)
			return
		}
		cmd = &pb.Command{Kind: &pb.Command_DeactivateAgent{DeactivateAgent: &pb.DeactivateAgent{AgentId: call.GetDeactivateAgent().GetAgentId()}}}
		status = http.StatusOK
	case masterpb.Call_REACTIVATE_AGENT:
		if call.ReactivateAgent == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'reactivate_agent' to be present", http.StatusBadRequest)
			return
		}
		cmd = &pb.Command{Kind: &pb.Command_ReactivateAgent{ReactivateAgent: &pb.ReactivateAgent{AgentId: call.GetReactivateAgent().GetAgentId()}}}
		status = http.StatusOK
	default:
		http.Error(w, fmt.Sprintf("not a maintenance call: %s", call.GetType()), http.StatusBadRequest)
		return
	}
	res, err := await(r.Context(), m, func(reply func(error)) { m.maintenanceUpdate(cmd, reply) })
	if err == nil {
		err = res
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(status) // no body, so no Content-Type
}

func normalizeMachines(ids []*mesos.MachineID) []*mesos.MachineID {
	out := make([]*mesos.MachineID, 0, len(ids))
	for _, id := range ids {
		out = append(out, registry.NormalizeMachineID(id))
	}
	return out
}

func normalizeSchedule(s *maintenance.Schedule) *maintenance.Schedule {
	out := &maintenance.Schedule{}
	for _, w := range s.GetWindows() {
		out.Windows = append(out.Windows, &maintenance.Window{MachineIds: normalizeMachines(w.GetMachineIds()), Unavailability: w.GetUnavailability()})
	}
	return out
}

// maintenanceUpdate validates a maintenance command against the registry
// (400 with Mesos' message, nothing proposed) and replicates it; reply gets
// nil once it is applied and acted upon.
func (m *Master) maintenanceUpdate(cmd *pb.Command, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	var err error
	switch k := cmd.Kind.(type) {
	case *pb.Command_UpdateMaintenanceSchedule:
		err = m.reg.ValidateSchedule(k.UpdateMaintenanceSchedule.GetSchedule())
	case *pb.Command_StartMaintenance:
		err = m.reg.ValidateStart(k.StartMaintenance.GetMachines())
	case *pb.Command_StopMaintenance:
		err = m.reg.ValidateStop(k.StopMaintenance.GetMachines())
	case *pb.Command_DrainAgent:
		err = m.knownAgentID(k.DrainAgent.GetAgentId().GetValue())
	case *pb.Command_DeactivateAgent:
		err = m.knownAgentID(k.DeactivateAgent.GetAgentId().GetValue())
	case *pb.Command_ReactivateAgent:
		id := k.ReactivateAgent.GetAgentId().GetValue()
		if err = m.knownAgentID(id); err == nil && !m.reg.AgentDeactivated(id) && m.reg.AgentDrain(id) == nil {
			err = fmt.Errorf("Agent %s is not deactivated", id)
		}
	}
	if err != nil {
		reply(fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	m.propose(cmd, func(err error) {
		if err != nil {
			reply(err)
			return
		}
		if d := cmd.GetDrainAgent(); d != nil {
			// A new drain: kill again whatever runs, even if an earlier
			// drain already asked.
			st := m.maint()
			if a := m.agents[d.GetAgentId().GetValue()]; a != nil {
				for k := range a.tasks {
					delete(st.killSent, k)
				}
			}
			delete(st.drained, d.GetAgentId().GetValue())
		}
		// Act now rather than at the next allocation tick: block agents,
		// rescind what changed, kill drained tasks.
		m.maintenanceCycle(time.Now(), nil)
		m.markAllDirty()
		m.version++
		reply(nil)
	})
}

// agentDeactivated reports whether an agent gets no offers because of the
// operator (DEACTIVATE_AGENT or a drain), as GET_AGENTS' `deactivated` says.
func (m *Master) agentDeactivated(id string) bool {
	return m.reg.AgentDeactivated(id) || m.reg.AgentDrain(id) != nil
}

// knownAgentID validates the agent ID of DRAIN/DEACTIVATE/REACTIVATE_AGENT.
func (m *Master) knownAgentID(id string) error {
	if id == "" {
		return fmt.Errorf("Expecting 'agent_id' to be present")
	}
	if ra, ok := m.reg.Agent(id); !ok || ra.GetState() == pb.RegistryAgent_GONE {
		return fmt.Errorf("Unknown agent %s", id)
	}
	return nil
}

// maintenanceRead builds GET_MAINTENANCE_SCHEDULE and GET_MAINTENANCE_STATUS
// responses on the loop; nil when not leading.
func (m *Master) maintenanceRead(t masterpb.Call_Type) *masterpb.Response {
	if !m.leaderOn {
		return nil
	}
	if t == masterpb.Call_GET_MAINTENANCE_SCHEDULE {
		return &masterpb.Response{Type: masterpb.Response_GET_MAINTENANCE_SCHEDULE.Enum(), GetMaintenanceSchedule: &masterpb.Response_GetMaintenanceSchedule{
			Schedule: m.maintenanceSchedule(),
		}}
	}
	return &masterpb.Response{Type: masterpb.Response_GET_MAINTENANCE_STATUS.Enum(), GetMaintenanceStatus: &masterpb.Response_GetMaintenanceStatus{
		Status: m.maintenanceStatus(),
	}}
}

func (m *Master) maintenanceSchedule() *maintenance.Schedule {
	if s := m.reg.Schedule(); s != nil {
		return proto.Clone(s).(*maintenance.Schedule)
	}
	return &maintenance.Schedule{}
}

// maintenanceStatus lists DRAINING machines with the inverse offer answers
// of the frameworks on their agents, and DOWN machines.
func (m *Master) maintenanceStatus() *maintenance.ClusterStatus {
	st := m.maint()
	out := &maintenance.ClusterStatus{}
	machines := m.reg.Machines()
	byMachine := map[string][]*allocpb.InverseOfferStatus{}
	idx := newMachineIndex(machines)
	for _, a := range m.sortedAgents() {
		mi := idx.lookup(a.info)
		if mi == nil {
			continue
		}
		byFw := st.statuses[a.id]
		fids := make([]string, 0, len(byFw))
		for fid := range byFw {
			fids = append(fids, fid)
		}
		sort.Strings(fids)
		k := registry.MachineKey(mi.GetId())
		for _, fid := range fids {
			byMachine[k] = append(byMachine[k], proto.Clone(byFw[fid]).(*allocpb.InverseOfferStatus))
		}
	}
	for _, mi := range machines {
		switch mi.GetMode() {
		case mesos.MachineInfo_DRAINING:
			out.DrainingMachines = append(out.DrainingMachines, &maintenance.ClusterStatus_DrainingMachine{
				Id:       proto.Clone(mi.GetId()).(*mesos.MachineID),
				Statuses: byMachine[registry.MachineKey(mi.GetId())],
			})
		case mesos.MachineInfo_DOWN:
			out.DownMachines = append(out.DownMachines, proto.Clone(mi.GetId()).(*mesos.MachineID))
		}
	}
	return out
}

// ---- legacy endpoints ----

// registerMaintenanceHandlers mounts /master/maintenance/schedule (GET; POST
// a JSON Schedule to replace it) and /master/maintenance/status (GET).
func (m *Master) registerMaintenanceHandlers(mux *http.ServeMux) {
	mux.HandleFunc("/master/maintenance/schedule", m.handleMaintenanceSchedule)
	mux.HandleFunc("/master/maintenance/status", m.handleMaintenanceStatus)
}

func (m *Master) handleMaintenanceSchedule(w http.ResponseWriter, r *http.Request) {
	if m.redirectToLeader(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		m.serveMaintenanceJSON(w, r, func() proto.Message { return m.maintenanceSchedule() })
	case http.MethodPost:
		var s maintenance.Schedule
		if _, ok := m.readCall(w, r, &s); !ok {
			return
		}
		cmd := &pb.Command{Kind: &pb.Command_UpdateMaintenanceSchedule{UpdateMaintenanceSchedule: &pb.UpdateMaintenanceSchedule{Schedule: normalizeSchedule(&s)}}}
		res, err := await(r.Context(), m, func(reply func(error)) { m.maintenanceUpdate(cmd, reply) })
		if err == nil {
			err = res
		}
		if err != nil {
			m.mapError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "Expecting a GET or POST request", http.StatusMethodNotAllowed)
	}
}

func (m *Master) handleMaintenanceStatus(w http.ResponseWriter, r *http.Request) {
	if m.redirectToLeader(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Expecting a GET request", http.StatusMethodNotAllowed)
		return
	}
	m.serveMaintenanceJSON(w, r, func() proto.Message { return m.maintenanceStatus() })
}

func (m *Master) serveMaintenanceJSON(w http.ResponseWriter, r *http.Request, read func() proto.Message) {
	if err := m.linearizable(r.Context()); err != nil {
		m.mapError(w, r, err)
		return
	}
	var msg proto.Message
	if err := m.do(r.Context(), func() {
		if m.leaderOn {
			msg = read()
		}
	}); err != nil {
		m.mapError(w, r, err)
		return
	}
	if msg == nil {
		m.mapError(w, r, ErrNotLeader)
		return
	}
	b, err := codec.JSON.Marshal(msg)
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", codec.ContentTypeJSON)
	_, _ = w.Write(b)
}
