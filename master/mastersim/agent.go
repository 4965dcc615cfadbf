package mastersim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

const (
	agentSubscribePath = "/internal/agent/v1/subscribe"
	agentCallPath      = "/internal/agent/v1/call"
	agentStreamHeader  = "Mesosd-Agent-Stream-Id"
)

// simAgent is one simulated agent with a fake containerizer: a task "runs"
// the moment RUN_TASK arrives and finishes after Config.TaskRunTime.
type simAgent struct {
	s   *Sim
	idx int

	mu       sync.Mutex
	info     *mesos.AgentInfo // Id set once registered
	session  string
	gen      uint64 // stream generation; bumped per subscribe attempt
	streamID string
	body     io.ReadCloser
	dec      recordDecoder
	lastMS   *milestone
	gone     bool // SHUTDOWN received: the master removed this agent
	tasks    map[string]*agentTask
	fwInfos  map[string]*mesos.FrameworkInfo
	lastRes  []*mesos.Resource // interned task resources
	// prepared is a re-registration body built before a failover, used by
	// the next subscribe: real agents build theirs on their own machines,
	// so that work must not count against the master's failover time.
	prepared []byte
}

func sameResources(a, b []*mesos.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// agentTask is a task plus its status update stream: pending[0] is in
// flight, the rest wait for its acknowledgement (Mesos' status update
// manager semantics).
type agentTask struct {
	fid     string
	info    *mesos.TaskInfo
	state   mesos.TaskState // latest
	pending []*agentUpdate
}

type agentUpdate struct {
	state mesos.TaskState
	uuid  []byte
	armed bool // a retry timer is pending for this update
}

func newSimAgent(s *Sim, idx int) *simAgent {
	return &simAgent{
		s:   s,
		idx: idx,
		info: &mesos.AgentInfo{
			Hostname:  proto.String(fmt.Sprintf("agent-%05d.sim", idx)),
			Port:      proto.Int32(5051),
			Resources: s.agentRes,
		},
		session: fmt.Sprintf("sim-%d-%d", idx, time.Now().UnixNano()),
		tasks:   make(map[string]*agentTask),
		fwInfos: make(map[string]*mesos.FrameworkInfo),
	}
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// subscribeBody builds AgentSubscribe: a first registration, or a
// re-registration that reports every task the agent still knows.
func (a *simAgent) subscribeBody() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.subscribeBodyLocked()
}

func (a *simAgent) subscribeBodyLocked() []byte {
	req := &pb.AgentSubscribe{Info: a.info, Version: proto.String("mastersim"), SessionId: proto.String(a.session)}
	if a.info.Id == nil {
		b, _ := proto.Marshal(req)
		return b
	}
	ids := make([]string, 0, len(a.tasks))
	for id := range a.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fids := make(map[string]*mesos.FrameworkID, len(a.fwInfos))
	for _, id := range ids {
		t := a.tasks[id]
		if fids[t.fid] == nil {
			fids[t.fid] = &mesos.FrameworkID{Value: proto.String(t.fid)}
			if fi := a.fwInfos[t.fid]; fi != nil {
				req.Frameworks = append(req.Frameworks, fi)
			}
		}
	}
	// The tasks (field 2) are appended one by one through a single scratch
	// message: 10 throwaway Task messages per agent were a large share of
	// the garbage the simulator left for the master's GC at failover.
	b, _ := proto.Marshal(req)
	mt := &mesos.Task{}
	for _, id := range ids {
		t := a.tasks[id]
		mt.Reset()
		mt.Name, mt.TaskId, mt.FrameworkId, mt.AgentId = t.info.Name, t.info.TaskId, fids[t.fid], a.info.Id
		mt.State, mt.Resources = taskStatePtr(t.state), t.info.Resources
		if len(t.pending) > 0 {
			mt.StatusUpdateState = taskStatePtr(t.pending[0].state)
			mt.StatusUpdateUuid = t.pending[0].uuid
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(proto.Size(mt)))
		b, _ = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, mt)
	}
	return b
}

// taskStates holds one shared, never modified pointer per task state.
var taskStates = func() map[mesos.TaskState]*mesos.TaskState {
	m := make(map[mesos.TaskState]*mesos.TaskState, len(mesos.TaskState_name))
	for v := range mesos.TaskState_name {
		m[mesos.TaskState(v)] = mesos.TaskState(v).Enum()
	}
	return m
}()

func taskStatePtr(s mesos.TaskState) *mesos.TaskState {
	if p := taskStates[s]; p != nil {
		return p
	}
	return s.Enum()
}

// prepareReregistration builds the body of the next re-registration now.
func (a *simAgent) prepareReregistration() {
	a.mu.Lock()
	a.prepared = a.subscribeBodyLocked()
	a.mu.Unlock()
}

