package master

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// maxQueuedAgentEvents bounds what waits for a slow agent; past it the agent
// stream is cut and the agent re-registers with its full state.
const maxQueuedAgentEvents = 1 << 16

type taskKey struct{ framework, task string }

type usedKey struct{ framework, role string }

// agentConn is an agent's open subscription stream.
type agentConn struct {
	streamID string
	q        *queue[*pb.AgentEvent]
}

func (c *agentConn) close() { c.q.close() }

// agent is the loop's runtime view of an agent.
type agent struct {
	id   string
	info *mesos.AgentInfo
	conn *agentConn
	// recovered: known from the registry after a failover, not re-registered
	// yet. Reconciliation of its tasks gets no answer meanwhile (Mesos).
	recovered bool

	total            resources.Resources
	tasks            map[taskKey]*task
	offers           map[string]*offer
	registeredTime   time.Time
	reregisteredTime time.Time
	missedPings      int
	pingSeq          uint64
	version          string
}

// newAgent takes ownership of info.
func newAgent(info *mesos.AgentInfo, ntasks int) *agent {
	return &agent{
		id:     info.GetId().GetValue(),
		info:   info,
		tasks:  make(map[taskKey]*task, ntasks),
		offers: make(map[string]*offer),
	}
}

func newRecoveredAgent(info *mesos.AgentInfo) *agent {
	a := newAgent(proto.Clone(info).(*mesos.AgentInfo), 0)
	a.recovered = true
	return a
}

func (a *agent) sendEvent(ev *pb.AgentEvent) {
	if a.conn != nil {
		a.conn.q.push(ev)
	}
}

// agentSubscribeResult is what the agent SUBSCRIBE handler gets from the loop.
type agentSubscribeResult struct {
	conn    *agentConn
	agentID string
	// shutdown, when set, is sent as a SHUTDOWN event before closing: the
	// agent was removed and must register anew.
	shutdown string
	err      error
}

// agentSubscribe registers or re-registers an agent; reply runs on the loop.
func (m *Master) agentSubscribe(req *pb.AgentSubscribe, reply func(agentSubscribeResult)) {
	if !m.leaderOn {
		reply(agentSubscribeResult{err: ErrNotLeader})
		return
	}
	// The request was decoded for this call only: a re-registering agent's
	// info is taken as is; a new agent's is copied before its ID is set.
	info := req.GetInfo()
	if info == nil || info.GetId().GetValue() == "" {
		info = proto.Clone(info).(*mesos.AgentInfo)
	}
	total, err := resources.FromProto(info.GetResources())
	if err != nil {
		reply(agentSubscribeResult{err: fmt.Errorf("%w: agent resources: %v", ErrInvalid, err)})
		return
	}
	if m.agentMachineDown(info) {
		// Mesos refuses agents of machines that are DOWN for maintenance.
		reply(agentSubscribeResult{shutdown: "Machine is DOWN for maintenance"})
		return
	}
	id := info.GetId().GetValue()
	if id == "" {
		m.metrics.inc("master/messages_register_slave")
		seq := reserveSeq(m.reg.NextAgentSeq(), &m.agentSeqReserved)
		info.Id = &mesos.AgentID{Value: proto.String(fmt.Sprintf("%s-S%d", m.info.GetId(), seq))}
		m.propose(&pb.Command{Kind: &pb.Command_AdmitAgent{AdmitAgent: &pb.AdmitAgent{Info: info}}}, func(err error) {
			if err != nil {
				reply(agentSubscribeResult{err: err})
				return
			}
			m.metrics.inc("master/slave_registrations")
			m.attachAgent(info, total, req, false, reply)
		})
		return
	}
	m.metrics.inc("master/messages_reregister_slave")
	ra, known := m.reg.Agent(id)
	switch {
	case !known:
		// An agent the registry never saw (or garbage-collected): admit it
		// under its own ID rather than orphaning its running tasks.
		m.propose(&pb.Command{Kind: &pb.Command_AdmitAgent{AdmitAgent: &pb.AdmitAgent{Info: info}}}, func(err error) {
			if err != nil {
				reply(agentSubscribeResult{err: err})
				return
			}
			m.attachAgent(info, total, req, true, reply)
		})
	case ra.GetState() == pb.RegistryAgent_GONE:
		reply(agentSubscribeResult{shutdown: "Agent has been marked gone"})
	case ra.GetState() == pb.RegistryAgent_UNREACHABLE:
		m.propose(&pb.Command{Kind: &pb.Command_MarkAgentReachable{MarkAgentReachable: &pb.MarkAgentReachable{AgentId: info.GetId()}}}, func(err error) {
			if err != nil {
				reply(agentSubscribeResult{err: err})
				return
			}
			m.wasUnreachable[info.GetId().GetValue()] = true
			m.attachAgent(info, total, req, true, reply)
		})
	case !sameAgentInfo(ra.GetInfo(), info):
		m.propose(&pb.Command{Kind: &pb.Command_UpdateAgent{UpdateAgent: &pb.UpdateAgent{Info: info}}}, func(err error) {
			if err != nil {
				reply(agentSubscribeResult{err: err})
				return
			}
			m.attachAgent(info, total, req, true, reply)
		})
	default:
		m.attachAgent(info, total, req, true, reply)
	}
}

