package master

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/master/registry"
	"github.com/mesosd/mesosd/master/validation"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// maxQueuedEvents bounds a slow subscriber's backlog; past it the stream is
// cut and the framework must re-subscribe and reconcile.
const maxQueuedEvents = 1 << 16

// subscription is one framework's open SUBSCRIBE stream.
type subscription struct {
	streamID string
	q        *queue[*scheduler.Event]
}

func (s *subscription) send(ev *scheduler.Event) bool { return s.q.push(ev) }
func (s *subscription) close()                        { s.q.close() }

// framework is the loop's runtime view of a framework.
type framework struct {
	id        string
	info      *mesos.FrameworkInfo
	sub       *subscription
	recovered bool // known from the registry or an agent, not re-subscribed yet

	registeredTime   time.Time
	reregisteredTime time.Time
	unregisteredTime time.Time

	tasks map[string]*task // non-terminal or terminal-but-unacknowledged
	// unreachable holds partition-aware tasks of unreachable agents, oldest
	// first in unreachableOrder; bounded like Mesos'
	// --max_unreachable_tasks_per_framework.
	unreachable      map[string]*mesos.Task
	unreachableOrder []string
	completed        []*mesos.Task // ring of finished tasks, newest last
	maxComplete      int
	offers           map[string]*offer

	failoverTimer *time.Timer
	failoverGen   uint64
	suppressed    map[string]bool
}

func newFramework(info *mesos.FrameworkInfo, maxComplete int) *framework {
	return &framework{
		id:          info.GetId().GetValue(),
		info:        proto.Clone(info).(*mesos.FrameworkInfo),
		tasks:       make(map[string]*task),
		unreachable: make(map[string]*mesos.Task),
		offers:      make(map[string]*offer),
		maxComplete: maxComplete,
		suppressed:  make(map[string]bool),
	}
}

func (f *framework) connected() bool { return f.sub != nil }
func (f *framework) roles() []string { return validation.FrameworkRoles(f.info) }

// firstRole is f.roles()[0], or "*" when there is none, without building
// the list (re-registration asks it for every task without allocation info).
func (f *framework) firstRole() string {
	if !f.has(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		return f.info.GetRole() // validation.FrameworkRoles: the one role
	}
	if roles := f.info.GetRoles(); len(roles) > 0 {
		return roles[0]
	}
	return "*"
}