// subscribe runs on a worker: open the event stream and hook it up.
func (a *simAgent) subscribe() {
	s := a.s
	if s.stopping.Load() {
		return
	}
	a.mu.Lock()
	gone := a.gone
	a.mu.Unlock()
	if gone {
		return
	}
	s.inflightSubs.Add(1)
	defer s.inflightSubs.Add(-1)
	// The prepared body is kept until an attempt gets through: while the
	// master is down or electing, attempts are refused and retried, and the
	// agent's state cannot change meanwhile (it is invalidated if it does).
	a.mu.Lock()
	body := a.prepared
	a.mu.Unlock()
	if body == nil {
		body = a.subscribeBody()
	}
	resp, err := s.post(WithStreaming(context.Background()), agentSubscribePath, body, "", "", false, nil)
	if err != nil {
		s.Counters.AgentSubscribeErrors.Add(1)
		if errors.Is(err, ErrNoMaster) {
			s.park(a.subscribe)
		} else {
			s.wheel.after(100*time.Millisecond, func() { s.work.push(a.subscribe) })
		}
		return
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.Counters.AgentSubscribeErrors.Add(1)
		s.park(a.subscribe)
		return
	}
	a.mu.Lock()
	a.prepared = nil
	a.gen++
	gen := a.gen
	a.streamID = resp.Header.Get(agentStreamHeader)
	a.body = resp.Body
	a.dec = recordDecoder{}
	a.mu.Unlock()
	s.openStreams.Add(1)
	attach(resp.Body, func(data []byte, err error) { a.onStream(gen, data, err) })
}

// onStream handles pushed stream bytes (on the master's pump goroutine).
func (a *simAgent) onStream(gen uint64, data []byte, err error) {
	s := a.s
	var jobs []func()
	a.mu.Lock()
	if gen != a.gen {
		a.mu.Unlock()
		if err != nil {
			s.openStreams.Add(-1)
		}
		return
	}
	if err == nil {
		err = a.dec.feed(data, func(rec []byte) error {
			ev := &pb.AgentEvent{}
			if err := proto.Unmarshal(rec, ev); err != nil {
				return err
			}
			jobs = a.handle(ev, jobs)
			return nil
		})
		if err != nil {
			// A corrupt stream: drop it; the EOF that follows re-subscribes.
			a.body.Close()
		}
		a.mu.Unlock()
		for _, j := range jobs {
			s.work.push(j)
		}
		return
	}
	// The stream ended: the master went away or replaced the stream.
	a.streamID = ""
	a.gen++
	gone := a.gone
	a.mu.Unlock()
	s.openStreams.Add(-1)
	if !gone && !s.stopping.Load() {
		s.work.push(a.subscribe)
	}
}

// handle applies one event under a.mu and returns jobs to run unlocked.
func (a *simAgent) handle(ev *pb.AgentEvent, jobs []func()) []func() {
	s := a.s
	if ev.GetType() != pb.AgentEvent_PING {
		a.prepared = nil // the agent's state may change: rebuild the body
	}
	switch ev.GetType() {
	case pb.AgentEvent_REGISTERED:
		a.info.Id = ev.GetRegistered().GetAgentId()
		s.Counters.AgentRegistrations.Add(1)
		if ms := s.agentsMS.Load(); ms != a.lastMS {
			a.lastMS = ms
			ms.hit()
		}
		// After (re-)registering, resend the head of every update stream.
		for _, t := range a.tasks {
			if len(t.pending) > 0 {
				jobs = append(jobs, a.sendJob(t, t.pending[0]))
			}
		}
	case pb.AgentEvent_PING:
		s.Counters.Pings.Add(1)
		seq, sid := ev.GetPing().GetSeq(), a.streamID
		body, _ := proto.Marshal(&pb.AgentCall{Type: pb.AgentCall_PONG.Enum(), AgentId: a.info.Id, Pong: &pb.AgentCall_Pong{Seq: proto.Uint64(seq)}})
		jobs = append(jobs, func() { s.call(agentCallPath, body, agentStreamHeader, sid, &s.AgentCallLatency) })
	case pb.AgentEvent_RUN_TASK:
		s.Counters.RunTasks.Add(1)
		rt := ev.GetRunTask()
		fid := rt.GetFramework().GetId().GetValue()
		a.fwInfos[fid] = rt.GetFramework()
		tid := rt.GetTask().GetTaskId().GetValue()
		if _, dup := a.tasks[tid]; dup {
			break
		}
		// Keep only what re-registration reports, with the resources
		// interned: 100k retained TaskInfos would otherwise be a third of
		// the simulator's heap.
		ti := rt.GetTask()
		if !sameResources(a.lastRes, ti.GetResources()) {
			a.lastRes = ti.GetResources()
		}
		t := &agentTask{fid: fid, info: &mesos.TaskInfo{Name: ti.Name, TaskId: ti.TaskId, Resources: a.lastRes}}
		a.tasks[tid] = t
		jobs = a.enqueue(t, mesos.TaskState_TASK_RUNNING, jobs)
		if d := s.cfg.TaskRunTime; d > 0 {
			s.wheel.after(d, func() { a.finish(tid) })
		}
	case pb.AgentEvent_KILL_TASK:
		if t := a.tasks[ev.GetKillTask().GetTaskId().GetValue()]; t != nil && !terminal(t.state) {
			jobs = a.enqueue(t, mesos.TaskState_TASK_KILLED, jobs)
		}
	case pb.AgentEvent_ACKNOWLEDGE:
		s.Counters.AcksReceived.Add(1)
		ack := ev.GetAcknowledge()
		tid := ack.GetTaskId().GetValue()
		t := a.tasks[tid]
		if t == nil || len(t.pending) == 0 || string(t.pending[0].uuid) != string(ack.GetUuid()) {
			break // a duplicate acknowledgement of a retried update
		}
		done := t.pending[0]
		t.pending[0] = nil
		t.pending = t.pending[1:]
		if len(t.pending) > 0 {
			jobs = append(jobs, a.sendJob(t, t.pending[0]))
		} else if terminal(done.state) {
			delete(a.tasks, tid)
		}
	case pb.AgentEvent_SHUTDOWN_FRAMEWORK:
		fid := ev.GetShutdownFramework().GetFrameworkId().GetValue()
		for id, t := range a.tasks {
			if t.fid == fid {
				delete(a.tasks, id)
			}
		}
		delete(a.fwInfos, fid)
	case pb.AgentEvent_RECONCILE_TASKS:
		// Tasks the master thinks run here but this agent never heard of
		// (RUN_TASK lost with a stream): answer TASK_LOST.
		rc := ev.GetReconcileTasks()
		fid := rc.GetFrameworkId().GetValue()
		for _, id := range rc.GetTaskIds() {
			if a.tasks[id.GetValue()] != nil {
				continue
			}
			t := &agentTask{fid: fid, info: &mesos.TaskInfo{TaskId: id, Name: proto.String("")}}
			a.tasks[id.GetValue()] = t
			jobs = a.enqueue(t, mesos.TaskState_TASK_LOST, jobs)
		}
	case pb.AgentEvent_SHUTDOWN:
		a.gone = true
		if a.body != nil {
			a.body.Close()
		}
	}
	return jobs
}