// attachAgent (re)builds the agent's runtime state from what it reports: the
// agent is the source of truth for the tasks it runs.
func (m *Master) attachAgent(info *mesos.AgentInfo, total resources.Resources, req *pb.AgentSubscribe, reregister bool, reply func(agentSubscribeResult)) {
	if !m.leaderOn {
		reply(agentSubscribeResult{err: ErrNotLeader})
		return
	}
	id := info.GetId().GetValue()
	a, existed := m.agents[id]
	if existed {
		if a.conn != nil {
			a.conn.close()
			a.conn = nil
		}
		for _, o := range a.offers {
			m.removeOffer(o, true, 0)
		}
		// A recovered agent (known from the registry after a master
		// restart) was never added to this leader's allocator.
		if !a.recovered {
			m.allocErr(m.alloc.RemoveAgent(id))
		}
		a.info = info // owned: see agentSubscribe
		a.reregisteredTime = time.Now()
		if reregister {
			m.metrics.inc("master/slave_reregistrations")
		}
	} else {
		a = newAgent(info, len(req.GetTasks()))
		a.registeredTime = time.Now()
		m.agents[id] = a
	}
	a.recovered = false
	a.total = total
	a.missedPings = 0
	a.version = req.GetVersion()
	conn := &agentConn{streamID: uuid.NewString(), q: newQueue[*pb.AgentEvent](maxQueuedAgentEvents)}
	a.conn = conn
	conn.q.push(&pb.AgentEvent{
		Type: pb.AgentEvent_REGISTERED.Enum(),
		Registered: &pb.AgentEvent_Registered{
			AgentId:             info.GetId(),
			MasterInfo:          m.info,
			PingIntervalSeconds: proto.Float64(m.cfg.AgentPingTimeout.Seconds()),
		},
	})
	// The registry's dynamic reservations and volumes win over what the
	// agent reports (it may have missed a CHECKPOINT_RESOURCES).
	total = m.syncAgentCheckpoint(a, total)

	m.allocErr(m.alloc.AddAgent(id, allocator.AgentInfo{Hostname: info.GetHostname()}, total))
	m.reconcileAgentTasks(a, req)
	m.markAgentDirty(id)
	m.version++
	m.log.Info("agent registered", "agent", id, "hostname", info.GetHostname(), "reregistered", reregister, "tasks", len(req.GetTasks()))
	reply(agentSubscribeResult{conn: conn, agentID: id})
}