func (f *framework) has(c mesos.FrameworkInfo_Capability_Type) bool {
	return validation.HasCapability(f.info, c)
}
func (f *framework) partitionAware() bool {
	return f.has(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

func (f *framework) stopTimers() {
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
		f.failoverTimer = nil
	}
	f.failoverGen++
}

func (f *framework) addCompleted(t *mesos.Task) {
	f.completed = append(f.completed, t)
	if over := len(f.completed) - f.maxComplete; over > 0 {
		f.completed = append(f.completed[:0:0], f.completed[over:]...)
	}
}

// maxUnreachableTasks is Mesos' --max_unreachable_tasks_per_framework default.
const maxUnreachableTasks = 1000

func (f *framework) addUnreachable(t *mesos.Task) {
	id := t.GetTaskId().GetValue()
	if _, ok := f.unreachable[id]; !ok {
		f.unreachableOrder = append(f.unreachableOrder, id)
	}
	f.unreachable[id] = t
	for len(f.unreachable) > maxUnreachableTasks && len(f.unreachableOrder) > 0 {
		delete(f.unreachable, f.unreachableOrder[0])
		f.unreachableOrder = f.unreachableOrder[1:]
	}
}

// unreachableTasks lists the unreachable tasks still tracked, oldest first.
func (f *framework) unreachableTasks() []*mesos.Task {
	out := make([]*mesos.Task, 0, len(f.unreachable))
	kept := f.unreachableOrder[:0]
	for _, id := range f.unreachableOrder {
		if t, ok := f.unreachable[id]; ok {
			out = append(out, t)
			kept = append(kept, id)
		}
	}
	f.unreachableOrder = kept // drop IDs of tasks that came back
	return out
}

func (f *framework) send(ev *scheduler.Event) {
	if f.sub == nil {
		return
	}
	f.sub.send(ev)
}

// subscribeResult is what the SUBSCRIBE handler gets back from the loop.
type subscribeResult struct {
	sub         *subscription
	frameworkID string
	// errorMessage, when set, is sent as an ERROR event before closing the
	// stream (Mesos answers such failures 200 + ERROR, not an HTTP error).
	errorMessage string
	err          error
}

// subscribe handles SUBSCRIBE on the loop; reply is called exactly once, on
// the loop, possibly after a Raft round trip.
func (m *Master) subscribe(call *scheduler.Call, reply func(subscribeResult)) {
	if !m.leaderOn {
		reply(subscribeResult{err: ErrNotLeader})
		return
	}
	info := proto.Clone(call.GetSubscribe().GetFrameworkInfo()).(*mesos.FrameworkInfo)
	if msg := m.checkRoles(info); msg != "" {
		reply(subscribeResult{errorMessage: msg})
		return
	}
	if info.GetUser() == "root" && !m.cfg.RootSubmissions {
		reply(subscribeResult{errorMessage: "User 'root' is not allowed to run frameworks without --root_submissions set"})
		return
	}
	m.metrics.inc("master/messages_register_framework")
	id := info.GetId().GetValue()
	if id != "" {
		if m.reg.Completed(id) {
			reply(subscribeResult{errorMessage: "Framework has been removed"})
			return
		}
		if f, ok := m.frameworks[id]; ok {
			m.resubscribe(f, info, call.GetSubscribe().GetSuppressedRoles(), reply)
			return
		}
		// Unknown ID: a framework failing over to a master that has not
		// heard of it (e.g. registry lost). Admit it under its own ID.
		suppressed := call.GetSubscribe().GetSuppressedRoles()
		m.propose(&pb.Command{Kind: &pb.Command_AddFramework{AddFramework: &pb.AddFramework{Info: info}}}, func(err error) {
			switch {
			case err == nil:
				m.attachNew(info, suppressed, reply)
			case m.reg.Completed(id):
				// A TEARDOWN (or failover timeout) of this ID was proposed
				// before this SUBSCRIBE and applied first.
				reply(subscribeResult{errorMessage: "Framework has been removed"})
			case errors.Is(err, registry.ErrRejected) && m.frameworks[id] != nil:
				// Two SUBSCRIBEs with the same unknown ID raced; the first
				// admitted it, so this one is a re-subscription.
				m.resubscribe(m.frameworks[id], info, suppressed, reply)
			default:
				reply(subscribeResult{err: err})
			}
		})
		return
	}
	seq := reserveSeq(m.reg.NextFrameworkSeq(), &m.fwSeqReserved)
	info.Id = &mesos.FrameworkID{Value: proto.String(fmt.Sprintf("%s-%04d", m.info.GetId(), seq))}
	m.propose(&pb.Command{Kind: &pb.Command_AddFramework{AddFramework: &pb.AddFramework{Info: info}}}, func(err error) {
		if err != nil {
			reply(subscribeResult{err: err})
			return
		}
		m.attachNew(info, call.GetSubscribe().GetSuppressedRoles(), reply)
	})
}

func (m *Master) attachNew(info *mesos.FrameworkInfo, suppressed []string, reply func(subscribeResult)) {
	if !m.leaderOn {
		reply(subscribeResult{err: ErrNotLeader})
		return
	}
	f := newFramework(info, m.cfg.MaxCompletedTasks)
	f.registeredTime = time.Now()
	m.frameworks[f.id] = f
	for _, r := range suppressed {
		f.suppressed[r] = true
	}
	m.addFrameworkToAllocator(f)
	m.connect(f, reply)
	m.opFrameworkAdded(f)
	m.log.Info("framework registered", "framework", f.id, "name", info.GetName())
}

func (m *Master) resubscribe(f *framework, info *mesos.FrameworkInfo, suppressed []string, reply func(subscribeResult)) {
	// A re-SUBSCRIBE silently keeps the original user and checkpoint (Mesos).
	info.User = f.info.User
	info.Checkpoint = f.info.Checkpoint
	changed := !proto.Equal(info, f.info)
	hadDeadline := false
	if rf, ok := m.reg.Framework(f.id); ok && rf.GetFailoverDeadlineNs() != 0 {
		hadDeadline = true
	}
	finish := func(err error) {
		if err != nil {
			reply(subscribeResult{err: err})
			return
		}
		if cur, ok := m.frameworks[f.id]; !ok || cur != f {
			reply(subscribeResult{errorMessage: "Framework has been removed"})
			return
		}
		if f.sub != nil {
			// Only one subscription per framework: the old stream learns
			// why it is being closed.
			f.sub.send(errorEvent("Framework failed over"))
			f.sub.close()
			f.sub = nil
		}
		f.stopTimers()
		f.info = info
		f.recovered = false
		f.reregisteredTime = time.Now()
		f.suppressed = make(map[string]bool)
		for _, r := range suppressed {
			f.suppressed[r] = true
		}
		// Offers never survive a re-subscription: rescind and regenerate.
		for _, o := range f.offers {
			m.removeOffer(o, true, 0)
		}
		m.allocErr(m.alloc.RemoveFramework(f.id))
		m.addFrameworkToAllocator(f)
		m.connect(f, reply)
		m.opFrameworkUpdated(f)
		m.log.Info("framework re-subscribed", "framework", f.id)
	}
	switch {
	case changed:
		m.propose(&pb.Command{Kind: &pb.Command_UpdateFramework{UpdateFramework: &pb.UpdateFramework{Info: info}}}, func(err error) {
			if err != nil || !hadDeadline {
				finish(err)
				return
			}
			m.propose(reconnectCmd(f.id), finish)
		})
	case hadDeadline:
		m.propose(reconnectCmd(f.id), finish)
	default:
		finish(nil)
	}
}

func reconnectCmd(id string) *pb.Command {
	return &pb.Command{Kind: &pb.Command_ReconnectFramework{ReconnectFramework: &pb.ReconnectFramework{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(id)},
	}}}
}