func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_KILLED,
		mesos.TaskState_TASK_ERROR, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_DROPPED,
		mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// enqueue adds a state change to t's update stream (under a.mu); it is sent
// now if nothing else is in flight.
func (a *simAgent) enqueue(t *agentTask, state mesos.TaskState, jobs []func()) []func() {
	a.prepared = nil // reports task states: rebuild the body
	t.state = state
	u := &agentUpdate{state: state, uuid: newUUID()}
	t.pending = append(t.pending, u)
	if len(t.pending) == 1 {
		jobs = append(jobs, a.sendJob(t, u))
	}
	return jobs
}

// finish is the fake containerizer reporting the task's exit.
func (a *simAgent) finish(tid string) {
	a.mu.Lock()
	var jobs []func()
	if t := a.tasks[tid]; t != nil && !terminal(t.state) {
		jobs = a.enqueue(t, mesos.TaskState_TASK_FINISHED, nil)
	}
	a.mu.Unlock()
	for _, j := range jobs {
		a.s.work.push(j)
	}
}

// sendJob returns a job that sends update u of t (built under a.mu) and
// arms u's retry timer unless one is already pending.
func (a *simAgent) sendJob(t *agentTask, u *agentUpdate) func() {
	s := a.s
	tid := t.info.GetTaskId().GetValue()
	call := &pb.AgentCall{
		Type:    pb.AgentCall_STATUS_UPDATE.Enum(),
		AgentId: a.info.Id,
		StatusUpdate: &pb.StatusUpdate{
			FrameworkId: &mesos.FrameworkID{Value: proto.String(t.fid)},
			AgentId:     a.info.Id,
			Status: &mesos.TaskStatus{
				TaskId:    t.info.TaskId,
				State:     u.state.Enum(),
				Source:    mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
				AgentId:   a.info.Id,
				Uuid:      u.uuid,
				Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
			},
			Timestamp:   proto.Float64(float64(time.Now().UnixNano()) / 1e9),
			LatestState: t.state.Enum(),
		},
	}
	sid := a.streamID
	if !u.armed {
		u.armed = true
		s.wheel.after(s.cfg.UpdateRetryInterval, func() { a.retry(tid, u) })
	}
	return func() {
		if sid == "" {
			return // not connected: re-registration resends it
		}
		body, _ := proto.Marshal(call)
		s.Counters.UpdatesSent.Add(1)
		if code := s.call(agentCallPath, body, agentStreamHeader, sid, &s.AgentCallLatency); code != http.StatusAccepted {
			s.Counters.CallErrors.Add(1)
		}
	}
}

// retry resends u if it is still unacknowledged.
func (a *simAgent) retry(tid string, u *agentUpdate) {
	a.mu.Lock()
	t := a.tasks[tid]
	if t == nil || len(t.pending) == 0 || t.pending[0] != u {
		u.armed = false
		a.mu.Unlock()
		return
	}
	u.armed = false
	a.s.Counters.UpdateRetries.Add(1)
	job := a.sendJob(t, u)
	a.mu.Unlock()
	a.s.work.push(job)
}