// reconcileAgentTasks merges the tasks an agent reports with what the master
// knows. Tasks the master knows but the agent does not are sent back for
// reconciliation, and the agent answers them with terminal updates.
func (m *Master) reconcileAgentTasks(a *agent, req *pb.AgentSubscribe) {
	fromUnreachable := m.wasUnreachable[a.id]
	delete(m.wasUnreachable, a.id)
	// The reported framework infos are looked up only for frameworks this
	// master does not know (rare after a failover: frameworks are recovered
	// from the first agent reporting them), so index them on first need.
	var infos map[string]*mesos.FrameworkInfo
	// Only tasks the master already knew on this agent can be missing from
	// the report. A recovered or new agent has none (the common case after a
	// failover), so the set of reported tasks need not be built.
	var reported map[taskKey]bool
	if len(a.tasks) > 0 {
		reported = make(map[taskKey]bool, len(req.GetTasks()))
	}
	used := make(map[usedKey]resources.Resources)
	// Tasks of one agent mostly have identical resources: convert a list
	// only when it differs from the previous task's.
	var lastPB []*mesos.Resource
	var lastRes resources.Resources
	var lastErr error
	haveLast := false
	for _, rt := range req.GetTasks() {
		fid := rt.GetFrameworkId().GetValue()
		key := taskKey{fid, rt.GetTaskId().GetValue()}
		if reported != nil {
			reported[key] = true
		}
		f, ok := m.frameworks[fid]
		if ok && fromUnreachable && !f.partitionAware() {
			// The framework was told TASK_LOST when the agent became
			// unreachable; Mesos kills such tasks when the agent comes back
			// rather than resurrecting them. Their terminal updates reach the
			// framework as updates of unknown tasks.
			a.sendEvent(&pb.AgentEvent{
				Type:     pb.AgentEvent_KILL_TASK.Enum(),
				KillTask: &pb.AgentEvent_KillTask{FrameworkId: rt.GetFrameworkId(), TaskId: rt.GetTaskId()},
			})
			continue
		}
		if ok {
			if _, was := f.unreachable[key.task]; was {
				// A partition-aware task is back: the framework was told
				// TASK_UNREACHABLE, so tell it the task's state again.
				delete(f.unreachable, key.task)
				m.masterUpdate(f, rt.GetTaskId(), a.info.GetId(), rt.GetState(), mesos.TaskStatus_REASON_AGENT_REREGISTERED,
					"Agent "+a.id+" re-registered")
			}
		}
		if !ok {
			if m.reg.Completed(fid) {
				a.sendEvent(&pb.AgentEvent{
					Type:              pb.AgentEvent_SHUTDOWN_FRAMEWORK.Enum(),
					ShutdownFramework: &pb.AgentEvent_ShutdownFramework{FrameworkId: rt.GetFrameworkId()},
				})
				continue
			}
			if infos == nil {
				infos = make(map[string]*mesos.FrameworkInfo, len(req.GetFrameworks()))
				for _, fi := range req.GetFrameworks() {
					infos[fi.GetId().GetValue()] = fi
				}
			}
			fi := infos[fid]
			if fi == nil {
				fi = &mesos.FrameworkInfo{Id: rt.GetFrameworkId(), User: proto.String(rt.GetUser()), Name: proto.String("")}
			}
			f = newFramework(fi, m.cfg.MaxCompletedTasks)
			f.recovered = true
			m.frameworks[fid] = f
			m.addFrameworkToAllocator(f)
		}
		t, ok := f.tasks[key.task]
		if !ok {
			pbs := rt.GetResources()
			if !haveLast || !sameResourceList(lastPB, pbs) {
				lastPB, haveLast = pbs, true
				lastRes, lastErr = resources.FromProto(stripAllocation(pbs))
			}
			res, err := lastRes, lastErr
			if err != nil {
				m.log.Warn("agent reported a task with invalid resources; ignoring its resources", "agent", a.id, "task", key.task, "err", err)
			}
			// The request was decoded for this call only: take the task
			// rather than copy it (copies dominated re-registration storms).
			t = &task{agentID: a.id, role: taskRole(rt, f), res: res, t: rt}
			f.tasks[key.task] = t
		} else {
			t.t.State = rt.State
			if rt.StatusUpdateState != nil {
				t.t.StatusUpdateState = rt.StatusUpdateState
				t.t.StatusUpdateUuid = rt.StatusUpdateUuid
			}
			if len(rt.GetStatuses()) > 0 {
				t.t.Statuses = rt.GetStatuses()
			}
		}
		a.tasks[key] = t
		if isTerminal(t.state()) {
			t.resourcesRecovered = true
		} else {
			t.resourcesRecovered = false
			k := usedKey{f.id, t.role}
			used[k] = used[k].Add(t.res)
		}
		if t.killPending != nil {
			a.sendEvent(&pb.AgentEvent{
				Type:     pb.AgentEvent_KILL_TASK.Enum(),
				KillTask: &pb.AgentEvent_KillTask{FrameworkId: f.info.GetId(), TaskId: t.t.GetTaskId(), KillPolicy: t.killPending},
			})
			t.killPending = nil
		}
	}
	// One allocator update per (framework, role) instead of per task.
	keys := make([]usedKey, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].framework != keys[j].framework {
			return keys[i].framework < keys[j].framework
		}
		return keys[i].role < keys[j].role
	})
	for _, k := range keys {
		m.allocErr(m.alloc.AddUsed(k.framework, a.id, k.role, used[k]))
	}
	if reported == nil {
		return // every task on the agent was just reported
	}
	missing := make(map[string][]*mesos.TaskID)
	for key, t := range a.tasks {
		if !reported[key] {
			missing[key.framework] = append(missing[key.framework], t.t.GetTaskId())
			// The agent was just re-added to the allocator empty. Until the
			// agent answers with a terminal update these resources are in
			// use; untracked, that update's Recover would free another
			// task's resources and the agent would be over-offered.
			if !t.resourcesRecovered {
				m.allocErr(m.alloc.AddUsed(key.framework, a.id, t.role, t.res))
			}
		}
	}
	fids := make([]string, 0, len(missing))
	for fid := range missing {
		fids = append(fids, fid)
	}
	sort.Strings(fids)
	for _, fid := range fids {
		a.sendEvent(&pb.AgentEvent{
			Type: pb.AgentEvent_RECONCILE_TASKS.Enum(),
			ReconcileTasks: &pb.AgentEvent_ReconcileTasks{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(fid)},
				TaskIds:     missing[fid],
			},
		})
	}
}