// connect opens a new subscription whose first event is SUBSCRIBED.
func (m *Master) connect(f *framework, reply func(subscribeResult)) {
	sub := &subscription{streamID: uuid.NewString(), q: newQueue[*scheduler.Event](maxQueuedEvents)}
	f.sub = sub
	f.unregisteredTime = time.Time{}
	sub.send(&scheduler.Event{
		Type: scheduler.Event_SUBSCRIBED.Enum(),
		Subscribed: &scheduler.Event_Subscribed{
			FrameworkId:              f.info.GetId(),
			HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
			MasterInfo:               m.info,
		},
	})
	m.allocErr(m.alloc.ActivateFramework(f.id))
	m.markAllDirty()
	m.version++
	reply(subscribeResult{sub: sub, frameworkID: f.id})
}

func (m *Master) addFrameworkToAllocator(f *framework) {
	fw := allocator.Framework{Roles: f.roles(), Active: f.connected()}
	for c, flag := range map[mesos.FrameworkInfo_Capability_Type]allocator.Capabilities{
		mesos.FrameworkInfo_Capability_MULTI_ROLE:             allocator.MultiRole,
		mesos.FrameworkInfo_Capability_GPU_RESOURCES:          allocator.GPUResources,
		mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES:    allocator.RevocableResources,
		mesos.FrameworkInfo_Capability_SHARED_RESOURCES:       allocator.SharedResources,
		mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT: allocator.ReservationRefinement,
		mesos.FrameworkInfo_Capability_PARTITION_AWARE:        allocator.PartitionAware,
		mesos.FrameworkInfo_Capability_REGION_AWARE:           allocator.RegionAware,
	} {
		if f.has(c) {
			fw.Capabilities |= flag
		}
	}
	for r := range f.suppressed {
		fw.SuppressedRoles = append(fw.SuppressedRoles, r)
	}
	fw.MinAllocatable = offerFilterMinimums(f.info)
	sort.Strings(fw.SuppressedRoles)
	m.allocErr(m.alloc.AddFramework(f.id, fw))
	for _, t := range f.tasks {
		if !t.resourcesRecovered {
			m.allocErr(m.alloc.AddUsed(f.id, t.agentID, t.role, t.res))
		}
	}
}

