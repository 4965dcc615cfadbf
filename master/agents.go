package master

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/proto/codec"
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
		// Unchanged: keep the registry's equal info (replaced on update,
		// never modified) and let the decoded one go, rather than holding
		// a second copy of every agent's info after a failover.
		m.attachAgent(ra.GetInfo(), total, req, true, reply)
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
	// Operator streams see an agent added when it registers, or when a
	// recovered one (known only from the registry) re-registers.
	added := !existed || a.recovered
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
		if a.recovered && len(a.tasks) == 0 {
			// Made empty from the registry: size it for the report.
			a.tasks = make(map[taskKey]*task, len(req.GetTasks()))
		}
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
	if added {
		m.opAgentAdded(a)
	}
	m.log.Info("agent registered", "agent", id, "hostname", info.GetHostname(), "reregistered", reregister, "tasks", len(req.GetTasks()))
	reply(agentSubscribeResult{conn: conn, agentID: id})
}

// reconcileAgentTasks merges the tasks an agent reports with what the master
// knows. Tasks the master knows but the agent does not are sent back for
// reconciliation, and the agent answers them with terminal updates.
//
// A re-registration storm after a failover runs this for every task of the
// cluster, so it avoids per-task work and garbage: the request was decoded
// for this call only and its tasks are taken, not copied; equal resource
// lists are converted once and then shared between the agent's tasks (the
// task messages are never modified in place, only their fields replaced);
// and the allocator is told once per (framework, role).
func (m *Master) reconcileAgentTasks(a *agent, req *pb.AgentSubscribe) {
	fromUnreachable := m.wasUnreachable[a.id]
	delete(m.wasUnreachable, a.id)
	reportedTasks := req.GetTasks()
	// The reported framework infos are looked up only for frameworks this
	// master does not know (rare after a failover: frameworks are recovered
	// from the first agent reporting them), so index them on first need.
	var infos map[string]*mesos.FrameworkInfo
	// Only tasks the master already knew on this agent can be missing from
	// the report. A recovered or new agent has none (the common case after a
	// failover), so the set of reported tasks need not be built.
	var reported map[taskKey]bool
	if len(a.tasks) > 0 {
		reported = make(map[taskKey]bool, len(reportedTasks))
	}
	var shapes resourceShapes
	var used usedSums
	ids := newIDSharer(a)
	for _, rt := range reportedTasks {
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
		if ok && len(f.unreachable) > 0 {
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
		shape := -1
		if !ok {
			var res resources.Resources
			var err error
			shape, res, err = shapes.lookup(rt)
			if err != nil {
				m.log.Warn("agent reported a task with invalid resources; ignoring its resources", "agent", a.id, "task", key.task, "err", err)
			}
			// The request was decoded for this call only: take the task
			// rather than copy it (copies dominated re-registration storms),
			// and let it share the IDs the master holds anyway.
			ids.share(rt, f)
			t = &task{agentID: a.id, role: taskRole(rt, f), res: res, t: rt}
			f.tasks[key.task] = t
			m.opTaskAdded(t)
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
			used.add(usedKey{f.id, t.role}, shape, t.res)
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
	used.each(&shapes, func(k usedKey, res resources.Resources) {
		m.allocErr(m.alloc.AddUsed(k.framework, a.id, k.role, res))
	})
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

// maxResourceShapes bounds the distinct resource lists resourceShapes keeps
// for one report; tasks of further shapes are converted one by one.
const maxResourceShapes = 4

// resourceShapes converts the resource lists of one agent's reported tasks.
// An agent's tasks mostly come in a few shapes: each distinct list is
// converted once, and the tasks that report an equal list are given the
// first one, so the master keeps one copy per shape instead of one per task.
type resourceShapes struct {
	n    int
	last int
	s    [maxResourceShapes]resourceShape
}

type resourceShape struct {
	pbs []*mesos.Resource
	res resources.Resources
	err error
}

// lookup returns the task's resources (without allocation info), converted,
// and the index of its shape (-1 when none was kept). A task whose list
// equals a kept one is made to share it.
func (rs *resourceShapes) lookup(t *mesos.Task) (int, resources.Resources, error) {
	pbs := t.GetResources()
	for k := range rs.n {
		i := (rs.last + k) % rs.n // the previous task's shape first
		sh := &rs.s[i]
		if !sameResourceList(sh.pbs, pbs) {
			continue
		}
		if len(pbs) > 0 && &pbs[0] != &sh.pbs[0] {
			t.Resources = sh.pbs
		}
		rs.last = i
		return i, sh.res, sh.err
	}
	res, err := resources.FromProto(stripAllocation(pbs))
	if rs.n == len(rs.s) {
		return -1, res, err
	}
	rs.s[rs.n] = resourceShape{pbs: pbs, res: res, err: err}
	rs.last = rs.n
	rs.n++
	return rs.last, res, err
}

// usedSums adds up the resources of one agent's active tasks per (framework,
// role). Tasks of a kept shape are counted rather than added one by one, and
// a shape's multiples are computed once for all the keys that need them
// (Resources.Add allocates; scalars are fixed point, so k·r by doubling is
// exactly r added k times). The first keys live in the struct itself, which
// stays on the caller's stack.
type usedSums struct {
	n     int
	small [8]usedSum
	more  []*usedSum // past len(small), with index
	index map[usedKey]*usedSum
}

type usedSum struct {
	key    usedKey
	counts [maxResourceShapes]int
	other  resources.Resources // tasks of no kept shape
}

func (u *usedSums) entry(k usedKey) *usedSum {
	for i := range u.n {
		if u.small[i].key == k {
			return &u.small[i]
		}
	}
	if e := u.index[k]; e != nil {
		return e
	}
	if u.n < len(u.small) {
		u.small[u.n] = usedSum{key: k}
		u.n++
		return &u.small[u.n-1]
	}
	if u.index == nil {
		u.index = make(map[usedKey]*usedSum)
	}
	e := &usedSum{key: k}
	u.more = append(u.more, e)
	u.index[k] = e
	return e
}

func (u *usedSums) add(k usedKey, shape int, res resources.Resources) {
	e := u.entry(k)
	if shape >= 0 {
		e.counts[shape]++
		return
	}
	e.other = e.other.Add(res)
}

// each calls f once per (framework, role), in key order, with its sum.
func (u *usedSums) each(rs *resourceShapes, f func(usedKey, resources.Resources)) {
	var memo [2 * maxResourceShapes]struct {
		shape, n int
		res      resources.Resources
	}
	nmemo := 0
	times := func(shape, n int) resources.Resources {
		for i := range nmemo {
			if memo[i].shape == shape && memo[i].n == n {
				return memo[i].res
			}
		}
		r := scaleResources(rs.s[shape].res, n)
		if nmemo < len(memo) {
			memo[nmemo].shape, memo[nmemo].n, memo[nmemo].res = shape, n, r
			nmemo++
		}
		return r
	}
	sum := func(e *usedSum) resources.Resources {
		out := e.other
		for shape, n := range e.counts {
			if n > 0 {
				out = out.Add(times(shape, n))
			}
		}
		return out
	}
	if len(u.more) == 0 {
		// Insertion sort: a handful of keys, and no allocation.
		for i := 1; i < u.n; i++ {
			for j := i; j > 0 && usedKeyLess(u.small[j].key, u.small[j-1].key); j-- {
				u.small[j], u.small[j-1] = u.small[j-1], u.small[j]
			}
		}
		for i := range u.n {
			f(u.small[i].key, sum(&u.small[i]))
		}
		return
	}
	all := make([]usedSum, 0, u.n+len(u.more)) // copies: u stays on the stack
	all = append(all, u.small[:u.n]...)
	for _, e := range u.more {
		all = append(all, *e)
	}
	slices.SortFunc(all, func(a, b usedSum) int {
		if usedKeyLess(a.key, b.key) {
			return -1
		}
		if usedKeyLess(b.key, a.key) {
			return 1
		}
		return 0
	})
	for i := range all {
		f(all[i].key, sum(&all[i]))
	}
}

func usedKeyLess(a, b usedKey) bool {
	if a.framework != b.framework {
		return a.framework < b.framework
	}
	return a.role < b.role
}

// scaleResources returns r added n times (n >= 1) in O(log n) additions.
func scaleResources(r resources.Resources, n int) resources.Resources {
	var out resources.Resources
	for {
		if n&1 == 1 {
			out = out.Add(r)
		}
		n >>= 1
		if n == 0 {
			return out
		}
		r = r.Add(r)
	}
}

// idFieldsKnown guards idSharer: FrameworkID and AgentID hold the 3
// internal fields and the value only.
var idFieldsKnown = reflect.TypeOf((*mesos.FrameworkID)(nil)).Elem().NumField() == 4 &&
	reflect.TypeOf((*mesos.AgentID)(nil)).Elem().NumField() == 4

// idSharer points reported tasks' framework and agent IDs at the equal ones
// the master holds, so that it does not keep two small messages per task.
// Those are never modified in place (infos are replaced, not changed).
type idSharer struct {
	agentID *mesos.AgentID // nil: not shareable
	f       *framework     // the framework whose ID fid is
	fid     *mesos.FrameworkID
}

func newIDSharer(a *agent) idSharer {
	var s idSharer
	if id := a.info.GetId(); idFieldsKnown && id != nil && id.Value != nil && len(id.ProtoReflect().GetUnknown()) == 0 {
		s.agentID = id
	}
	return s
}

func (s *idSharer) share(t *mesos.Task, f *framework) {
	if !idFieldsKnown {
		return
	}
	if s.f != f {
		s.f, s.fid = f, nil
		if id := f.info.GetId(); id != nil && id.Value != nil && len(id.ProtoReflect().GetUnknown()) == 0 {
			s.fid = id
		}
	}
	if id := t.FrameworkId; s.fid != nil && id != nil && id != s.fid && sameString(id.Value, s.fid.Value) &&
		len(id.ProtoReflect().GetUnknown()) == 0 {
		t.FrameworkId = s.fid
	}
	if id := t.AgentId; s.agentID != nil && id != nil && id != s.agentID && sameString(id.Value, s.agentID.Value) &&
		len(id.ProtoReflect().GetUnknown()) == 0 {
		t.AgentId = s.agentID
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

// resourceFieldsKnown guards samePlainScalar: it lists the fields of
// mesos.Resource (4 internal + 12 proto fields) and of the scalar and range
// values by hand, so it is only used while the structs have the fields it was
// written for.
var resourceFieldsKnown = reflect.TypeOf((*mesos.Resource)(nil)).Elem().NumField() == 16 &&
	reflect.TypeOf((*mesos.Value_Scalar)(nil)).Elem().NumField() == 4 &&
	reflect.TypeOf((*mesos.Value_Ranges)(nil)).Elem().NumField() == 4 &&
	reflect.TypeOf((*mesos.Value_Range)(nil)).Elem().NumField() == 5 &&
	reflect.TypeOf((*mesos.Resource_AllocationInfo)(nil)).Elem().NumField() == 4

// samePlainScalar compares two plain resources (name, type, a scalar or
// ranges value, role, allocation role; nothing else set) without
// reflection. sure is false when either is not of that shape and
// proto.Equal must decide. Agents' ports are ranges, so agent infos take the
// fast path too.
func samePlainScalar(a, b *mesos.Resource) (eq, sure bool) {
	if !resourceFieldsKnown || !plainScalar(a) || !plainScalar(b) {
		return false, false
	}
	if !sameString(a.Name, b.Name) || *a.Type != *b.Type || !sameString(a.Role, b.Role) ||
		(a.AllocationInfo == nil) != (b.AllocationInfo == nil) ||
		(a.AllocationInfo != nil && !sameString(a.AllocationInfo.Role, b.AllocationInfo.Role)) ||
		(a.Scalar == nil) != (b.Scalar == nil) || (a.Ranges == nil) != (b.Ranges == nil) {
		return false, true
	}
	if a.Scalar != nil && math.Float64bits(*a.Scalar.Value) != math.Float64bits(*b.Scalar.Value) {
		return false, true
	}
	if a.Ranges != nil {
		ra, rb := a.Ranges.Range, b.Ranges.Range
		if len(ra) != len(rb) {
			return false, true
		}
		for i := range ra {
			if *ra[i].Begin != *rb[i].Begin || *ra[i].End != *rb[i].End {
				return false, true
			}
		}
	}
	return true, true
}

// plainScalar reports whether r has the shape samePlainScalar handles: a
// type, exactly one of a scalar or ranges value (with every required field
// set), no unknown fields, and none of the fields it does not compare.
func plainScalar(r *mesos.Resource) bool {
	if r == nil || r.Type == nil || r.ProviderId != nil || r.Set != nil || r.Reservation != nil ||
		r.Reservations != nil || r.Disk != nil || r.Revocable != nil || r.Shared != nil ||
		len(r.ProtoReflect().GetUnknown()) > 0 ||
		(r.AllocationInfo != nil && len(r.AllocationInfo.ProtoReflect().GetUnknown()) > 0) {
		return false
	}
	switch {
	case r.Scalar != nil && r.Ranges == nil:
		return r.Scalar.Value != nil && len(r.Scalar.ProtoReflect().GetUnknown()) == 0
	case r.Ranges != nil && r.Scalar == nil:
		if len(r.Ranges.ProtoReflect().GetUnknown()) > 0 {
			return false
		}
		for _, rg := range r.Ranges.Range {
			if rg == nil || rg.Begin == nil || rg.End == nil || len(rg.ProtoReflect().GetUnknown()) > 0 {
				return false
			}
		}
		return true
	}
	return false
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
	return f.firstRole()
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
		m.opTaskStateChanged(t)
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
	m.opAgentRemoved(a.id)
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

// Field numbers unmarshalAgentSubscribe takes apart.
const (
	agentSubscribeTasksField = 2 // AgentSubscribe.tasks
	taskFrameworkIDField     = 3 // Task.framework_id
	taskAgentIDField         = 5 // Task.agent_id
	taskResourcesField       = 7 // Task.resources
)

// unmarshalAgentSubscribe is codec.Protobuf.Unmarshal(b, req) for agent
// SUBSCRIBE bodies, with what an agent's tasks have in common decoded once:
// equal encodings of a task's resource list, framework ID or agent ID yield
// one message shared by those tasks (read-only afterwards, like everything
// reconcileAgentTasks takes over) instead of a dozen allocations per task,
// which a re-registration storm makes by the hundred thousand. The rest of
// each task goes through the generic decoder. On any failure, or with
// required fields unset, the body is decoded again by codec.Protobuf, so
// errors are exactly the generic decoder's.
//
// It is meant for the protobuf path of the agent SUBSCRIBE handler
// (readCallBody in master/http.go), in place of c.Unmarshal.
func unmarshalAgentSubscribe(b []byte, req *pb.AgentSubscribe) error {
	if err := unmarshalAgentSubscribeShared(b, req); err != nil || proto.CheckInitialized(req) != nil {
		return codec.Protobuf.Unmarshal(b, req)
	}
	return nil
}

// decodeAt is the generic decoder for a message nested depth levels below
// the request (its recursion limit counts from the top), leaving the
// required-field check to the end.
func decodeAt(depth int) proto.UnmarshalOptions {
	return proto.UnmarshalOptions{AllowPartial: true, RecursionLimit: codec.DefaultRecursionLimit - depth}
}

// sharedDecode caches the decodings of a few distinct encodings.
type sharedDecode[T any] struct {
	n   int
	raw [4][]byte
	v   [4]T
}

func (s *sharedDecode[T]) get(raw []byte, decode func([]byte) (T, error)) (T, error) {
	for i := range s.n {
		if bytes.Equal(s.raw[i], raw) {
			return s.v[i], nil
		}
	}
	v, err := decode(raw)
	if err == nil && s.n < len(s.raw) {
		s.raw[s.n], s.v[s.n] = raw, v
		s.n++
	}
	return v, err
}

// eachField calls f with each field of an encoded message: its number,
// wire type, whole encoding and, for length-delimited fields, contents.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, field, value []byte)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		var value []byte
		if typ == protowire.BytesType {
			value, _ = protowire.ConsumeBytes(b[n:])
		}
		f(num, typ, b[:n+m], value)
		b = b[n+m:]
	}
	return nil
}

func unmarshalAgentSubscribeShared(b []byte, req *pb.AgentSubscribe) error {
	if codec.DefaultRecursionLimit < 4 {
		return errors.New("recursion limit too small to decode in parts")
	}
	// The request without its tasks goes to the generic decoder, then each
	// task in parts; scratch holds what is decoded generically.
	ntasks, maxTask, rest := 0, 0, 0
	if err := eachField(b, func(num protowire.Number, typ protowire.Type, field, value []byte) {
		if num == agentSubscribeTasksField && typ == protowire.BytesType {
			ntasks++
			maxTask = max(maxTask, len(value))
			return
		}
		rest += len(field)
	}); err != nil {
		return err
	}
	tasks := make([][]byte, 0, ntasks)
	scratch := make([]byte, 0, max(rest, maxTask))
	_ = eachField(b, func(num protowire.Number, typ protowire.Type, field, value []byte) {
		if num == agentSubscribeTasksField && typ == protowire.BytesType {
			tasks = append(tasks, value)
			return
		}
		scratch = append(scratch, field...)
	})
	if err := decodeAt(0).Unmarshal(scratch, req); err != nil {
		return err
	}
	if len(tasks) == 0 {
		return nil
	}
	var (
		resLists sharedDecode[[]*mesos.Resource]
		fwIDs    sharedDecode[*mesos.FrameworkID]
		agentIDs sharedDecode[*mesos.AgentID]
		resRaw   []byte // the task's resource fields (contiguous)
		fwRaw    []byte // contents of its framework_id (when hasFw)
		agentRaw []byte // contents of its agent_id (when hasAgent)
	)
	decodeResources := func(raw []byte) ([]*mesos.Resource, error) {
		out := make([]*mesos.Resource, 0, 4)
		var err error
		if perr := eachField(raw, func(_ protowire.Number, _ protowire.Type, _, value []byte) {
			r := new(mesos.Resource)
			if err == nil {
				err = decodeAt(2).Unmarshal(value, r)
			}
			out = append(out, r)
		}); perr != nil {
			return nil, perr
		}
		return out, err
	}
	req.Tasks = make([]*mesos.Task, len(tasks))
	for i, tb := range tasks {
		scratch, resRaw = scratch[:0], nil
		resEnd, split, off, hasFw, hasAgent := 0, true, 0, false, false
		if err := eachField(tb, func(num protowire.Number, typ protowire.Type, field, value []byte) {
			start := off
			off += len(field)
			if typ == protowire.BytesType {
				switch num {
				case taskResourcesField:
					// Contiguous, as encoders write repeated fields.
					if resRaw == nil {
						resRaw = tb[start:off]
					} else if start == resEnd {
						resRaw = resRaw[:len(resRaw)+len(field)]
					} else {
						split = false
					}
					resEnd = off
					return
				case taskFrameworkIDField:
					// Set more than once, the generic decoder merges the
					// occurrences: leave such tasks to it.
					split = split && !hasFw
					fwRaw, hasFw = value, true
					return
				case taskAgentIDField:
					split = split && !hasAgent
					agentRaw, hasAgent = value, true
					return
				}
			}
			scratch = append(scratch, field...)
		}); err != nil {
			return err
		}
		if !split {
			return errors.New("task not decodable in parts")
		}
		t := new(mesos.Task)
		if err := decodeAt(1).Unmarshal(scratch, t); err != nil {
			return err
		}
		var err error
		if hasFw {
			t.FrameworkId, err = fwIDs.get(fwRaw, func(raw []byte) (*mesos.FrameworkID, error) {
				id := new(mesos.FrameworkID)
				return id, decodeAt(2).Unmarshal(raw, id)
			})
		}
		if err == nil && hasAgent {
			t.AgentId, err = agentIDs.get(agentRaw, func(raw []byte) (*mesos.AgentID, error) {
				id := new(mesos.AgentID)
				return id, decodeAt(2).Unmarshal(raw, id)
			})
		}
		if err == nil && resRaw != nil {
			t.Resources, err = resLists.get(resRaw, decodeResources)
		}
		if err != nil {
			return err
		}
		req.Tasks[i] = t
	}
	return nil
}