// sameResourceList reports whether two resource lists are equal, allocation
// info included (FromProto ignores it, but equal lists convert equally).
func sameResourceList(a, b []*mesos.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if eq, sure := samePlainScalar(a[i], b[i]); sure {
			if !eq {
				return false
			}
			continue
		}
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// agentInfoFieldsKnown guards sameAgentInfo's hand-written fast path
// (AgentInfo: 3 internal + 6 proto fields; AgentID: 3 + 1).
var agentInfoFieldsKnown = reflect.TypeOf((*mesos.AgentInfo)(nil)).Elem().NumField() == 9 &&
	reflect.TypeOf((*mesos.AgentID)(nil)).Elem().NumField() == 4

// sameAgentInfo is proto.Equal(a, b) for agent infos, without reflection in
// the common case (no attributes, no domain): a re-registering agent's info
// is compared with the registry's on every re-registration.
func sameAgentInfo(a, b *mesos.AgentInfo) bool {
	if !agentInfoFieldsKnown || a == nil || b == nil ||
		len(a.Attributes) > 0 || len(b.Attributes) > 0 || a.Domain != nil || b.Domain != nil ||
		len(a.ProtoReflect().GetUnknown()) > 0 || len(b.ProtoReflect().GetUnknown()) > 0 ||
		(a.Id != nil && len(a.Id.ProtoReflect().GetUnknown()) > 0) ||
		(b.Id != nil && len(b.Id.ProtoReflect().GetUnknown()) > 0) {
		return proto.Equal(a, b)
	}
	if !sameString(a.Hostname, b.Hostname) ||
		(a.Port == nil) != (b.Port == nil) || (a.Port != nil && *a.Port != *b.Port) ||
		(a.Id == nil) != (b.Id == nil) || (a.Id != nil && !sameString(a.Id.Value, b.Id.Value)) {
		return false
	}
	return sameResourceList(a.Resources, b.Resources)
}

// resourceFieldsKnown guards samePlainScalar: it lists mesos.Resource's
// fields by hand, so it is only used while the struct has the fields it
// was written for (4 internal + 12 proto fields).
var resourceFieldsKnown = reflect.TypeOf((*mesos.Resource)(nil)).Elem().NumField() == 16

// samePlainScalar compares two plain scalar resources (name, type, scalar,
// role, allocation role; nothing else set) without reflection. sure is false
// when either is not of that shape and proto.Equal must decide.
func samePlainScalar(a, b *mesos.Resource) (eq, sure bool) {
	if !resourceFieldsKnown || !plainScalar(a) || !plainScalar(b) {
		return false, false
	}
	return sameString(a.Name, b.Name) &&
		*a.Type == *b.Type &&
		math.Float64bits(*a.Scalar.Value) == math.Float64bits(*b.Scalar.Value) &&
		sameString(a.Role, b.Role) &&
		(a.AllocationInfo == nil) == (b.AllocationInfo == nil) &&
		(a.AllocationInfo == nil || sameString(a.AllocationInfo.Role, b.AllocationInfo.Role)), true
}

func plainScalar(r *mesos.Resource) bool {
	return r != nil && r.Type != nil && r.Scalar != nil && r.Scalar.Value != nil &&
		r.ProviderId == nil && r.Ranges == nil && r.Set == nil && r.Reservation == nil &&
		r.Reservations == nil && r.Disk == nil && r.Revocable == nil && r.Shared == nil &&
		len(r.ProtoReflect().GetUnknown()) == 0 &&
		len(r.Scalar.ProtoReflect().GetUnknown()) == 0 &&
		(r.AllocationInfo == nil || len(r.AllocationInfo.ProtoReflect().GetUnknown()) == 0)
}

func sameString(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// taskRole recovers the role a task's resources were allocated to.
func taskRole(t *mesos.Task, f *framework) string {
	for _, r := range t.GetResources() {
		if ai := r.GetAllocationInfo(); ai != nil {
			return ai.GetRole()
		}
	}
	if roles := f.roles(); len(roles) > 0 {
		return roles[0]
	}
	return "*"
}

// agentDisconnected is called when an agent's stream ends. Its tasks keep
// running; the agent is expected back (pings keep counting).
func (m *Master) agentDisconnected(id, streamID string) {
	a, ok := m.agents[id]
	if !ok || a.conn == nil || a.conn.streamID != streamID {
		return
	}
	a.conn.close()
	a.conn = nil
	m.allocErr(m.alloc.DeactivateAgent(id))
	for _, o := range a.offers {
		m.removeOffer(o, true, 0)
	}
	m.version++
	m.log.Warn("agent disconnected", "agent", id)
}

// pingAgents runs every agent_ping_timeout: an agent that has not answered
// max_agent_ping_timeouts pings in a row (connected or not) is unreachable.
func (m *Master) pingAgents() {
	for _, a := range m.sortedAgents() {
		if a.recovered {
			continue
		}
		if a.missedPings >= m.cfg.MaxAgentPingTimeouts {
			m.scheduleUnreachable(a, "health check timed out")
			continue
		}
		a.missedPings++
		a.pingSeq++
		a.sendEvent(&pb.AgentEvent{Type: pb.AgentEvent_PING.Enum(), Ping: &pb.AgentEvent_Ping{Seq: proto.Uint64(a.pingSeq)}})
	}
}

// sortedFrameworks returns the active frameworks in ID order (deterministic
// output for state endpoints and tests).
func (m *Master) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(m.frameworks))
	for _, f := range m.frameworks {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *Master) sortedAgents() []*agent {
	out := make([]*agent, 0, len(m.agents))
	for _, a := range m.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// markUnreachable records the agent as unreachable and tells frameworks:
// TASK_UNREACHABLE for partition-aware ones, TASK_LOST for the others.
func (m *Master) markUnreachable(a *agent, why string) {
	m.log.Warn("marking agent unreachable", "agent", a.id, "reason", why)
	if a.conn != nil {
		a.conn.close()
		a.conn = nil
	}
	for _, o := range a.offers {
		m.removeOffer(o, true, 0)
	}
	if !a.recovered { // a recovered agent was never added to the allocator
		m.allocErr(m.alloc.RemoveAgent(a.id))
	}
	delete(m.agents, a.id)
	now := time.Now()
	for key, t := range a.tasks {
		f := m.frameworks[key.framework]
		if f == nil {
			continue
		}
		if isTerminal(t.state()) {
			m.removeTask(f, t)
			continue
		}
		state := mesos.TaskState_TASK_LOST
		if f.partitionAware() {
			state = mesos.TaskState_TASK_UNREACHABLE
		}
		t.setState(state, mesos.TaskStatus_REASON_AGENT_REMOVED.Enum(), "Agent "+a.id+" is unreachable: "+why)
		st := t.t.GetStatuses()[len(t.t.GetStatuses())-1]
		st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: proto.Int64(now.UnixNano())}
		m.countState(state)
		f.send(&scheduler.Event{Type: scheduler.Event_UPDATE.Enum(), Update: &scheduler.Event_Update{Status: proto.Clone(st).(*mesos.TaskStatus)}})
		if !f.partitionAware() {
			m.removeTask(f, t)
			continue
		}
		// Partition-aware tasks are unreachable, not gone: they are listed
		// as such and come back if the agent does.
		m.releaseTask(f, t)
		delete(f.tasks, t.id())
		f.addUnreachable(t.t)
	}
	m.version++
	m.propose(&pb.Command{Kind: &pb.Command_MarkAgentUnreachable{MarkAgentUnreachable: &pb.MarkAgentUnreachable{AgentId: a.info.GetId()}}}, func(err error) {
		if err != nil {
			m.log.Warn("could not record agent as unreachable", "agent", a.id, "err", err)
			return
		}
		m.metrics.inc("master/slave_unreachable_completed")
	})
}

// agentCall handles a call on an agent's stream.
func (m *Master) agentCall(streamID string, call *pb.AgentCall) error {
	if !m.leaderOn {
		return ErrNotLeader
	}
	a, ok := m.agents[call.GetAgentId().GetValue()]
	if !ok || a.conn == nil || a.conn.streamID != streamID {
		return fmt.Errorf("%w: agent %q stream %q", ErrUnknownAgentStream, call.GetAgentId().GetValue(), streamID)
	}
	a.missedPings = 0
	switch call.GetType() {
	case pb.AgentCall_STATUS_UPDATE:
		if call.StatusUpdate == nil {
			return fmt.Errorf("%w: STATUS_UPDATE without 'status_update'", ErrInvalid)
		}
		if len(call.GetStatusUpdate().GetStatus().GetUuid()) != 16 {
			return fmt.Errorf("%w: agent status updates must carry a 16-byte uuid", ErrInvalid)
		}
		m.statusUpdate(a, call.GetStatusUpdate())
	case pb.AgentCall_PONG:
	case pb.AgentCall_UNREGISTER:
		m.markUnreachable(a, "agent unregistered")
	default:
		return fmt.Errorf("%w: unknown agent call type %v", ErrInvalid, call.GetType())
	}
	return nil
}