// frameworkDisconnected is called when a subscription stream ends.
func (m *Master) frameworkDisconnected(id, streamID string) {
	f, ok := m.frameworks[id]
	if !ok || f.sub == nil || f.sub.streamID != streamID {
		return // a newer subscription replaced it
	}
	f.sub.close()
	f.sub = nil
	f.unregisteredTime = time.Now()
	m.allocErr(m.alloc.DeactivateFramework(f.id))
	for _, o := range f.offers {
		m.removeOffer(o, false, 0)
	}
	m.version++
	m.opFrameworkUpdated(f)
	timeout := time.Duration(f.info.GetFailoverTimeout() * float64(time.Second))
	m.log.Info("framework disconnected", "framework", id, "failover_timeout", timeout)
	deadline := time.Now().Add(timeout)
	m.propose(&pb.Command{Kind: &pb.Command_DisconnectFramework{DisconnectFramework: &pb.DisconnectFramework{
		FrameworkId:        f.info.GetId(),
		FailoverDeadlineNs: proto.Int64(deadline.UnixNano()),
	}}}, func(err error) {
		if err != nil {
			m.log.Warn("could not record framework disconnection", "framework", id, "err", err)
		}
		if cur, ok := m.frameworks[id]; ok && cur == f && f.sub == nil {
			m.armFailoverTimer(f, time.Until(deadline))
		}
	})
}

func (m *Master) armFailoverTimer(f *framework, d time.Duration) {
	f.stopTimers()
	gen := f.failoverGen
	if d < 0 {
		d = 0
	}
	f.failoverTimer = m.after(d, func() {
		cur, ok := m.frameworks[f.id]
		if !ok || cur != f || f.failoverGen != gen || f.sub != nil || !m.leaderOn {
			return
		}
		m.log.Info("framework failover timeout expired; removing it", "framework", f.id)
		m.removeFramework(f, "framework failover timeout")
	})
}

// removeFramework tears a framework down: its tasks are killed on the agents,
// its offers rescinded, and its ID recorded as completed in the registry.
func (m *Master) removeFramework(f *framework, why string) {
	f.stopTimers()
	if f.sub != nil {
		f.sub.close()
		f.sub = nil
	}
	for _, o := range f.offers {
		m.removeOffer(o, false, 0)
	}
	notified := make(map[string]bool)
	for _, t := range sortedTasks(f) {
		if a, ok := m.agents[t.agentID]; ok && !notified[a.id] {
			notified[a.id] = true
			a.sendEvent(&pb.AgentEvent{
				Type:              pb.AgentEvent_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &pb.AgentEvent_ShutdownFramework{FrameworkId: f.info.GetId()},
			})
		}
		if !isTerminal(t.state()) {
			t.setState(mesos.TaskState_TASK_KILLED, mesos.TaskStatus_REASON_FRAMEWORK_REMOVED.Enum(), why)
			m.countState(mesos.TaskState_TASK_KILLED)
			m.opTaskStateChanged(t)
		}
		// Completed frameworks list their tasks as completed, and the
		// agents must not keep them: a re-registering agent would otherwise
		// be asked to reconcile tasks of a framework that no longer exists.
		m.removeTask(f, t)
	}
	m.allocErr(m.alloc.RemoveFramework(f.id))
	delete(m.frameworks, f.id)
	m.completedFrameworks = append(m.completedFrameworks, f)
	if n := len(m.completedFrameworks) - 50; n > 0 {
		m.completedFrameworks = m.completedFrameworks[n:]
	}
	m.version++
	m.markAllDirty()
	m.opFrameworkRemoved(f.info)
	m.propose(&pb.Command{Kind: &pb.Command_RemoveFramework{RemoveFramework: &pb.RemoveFramework{FrameworkId: f.info.GetId()}}}, func(err error) {
		if err != nil {
			m.log.Warn("could not record framework removal", "framework", f.id, "err", err)
		}
	})
	m.log.Info("framework removed", "framework", f.id, "reason", why)
}

func errorEvent(msg string) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_ERROR.Enum(), Error: &scheduler.Event_Error{Message: proto.String(msg)}}
}

// frameworkCall resolves the framework of a non-SUBSCRIBE call and checks its
// stream ID, with Mesos' status semantics.
func (m *Master) frameworkCall(call *scheduler.Call, streamID string) (*framework, error) {
	if !m.leaderOn {
		return nil, ErrNotLeader
	}
	id := call.GetFrameworkId().GetValue()
	f, ok := m.frameworks[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFramework, id)
	}
	if f.sub == nil {
		return nil, fmt.Errorf("%w: framework %q is not connected", ErrNotSubscribed, id)
	}
	if streamID == "" {
		return nil, fmt.Errorf("%w: All non-subscribe calls should include the 'Mesos-Stream-Id' header", ErrInvalid)
	}
	if f.sub.streamID != streamID {
		return nil, fmt.Errorf("%w: the stream ID %q included in this request didn't match the stream ID currently associated with framework ID %q", ErrInvalid, streamID, id)
	}
	return f, nil
}

