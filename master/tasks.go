package master

import (
	"bytes"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/healthcheck"
	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/master/validation"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// maxStatusesPerTask bounds Task.statuses (Mesos keeps the full history per
// task; a flapping health check would otherwise grow it without bound).
const maxStatusesPerTask = 32

// task is the master's view of one task: the Mesos Task plus bookkeeping.
type task struct {
	t       *mesos.Task
	agentID string
	role    string
	res     resources.Resources
	// resourcesRecovered: the task's resources went back to the allocator
	// (its latest state is terminal); the Task stays until acknowledged.
	resourcesRecovered bool
	// killPending: a KILL arrived while the agent was disconnected; it is
	// sent when the agent re-registers.
	killPending *mesos.KillPolicy
}

func (t *task) id() string             { return t.t.GetTaskId().GetValue() }
func (t *task) state() mesos.TaskState { return t.t.GetState() }
func (t *task) frameworkID() string    { return t.t.GetFrameworkId().GetValue() }
func (t *task) setState(s mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string) {
	t.t.State = s.Enum()
	t.t.Statuses = appendStatus(t.t.Statuses, &mesos.TaskStatus{
		TaskId:    t.t.GetTaskId(),
		State:     s.Enum(),
		Reason:    reason,
		Message:   proto.String(msg),
		Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
		AgentId:   t.t.GetAgentId(),
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	})
}

func appendStatus(list []*mesos.TaskStatus, s *mesos.TaskStatus) []*mesos.TaskStatus {
	// Labels and data stay out of the stored history (as in Mesos' state).
	c := proto.Clone(s).(*mesos.TaskStatus)
	c.Data = nil
	list = append(list, c)
	if over := len(list) - maxStatusesPerTask; over > 0 {
		list = append(list[:0:0], list[over:]...)
	}
	return list
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_KILLED,
		mesos.TaskState_TASK_ERROR, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_DROPPED,
		mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// masterUpdate sends a master-generated status update. Such updates carry no
// UUID and are not acknowledged; if the framework is disconnected they are
// lost, which is why frameworks reconcile.
func (m *Master) masterUpdate(f *framework, taskID *mesos.TaskID, agentID *mesos.AgentID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := &mesos.TaskStatus{
		TaskId:    taskID,
		State:     state.Enum(),
		Source:    mesos.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   proto.String(msg),
		AgentId:   agentID,
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	m.countState(state)
	f.send(&scheduler.Event{Type: scheduler.Event_UPDATE.Enum(), Update: &scheduler.Event_Update{Status: st}})
}

// stripAllocation drops allocation_info: the master tracks the role next to
// the resources, and a non-MULTI_ROLE framework's tasks never carry it.
// rs itself is returned when no resource carries it.
func stripAllocation(rs []*mesos.Resource) []*mesos.Resource {
	i := 0
	for i < len(rs) && rs[i].AllocationInfo == nil {
		i++
	}
	if i == len(rs) {
		return rs
	}
	out := make([]*mesos.Resource, len(rs))
	for i, r := range rs {
		if r.AllocationInfo == nil {
			out[i] = r
			continue
		}
		c := proto.Clone(r).(*mesos.Resource)
		c.AllocationInfo = nil
		out[i] = c
	}
	return out
}

// accept handles ACCEPT: offers are validated first (any failure fails every
// launch in the call), then each operation in order against the offers'
// combined resources. Whatever is left goes back with the call's filters.
func (m *Master) accept(f *framework, acc *scheduler.Call_Accept, now time.Time) {
	offers, err := m.validateOffers(f, acc.GetOfferIds())
	if err != nil {
		lost, reason := mesos.TaskState_TASK_LOST, mesos.TaskStatus_REASON_INVALID_OFFERS
		if f.partitionAware() {
			lost = mesos.TaskState_TASK_DROPPED
		}
		for _, op := range acc.GetOperations() {
			for _, ti := range launchTasks(op) {
				m.masterUpdate(f, ti.GetTaskId(), ti.GetAgentId(), lost, reason, "Task launched with invalid offers: "+err.Error())
			}
			if t := op.GetType(); t != mesos.Offer_Operation_LAUNCH && t != mesos.Offer_Operation_LAUNCH_GROUP {
				m.operationStatus(f, nil, op, mesos.OperationState_OPERATION_ERROR, "Operation attempted with invalid offers: "+err.Error(), resources.Resources{})
			}
		}
		// The valid offers among them are discarded, resources returned.
		for _, id := range acc.GetOfferIds() {
			if o, ok := f.offers[id.GetValue()]; ok {
				m.removeOffer(o, false, 0)
			}
		}
		m.metrics.inc("master/invalid_operations")
		return
	}
	agentID, role := offers[0].agentID, offers[0].role
	var available resources.Resources
	for _, o := range offers {
		available = available.Add(o.res)
		// Consumed offers are gone; their resources stay allocated to the
		// framework until handed back below or freed by a task's end.
		if o.timer != nil {
			o.timer.Stop()
		}
		delete(m.offers, o.id)
		delete(f.offers, o.id)
		if a := m.agents[o.agentID]; a != nil {
			delete(a.offers, o.id)
		}
	}
	a := m.agents[agentID]
	for _, op := range acc.GetOperations() {
		switch op.GetType() {
		case mesos.Offer_Operation_LAUNCH:
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				res, err := m.validateTask(f, a, ti, available)
				if err != nil {
					m.masterUpdate(f, ti.GetTaskId(), ti.GetAgentId(), mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, err.Error())
					m.metrics.inc("master/invalid_operations")
					continue
				}
				available = available.Subtract(res)
				m.launch(f, a, role, ti, res)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			for _, ti := range op.GetLaunchGroup().GetTaskGroup().GetTasks() {
				m.masterUpdate(f, ti.GetTaskId(), ti.GetAgentId(), mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_GROUP_INVALID,
					"LAUNCH_GROUP (task groups with the default executor) is not supported by this mesosd version")
			}
		case mesos.Offer_Operation_RESERVE, mesos.Offer_Operation_UNRESERVE,
			mesos.Offer_Operation_CREATE, mesos.Offer_Operation_DESTROY:
			// Applied at once (reservations.go): later operations of this
			// ACCEPT, a LAUNCH in particular, see the converted resources.
			available = m.acceptResourceOperation(f, a, role, op, available)
		default:
			m.log.Warn("dropping unsupported offer operation", "framework", f.id, "type", op.GetType().String())
			m.metrics.inc("master/invalid_operations")
			m.operationStatus(f, a, op, mesos.OperationState_OPERATION_ERROR,
				"operation "+op.GetType().String()+" is not supported by this mesosd version", resources.Resources{})
		}
	}
	m.metrics.inc("master/messages_accept")
	// Unused resources count as declined with the call's filters.
	if !available.IsEmpty() {
		m.allocErr(m.alloc.Recover(f.id, agentID, role, available, refuseDuration(acc.GetFilters()), now))
	}
	m.markAgentDirty(agentID)
	m.version++
}

// withAllocation copies rs with allocation_info{role} on every resource, as
// Mesos keeps a Task's resources internally whatever the framework sent:
// /master/state derives a task's "role" from it.
func withAllocation(rs []*mesos.Resource, role string) []*mesos.Resource {
	out := make([]*mesos.Resource, len(rs))
	for i, r := range rs {
		c := proto.Clone(r).(*mesos.Resource)
		c.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(role)}
		out[i] = c
	}
	return out
}

func launchTasks(op *mesos.Offer_Operation) []*mesos.TaskInfo {
	switch op.GetType() {
	case mesos.Offer_Operation_LAUNCH:
		return op.GetLaunch().GetTaskInfos()
	case mesos.Offer_Operation_LAUNCH_GROUP:
		return op.GetLaunchGroup().GetTaskGroup().GetTasks()
	}
	return nil
}

// validateTask checks a TaskInfo in Mesos' order; the first failure wins.
func (m *Master) validateTask(f *framework, a *agent, ti *mesos.TaskInfo, available resources.Resources) (resources.Resources, error) {
	id := ti.GetTaskId().GetValue()
	if err := validation.ID("task", id); err != nil {
		return resources.Resources{}, err
	}
	if _, dup := f.tasks[id]; dup {
		return resources.Resources{}, fmt.Errorf("Task has duplicate ID: %s", id)
	}
	if a == nil || ti.GetAgentId().GetValue() != a.id {
		return resources.Resources{}, fmt.Errorf("Task uses invalid agent: %s", ti.GetAgentId().GetValue())
	}
	if gp := ti.GetKillPolicy().GetGracePeriod(); gp != nil && gp.GetNanoseconds() < 0 {
		return resources.Resources{}, fmt.Errorf("Task's 'kill_policy.grace_period' must be non-negative")
	}
	if mct := ti.GetMaxCompletionTime(); mct != nil && mct.GetNanoseconds() < 0 {
		return resources.Resources{}, fmt.Errorf("Task's 'max_completion_time' must be non-negative")
	}
	if len(ti.GetResources()) == 0 {
		return resources.Resources{}, fmt.Errorf("Task uses no resources")
	}
	res, err := resources.FromProto(stripAllocation(ti.GetResources()))
	if err != nil {
		return resources.Resources{}, fmt.Errorf("Task uses invalid resources: %v", err)
	}
	hasCmd, hasExec := ti.Command != nil, ti.Executor != nil
	switch {
	case hasCmd == hasExec:
		return resources.Resources{}, fmt.Errorf("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
	case hasExec:
		return resources.Resources{}, fmt.Errorf("Tasks with a custom ExecutorInfo are not supported by this mesosd version; use a command task")
	}
	if ti.GetCommand().GetShell() && ti.GetCommand().Value == nil {
		return resources.Resources{}, fmt.Errorf("Task's 'command.value' must be set for shell commands")
	}
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		if v.GetName() == "" {
			return resources.Resources{}, fmt.Errorf("Task's environment variable names must not be empty")
		}
	}
	if hc := ti.GetHealthCheck(); hc != nil {
		if err := healthcheck.Validate(hc); err != nil {
			return resources.Resources{}, fmt.Errorf("Task uses invalid health check: %v", err)
		}
	}
	if c := ti.GetCheck(); c != nil {
		if err := healthcheck.ValidateCheck(c); err != nil {
			return resources.Resources{}, fmt.Errorf("Task uses invalid check: %v", err)
		}
	}
	if !available.Contains(res) {
		return resources.Resources{}, fmt.Errorf("Total resources %s required by task %s is more than available %s", res, id, available)
	}
	return res, nil
}

func (m *Master) launch(f *framework, a *agent, role string, ti *mesos.TaskInfo, res resources.Resources) {
	t := &task{
		agentID: a.id,
		role:    role,
		res:     res,
		t: &mesos.Task{
			Name:        ti.Name,
			TaskId:      ti.GetTaskId(),
			FrameworkId: f.info.GetId(),
			AgentId:     a.info.GetId(),
			State:       mesos.TaskState_TASK_STAGING.Enum(),
			Resources:   withAllocation(ti.GetResources(), role),
			Labels:      ti.GetLabels(),
			Discovery:   ti.GetDiscovery(),
			Container:   ti.GetContainer(),
			HealthCheck: ti.GetHealthCheck(),
			KillPolicy:  ti.GetKillPolicy(),
			Limits:      ti.GetLimits(),
		},
	}
	if u := ti.GetCommand().User; u != nil {
		t.t.User = u
	} else {
		t.t.User = f.info.User
	}
	f.tasks[t.id()] = t
	a.tasks[taskKey{f.id, t.id()}] = t
	m.countState(mesos.TaskState_TASK_STAGING)
	m.opTaskAdded(t)
	a.sendEvent(&pb.AgentEvent{
		Type:    pb.AgentEvent_RUN_TASK.Enum(),
		RunTask: &pb.AgentEvent_RunTask{Framework: f.info, Task: ti},
	})
	m.log.Info("launching task", "framework", f.id, "task", t.id(), "agent", a.id)
}

// statusUpdate handles an agent's reliable status update: the task's state
// follows it, resources are freed as soon as the latest state is terminal,
// and the update goes to the framework, which acknowledges it.
func (m *Master) statusUpdate(a *agent, u *pb.StatusUpdate) {
	st := u.GetStatus()
	fid := u.GetFrameworkId().GetValue()
	tid := st.GetTaskId().GetValue()
	f, ok := m.frameworks[fid]
	if !ok {
		m.metrics.inc("master/invalid_status_updates")
		if m.reg.Completed(fid) {
			// The framework is gone for good: nobody will ever acknowledge,
			// so stop the agent from retrying and make it clean up.
			a.sendEvent(&pb.AgentEvent{
				Type:              pb.AgentEvent_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &pb.AgentEvent_ShutdownFramework{FrameworkId: u.GetFrameworkId()},
			})
			a.sendEvent(ackEvent(u.GetFrameworkId(), st.GetTaskId(), st.GetUuid()))
		}
		return
	}
	m.metrics.inc("master/valid_status_updates")
	m.metrics.inc("master/messages_status_update")
	t, ok := f.tasks[tid]
	if ok {
		latest := st.GetState()
		if u.LatestState != nil {
			latest = u.GetLatestState()
		}
		if t.state() != latest {
			m.countState(latest)
		}
		t.t.State = latest.Enum()
		t.t.StatusUpdateState = st.State
		t.t.StatusUpdateUuid = st.GetUuid()
		t.t.Statuses = appendStatus(t.t.Statuses, st)
		if isTerminal(latest) {
			m.releaseTask(f, t)
		}
		m.version++
		m.opTaskUpdated(fid, st, latest)
	}
	if st.AgentId == nil {
		st.AgentId = a.info.GetId()
	}
	f.send(&scheduler.Event{Type: scheduler.Event_UPDATE.Enum(), Update: &scheduler.Event_Update{Status: st}})
}

// releaseTask returns a terminal task's resources to the allocator (once).
func (m *Master) releaseTask(f *framework, t *task) {
	if t.resourcesRecovered {
		return
	}
	t.resourcesRecovered = true
	m.allocErr(m.alloc.Recover(f.id, t.agentID, t.role, t.res, 0, time.Now()))
	m.markAgentDirty(t.agentID)
}

// removeTask forgets an active task (its terminal update was acknowledged).
func (m *Master) removeTask(f *framework, t *task) {
	m.releaseTask(f, t)
	delete(f.tasks, t.id())
	if a := m.agents[t.agentID]; a != nil {
		delete(a.tasks, taskKey{f.id, t.id()})
	}
	f.addCompleted(t.t)
	m.version++
}

func ackEvent(fid *mesos.FrameworkID, tid *mesos.TaskID, uuid []byte) *pb.AgentEvent {
	return &pb.AgentEvent{
		Type:        pb.AgentEvent_ACKNOWLEDGE.Enum(),
		Acknowledge: &pb.AgentEvent_Acknowledge{FrameworkId: fid, TaskId: tid, Uuid: uuid},
	}
}

func (m *Master) acknowledge(f *framework, ack *scheduler.Call_Acknowledge) {
	a, ok := m.agents[ack.GetAgentId().GetValue()]
	if !ok || a.conn == nil {
		// The agent resends the update after it re-registers; that one gets
		// acknowledged instead.
		m.metrics.inc("master/invalid_status_update_acknowledgements")
		return
	}
	m.metrics.inc("master/valid_status_update_acknowledgements")
	m.metrics.inc("master/messages_status_update_acknowledgement")
	a.sendEvent(ackEvent(f.info.GetId(), ack.GetTaskId(), ack.GetUuid()))
	if t, ok := f.tasks[ack.GetTaskId().GetValue()]; ok &&
		isTerminal(t.t.GetStatusUpdateState()) && bytes.Equal(t.t.GetStatusUpdateUuid(), ack.GetUuid()) {
		m.removeTask(f, t)
	}
}

func (m *Master) killTask(f *framework, k *scheduler.Call_Kill) {
	t, ok := f.tasks[k.GetTaskId().GetValue()]
	if !ok {
		// Unknown task: answer as explicit reconciliation would (Master::kill).
		m.reconcile(f, []*scheduler.Call_Reconcile_Task{{TaskId: k.GetTaskId(), AgentId: k.GetAgentId()}})
		return
	}
	if isTerminal(t.state()) {
		return
	}
	policy := k.GetKillPolicy()
	if policy == nil {
		policy = t.t.GetKillPolicy()
	}
	a := m.agents[t.agentID]
	if a == nil || a.conn == nil {
		if policy == nil {
			policy = &mesos.KillPolicy{}
		}
		t.killPending = policy
		return
	}
	a.sendEvent(&pb.AgentEvent{
		Type:     pb.AgentEvent_KILL_TASK.Enum(),
		KillTask: &pb.AgentEvent_KillTask{FrameworkId: f.info.GetId(), TaskId: t.t.GetTaskId(), KillPolicy: policy},
	})
}

// reconcile answers RECONCILE (Mesos' table, reference §3.5). Answers come
// from the master, carry no UUID and are not acknowledged.
func (m *Master) reconcile(f *framework, tasks []*scheduler.Call_Reconcile_Task) {
	send := func(st *mesos.TaskStatus) {
		st.Reason = mesos.TaskStatus_REASON_RECONCILIATION.Enum()
		st.Source = mesos.TaskStatus_SOURCE_MASTER.Enum()
		st.Message = proto.String("Reconciliation: Latest task state")
		st.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
		f.send(&scheduler.Event{Type: scheduler.Event_UPDATE.Enum(), Update: &scheduler.Event_Update{Status: st}})
	}
	known := func(t *task) *mesos.TaskStatus {
		state := t.state()
		if t.t.StatusUpdateState != nil {
			state = t.t.GetStatusUpdateState()
		}
		st := &mesos.TaskStatus{TaskId: t.t.GetTaskId(), State: state.Enum(), AgentId: t.t.GetAgentId()}
		if n := len(t.t.GetStatuses()); n > 0 {
			last := t.t.GetStatuses()[n-1]
			st.Healthy, st.CheckStatus, st.ContainerStatus = last.Healthy, last.CheckStatus, last.ContainerStatus
		}
		return st
	}
	if len(tasks) == 0 {
		for _, t := range sortedTasks(f) {
			send(known(t))
		}
		for _, ut := range f.unreachableTasks() {
			send(unreachableStatus(ut))
		}
		return
	}
	pa := f.partitionAware()
	for _, rt := range tasks {
		if t, ok := f.tasks[rt.GetTaskId().GetValue()]; ok {
			send(known(t))
			continue
		}
		if ut, ok := f.unreachable[rt.GetTaskId().GetValue()]; ok && pa {
			send(unreachableStatus(ut))
			continue
		}
		st := &mesos.TaskStatus{TaskId: rt.GetTaskId(), AgentId: rt.AgentId}
		state := mesos.TaskState_TASK_UNKNOWN
		if aid := rt.GetAgentId().GetValue(); aid != "" {
			ra, inRegistry := m.reg.Agent(aid)
			a, connectedOrRecovered := m.agents[aid]
			switch {
			case connectedOrRecovered && a.recovered:
				continue // no answer until the agent re-registers
			case inRegistry && ra.GetState() == pb.RegistryAgent_UNREACHABLE:
				state = mesos.TaskState_TASK_UNREACHABLE
				st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: proto.Int64(ra.GetStateTimeNs())}
			case inRegistry && ra.GetState() == pb.RegistryAgent_GONE:
				state = mesos.TaskState_TASK_GONE_BY_OPERATOR
			case connectedOrRecovered:
				state = mesos.TaskState_TASK_GONE
			}
		} else if m.anyRecoveredAgent() {
			continue
		}
		if !pa {
			state = mesos.TaskState_TASK_LOST
		}
		st.State = state.Enum()
		send(st)
	}
}

// unreachableStatus is the reconciliation answer for a task of an
// unreachable agent (partition-aware frameworks only).
func unreachableStatus(t *mesos.Task) *mesos.TaskStatus {
	st := &mesos.TaskStatus{TaskId: t.GetTaskId(), State: mesos.TaskState_TASK_UNREACHABLE.Enum(), AgentId: t.GetAgentId()}
	if n := len(t.GetStatuses()); n > 0 {
		st.UnreachableTime = t.GetStatuses()[n-1].GetUnreachableTime()
	}
	return st
}

func (m *Master) anyRecoveredAgent() bool {
	for _, a := range m.agents {
		if a.recovered {
			return true
		}
	}
	return false
}