// schedulerCall dispatches every non-SUBSCRIBE call. It runs on the loop.
func (m *Master) schedulerCall(call *scheduler.Call, streamID string) error {
	f, err := m.frameworkCall(call, streamID)
	if err != nil {
		return err
	}
	now := time.Now()
	switch call.GetType() {
	case scheduler.Call_TEARDOWN:
		m.metrics.inc("master/messages_unregister_framework")
		m.removeFramework(f, "framework teardown")
	case scheduler.Call_ACCEPT:
		m.metrics.inc("master/messages_launch_tasks")
		m.accept(f, call.GetAccept(), now)
	case scheduler.Call_DECLINE:
		m.metrics.inc("master/messages_decline_offers")
		m.decline(f, call.GetDecline().GetOfferIds(), call.GetDecline().GetFilters())
	case scheduler.Call_ACCEPT_INVERSE_OFFERS, scheduler.Call_DECLINE_INVERSE_OFFERS:
		m.inverseOfferResponse(f, call, now) // maintenance.go
	case scheduler.Call_REVIVE:
		m.metrics.inc("master/messages_revive_offers")
		roles := call.GetRevive().GetRoles()
		for _, r := range roles {
			delete(f.suppressed, r)
		}
		if len(roles) == 0 {
			f.suppressed = make(map[string]bool)
		}
		m.allocErr(m.alloc.Revive(f.id, roles))
		m.markAllDirty()
	case scheduler.Call_SUPPRESS:
		m.metrics.inc("master/messages_suppress_offers")
		roles := call.GetSuppress().GetRoles()
		if len(roles) == 0 {
			roles = f.roles()
		}
		for _, r := range roles {
			f.suppressed[r] = true
		}
		m.allocErr(m.alloc.Suppress(f.id, roles))
	case scheduler.Call_KILL:
		m.metrics.inc("master/messages_kill_task")
		m.killTask(f, call.GetKill())
	case scheduler.Call_SHUTDOWN:
		// Custom executors are not supported yet, so there is no executor
		// to shut down; Mesos ignores unknown executors the same way.
		m.metrics.inc("master/messages_shutdown_executor")
	case scheduler.Call_ACKNOWLEDGE:
		m.acknowledge(f, call.GetAcknowledge())
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		// Operations finish when their registry command commits, and their
		// statuses carry no UUID (like master-generated task updates), so
		// there is nothing to acknowledge; Mesos ignores unknown ones too.
	case scheduler.Call_RECONCILE_OPERATIONS:
		m.reconcileOperations(f, call.GetReconcileOperations().GetOperations())
	case scheduler.Call_RECONCILE:
		m.metrics.inc("master/messages_reconcile_tasks")
		m.reconcile(f, call.GetReconcile().GetTasks())
	case scheduler.Call_MESSAGE:
		m.metrics.inc("master/messages_framework_to_executor")
	case scheduler.Call_REQUEST:
		// The built-in allocator ignores requests, as in Mesos.
		m.metrics.inc("master/messages_resource_request")
	case scheduler.Call_UPDATE_FRAMEWORK:
		return fmt.Errorf("%w: UPDATE_FRAMEWORK must be handled synchronously", ErrInvalid)
	default:
		return fmt.Errorf("%w: unsupported call type %v", ErrInvalid, call.GetType())
	}
	return nil
}

// updateFramework handles UPDATE_FRAMEWORK: the new FrameworkInfo is
// replicated, then applied; principal, user and checkpoint may not change.
func (m *Master) updateFramework(call *scheduler.Call, streamID string, reply func(error)) {
	f, err := m.frameworkCall(call, streamID)
	if err != nil {
		reply(err)
		return
	}
	info := proto.Clone(call.GetUpdateFramework().GetFrameworkInfo()).(*mesos.FrameworkInfo)
	switch {
	case info.GetPrincipal() != f.info.GetPrincipal():
		reply(fmt.Errorf("%w: UPDATE_FRAMEWORK may not change 'principal'", ErrInvalid))
		return
	case info.GetUser() != f.info.GetUser():
		reply(fmt.Errorf("%w: UPDATE_FRAMEWORK may not change 'user'", ErrInvalid))
		return
	case info.GetCheckpoint() != f.info.GetCheckpoint():
		reply(fmt.Errorf("%w: UPDATE_FRAMEWORK may not change 'checkpoint'", ErrInvalid))
		return
	}
	suppressed := call.GetUpdateFramework().GetSuppressedRoles()
	m.propose(&pb.Command{Kind: &pb.Command_UpdateFramework{UpdateFramework: &pb.UpdateFramework{Info: info}}}, func(err error) {
		if err != nil {
			reply(err)
			return
		}
		if cur, ok := m.frameworks[f.id]; !ok || cur != f {
			reply(fmt.Errorf("%w: framework %q was removed", ErrUnknownFramework, f.id))
			return
		}
		f.info = info
		f.suppressed = make(map[string]bool)
		for _, r := range suppressed {
			f.suppressed[r] = true
		}
		// Offers to roles the framework left are no longer valid.
		roles := make(map[string]bool)
		for _, r := range f.roles() {
			roles[r] = true
		}
		for _, o := range f.offers {
			if !roles[o.role] {
				m.removeOffer(o, true, 0)
			}
		}
		m.allocErr(m.alloc.RemoveFramework(f.id))
		m.addFrameworkToAllocator(f)
		m.markAllDirty()
		m.version++
		m.opFrameworkUpdated(f)
		reply(nil)
	})
}

// reconcileOperations answers RECONCILE_OPERATIONS. Operations on agent
// resources complete (or fail) synchronously in the master, so none is ever
// pending: implicit reconciliation has nothing to report, and each explicitly
// named operation is unknown by now (OPERATION_UNKNOWN, or what is known of
// its agent, as Mesos answers for operations it no longer tracks).
func (m *Master) reconcileOperations(f *framework, ops []*scheduler.Call_ReconcileOperations_Operation) {
	for _, op := range ops {
		state := mesos.OperationState_OPERATION_UNKNOWN
		if aid := op.GetAgentId().GetValue(); aid != "" {
			if ra, ok := m.reg.Agent(aid); ok {
				switch ra.GetState() {
				case pb.RegistryAgent_UNREACHABLE:
					state = mesos.OperationState_OPERATION_UNREACHABLE
				case pb.RegistryAgent_GONE:
					state = mesos.OperationState_OPERATION_GONE_BY_OPERATOR
				}
			}
		}
		f.send(&scheduler.Event{
			Type: scheduler.Event_UPDATE_OPERATION_STATUS.Enum(),
			UpdateOperationStatus: &scheduler.Event_UpdateOperationStatus{Status: &mesos.OperationStatus{
				OperationId: op.GetOperationId(),
				State:       state.Enum(),
				AgentId:     op.GetAgentId(),
				Message:     proto.String("Reconciliation: operation is not pending"),
			}},
		})
	}
}

// offerFilterMinimums converts FrameworkInfo.offer_filters'
// min_allocatable_resources (per role, alternatives of quantities) into the
// allocator's form. Validation already rejected negative amounts.
func offerFilterMinimums(info *mesos.FrameworkInfo) map[string][]resources.Quantities {
	var out map[string][]resources.Quantities
	for role, f := range info.GetOfferFilters() {
		for _, alt := range f.GetMinAllocatableResources().GetQuantities() {
			amounts := make(map[string]float64, len(alt.GetQuantities()))
			for name, v := range alt.GetQuantities() {
				amounts[name] = v.GetValue()
			}
			q, err := resources.QuantitiesFromFloats(amounts)
			if err != nil {
				continue
			}
			if out == nil {
				out = make(map[string][]resources.Quantities)
			}
			out[role] = append(out[role], q)
		}
	}
	return out
}

// checkRoles enforces --roles, Mesos' role whitelist.
func (m *Master) checkRoles(info *mesos.FrameworkInfo) string {
	if len(m.cfg.Roles) == 0 {
		return ""
	}
	for _, r := range validation.FrameworkRoles(info) {
		if r != "*" && !slices.Contains(m.cfg.Roles, r) {
			return fmt.Sprintf("Role '%s' is not present in the master's --roles", r)
		}
	}
	return ""
}
