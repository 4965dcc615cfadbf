package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/containerizer/fake"
	"github.com/mesosd/mesosd/agent/fingerprint"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
	"github.com/mesosd/mesosd/proto/recordio"
)

const waitTimeout = 10 * time.Second

// fakeMaster speaks the master side of the agent protocol and records
// everything the agent sends.
type fakeMaster struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	subs       []*mesosdpb.AgentSubscribe
	current    *masterStream
	nextID     int
	redirectTo string // answer subscribes with 307 to this host:port

	streams chan *masterStream
	calls   chan *mesosdpb.AgentCall
}

type masterStream struct {
	id     string
	sub    *mesosdpb.AgentSubscribe
	events chan *mesosdpb.AgentEvent
	closed chan struct{}
	once   sync.Once
}

func (s *masterStream) close() { s.once.Do(func() { close(s.closed) }) }

func newFakeMaster(t *testing.T) *fakeMaster {
	m := &fakeMaster{
		t:       t,
		streams: make(chan *masterStream, 16),
		calls:   make(chan *mesosdpb.AgentCall, 1024),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(SubscribePath, m.subscribe)
	mux.HandleFunc(CallPath, m.call)
	m.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		m.mu.Lock()
		if m.current != nil {
			m.current.close()
		}
		m.mu.Unlock()
		m.srv.Close()
	})
	return m
}

func (m *fakeMaster) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *fakeMaster) subscribe(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	if m.redirectTo != "" {
		to := m.redirectTo
		m.mu.Unlock()
		w.Header().Set("Location", "//"+to+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	m.mu.Unlock()
	if r.Header.Get("Content-Type") != protobufType {
		http.Error(w, "bad content type", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	sub := &mesosdpb.AgentSubscribe{}
	if err := proto.Unmarshal(body, sub); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	id := sub.GetInfo().GetId().GetValue()
	if id == "" {
		m.nextID++
		id = fmt.Sprintf("agent-%d", m.nextID)
	}
	s := &masterStream{
		id:     fmt.Sprintf("stream-%d", len(m.subs)),
		sub:    sub,
		events: make(chan *mesosdpb.AgentEvent, 64),
		closed: make(chan struct{}),
	}
	if m.current != nil {
		m.current.close()
	}
	m.current = s
	m.subs = append(m.subs, sub)
	m.mu.Unlock()

	w.Header().Set(StreamIDHeader, s.id)
	w.Header().Set("Content-Type", protobufType)
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev *mesosdpb.AgentEvent) bool {
		b, _ := proto.Marshal(ev)
		return rw.WriteRecord(b) == nil
	}
	if !write(&mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_REGISTERED.Enum(),
		Registered: &mesosdpb.AgentEvent_Registered{
			AgentId:             &mesos.AgentID{Value: proto.String(id)},
			PingIntervalSeconds: proto.Float64(0.05),
		},
	}) {
		return
	}
	m.streams <- s
	ping := time.NewTicker(50 * time.Millisecond)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		case <-ping.C:
			if !write(&mesosdpb.AgentEvent{Type: mesosdpb.AgentEvent_PING.Enum(), Ping: &mesosdpb.AgentEvent_Ping{}}) {
				return
			}
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		}
	}
}

func (m *fakeMaster) call(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	cur := m.current
	m.mu.Unlock()
	if cur == nil || r.Header.Get(StreamIDHeader) != cur.id {
		http.Error(w, "unknown stream", http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	call := &mesosdpb.AgentCall{}
	if err := proto.Unmarshal(body, call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	if call.GetType() != mesosdpb.AgentCall_PONG {
		m.calls <- call
	}
}

func (m *fakeMaster) waitStream(t *testing.T) *masterStream {
	t.Helper()
	select {
	case s := <-m.streams:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the agent to subscribe")
		return nil
	}
}

func (m *fakeMaster) send(s *masterStream, ev *mesosdpb.AgentEvent) {
	s.events <- ev
}

// nextUpdate returns the next STATUS_UPDATE call.
func (m *fakeMaster) nextUpdate(t *testing.T) *mesosdpb.StatusUpdate {
	t.Helper()
	for {
		select {
		case c := <-m.calls:
			if c.GetType() == mesosdpb.AgentCall_STATUS_UPDATE {
				return c.GetStatusUpdate()
			}
		case <-time.After(waitTimeout):
			t.Fatal("timed out waiting for a status update")
			return nil
		}
	}
}

// expectUpdate waits for an update in state want, failing on any other
// (retries of an already-seen update are skipped).
func (m *fakeMaster) expectUpdate(t *testing.T, want mesos.TaskState, skip ...[]byte) *mesosdpb.StatusUpdate {
	t.Helper()
	for {
		u := m.nextUpdate(t)
		dup := false
		for _, s := range skip {
			if bytes.Equal(s, u.GetStatus().GetUuid()) {
				dup = true
			}
		}
		if dup {
			continue
		}
		if u.GetStatus().GetState() != want {
			t.Fatalf("got update %v (%q, reason %v), want %v", u.GetStatus().GetState(), u.GetStatus().GetMessage(), u.GetStatus().GetReason(), want)
		}
		if len(u.GetStatus().GetUuid()) != 16 {
			t.Fatalf("update %v has uuid of %d bytes, want 16", want, len(u.GetStatus().GetUuid()))
		}
		return u
	}
}

func ack(s *masterStream, u *mesosdpb.StatusUpdate) *mesosdpb.AgentEvent {
	return &mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_ACKNOWLEDGE.Enum(),
		Acknowledge: &mesosdpb.AgentEvent_Acknowledge{
			FrameworkId: u.GetFrameworkId(),
			TaskId:      u.GetStatus().GetTaskId(),
			Uuid:        u.GetStatus().GetUuid(),
		},
	}
}

// ackUpdate acknowledges u and returns the next update, skipping retries of u.
func (m *fakeMaster) ackAndExpect(t *testing.T, s *masterStream, u *mesosdpb.StatusUpdate, want mesos.TaskState) *mesosdpb.StatusUpdate {
	t.Helper()
	m.send(s, ack(s, u))
	return m.expectUpdate(t, want, u.GetStatus().GetUuid())
}

type testAgent struct {
	a      *Agent
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, valid after done
}

func (ta *testAgent) stop(t *testing.T) {
	t.Helper()
	ta.cancel()
	select {
	case <-ta.done:
		if ta.err != nil {
			t.Fatalf("agent Run returned %v", ta.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("agent did not stop")
	}
}

func testConfig(workDir string, masters ...string) Config {
	return Config{
		Masters:                masters,
		WorkDir:                workDir,
		Hostname:               "agent.test",
		Resources:              "cpus:4;mem:4096;disk:10000",
		Attributes:             "rack:r1",
		RegistrationBackoffMin: 10 * time.Millisecond,
		RegistrationBackoffMax: 50 * time.Millisecond,
		StatusUpdateRetryMin:   30 * time.Millisecond,
		StatusUpdateRetryMax:   100 * time.Millisecond,
		KillGracePeriod:        50 * time.Millisecond,
		Host:                   &fingerprint.Host{CPUs: 4, MemBytes: 8 << 30, DiskBytes: 100 << 30},
	}
}

func startAgent(t *testing.T, cfg Config, cz containerizer.Containerizer) *testAgent {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return startAgentWithLogger(t, cfg, cz, logger)
}

func startAgentWithLogger(t *testing.T, cfg Config, cz containerizer.Containerizer, logger *slog.Logger) *testAgent {
	t.Helper()
	a, err := New(cfg, cz, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{a: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		ta.err = a.Run(ctx)
		close(ta.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
			if ta.err != nil {
				t.Errorf("agent Run returned %v", ta.err)
			}
		case <-time.After(waitTimeout):
			t.Error("agent did not stop")
		}
	})
	return ta
}

func frameworkInfo(caps ...mesos.FrameworkInfo_Capability_Type) *mesos.FrameworkInfo {
	fw := &mesos.FrameworkInfo{
		User: proto.String(""),
		Name: proto.String("test-framework"),
		Id:   &mesos.FrameworkID{Value: proto.String("fw-1")},
		// Restart tests need the agent to recover the executors.
		Checkpoint: proto.Bool(true),
	}
	for _, c := range caps {
		fw.Capabilities = append(fw.Capabilities, &mesos.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return fw
}

func runTask(fw *mesos.FrameworkInfo, id string, env map[string]string) *mesosdpb.AgentEvent {
	var vars []*mesos.Environment_Variable
	for k, v := range env {
		vars = append(vars, &mesos.Environment_Variable{Name: proto.String(k), Value: proto.String(v)})
	}
	cpus, _ := fingerprint.ParseResources("cpus:0.5;mem:64")
	return &mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_RUN_TASK.Enum(),
		RunTask: &mesosdpb.AgentEvent_RunTask{
			Framework: fw,
			Task: &mesos.TaskInfo{
				Name:      proto.String("task " + id),
				TaskId:    &mesos.TaskID{Value: proto.String(id)},
				AgentId:   &mesos.AgentID{Value: proto.String("agent-1")},
				Resources: cpus,
				Command: &mesos.CommandInfo{
					Value:       proto.String("echo hello"),
					Environment: &mesos.Environment{Variables: vars},
				},
			},
		},
	}
}

func killTask(fwID, id string) *mesosdpb.AgentEvent {
	return &mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_KILL_TASK.Enum(),
		KillTask: &mesosdpb.AgentEvent_KillTask{
			FrameworkId: &mesos.FrameworkID{Value: proto.String(fwID)},
			TaskId:      &mesos.TaskID{Value: proto.String(id)},
		},
	}
}

func getJSON(t *testing.T, h http.Handler, path string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if v != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: decode %q: %v", path, rec.Body.String(), err)
		}
	}
	return rec.Code
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTaskLifecycleWithRetriesAndAcks(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	ta := startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	if got := s.sub.GetInfo().GetHostname(); got != "agent.test" {
		t.Fatalf("subscribe hostname = %q", got)
	}
	if len(s.sub.GetInfo().GetResources()) == 0 || len(s.sub.GetInfo().GetAttributes()) != 1 {
		t.Fatalf("subscribe info lacks resources/attributes: %v", s.sub.GetInfo())
	}

	m.send(s, runTask(frameworkInfo(), "t1", map[string]string{fake.EnvKey(fake.KeyRunFor): "20ms", "FOO": "bar"}))
	starting := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	st := starting.GetStatus()
	if st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || st.GetExecutorId().GetValue() != "t1" ||
		st.GetAgentId().GetValue() != "agent-1" || st.GetTimestamp() == 0 || starting.GetAgentId().GetValue() != "agent-1" {
		t.Fatalf("bad STARTING update: %v", starting)
	}
	// Not acknowledged: the same update (same uuid) is resent, and nothing
	// newer overtakes it even though the task has moved on.
	retry := m.nextUpdate(t)
	if !bytes.Equal(retry.GetStatus().GetUuid(), st.GetUuid()) {
		t.Fatalf("retry carried %v, want the unacknowledged STARTING", retry.GetStatus().GetState())
	}
	eventually(t, "latest_state FINISHED on the retried head", func() bool {
		u := m.nextUpdate(t)
		return bytes.Equal(u.GetStatus().GetUuid(), st.GetUuid()) && u.GetLatestState() == mesos.TaskState_TASK_FINISHED
	})
	// A duplicate or unknown ack changes nothing.
	m.send(s, ack(s, &mesosdpb.StatusUpdate{FrameworkId: starting.FrameworkId, Status: &mesos.TaskStatus{TaskId: st.TaskId, Uuid: make([]byte, 16)}}))
	running := m.ackAndExpect(t, s, starting, mesos.TaskState_TASK_RUNNING)
	finished := m.ackAndExpect(t, s, running, mesos.TaskState_TASK_FINISHED)
	if got := finished.GetStatus().GetMessage(); got != "Command exited with status 0" {
		t.Fatalf("FINISHED message = %q", got)
	}
	for _, u := range []*mesosdpb.StatusUpdate{starting, running, finished} {
		if u.GetStatus().Reason != nil {
			t.Errorf("%v carries reason %v; Mesos' command executor sets none", u.GetStatus().GetState(), u.GetStatus().GetReason())
		}
	}
	spec := cz.Launches()[0]
	if want := []string{"/bin/sh", "-c", "echo hello"}; strings.Join(spec.Argv, "|") != strings.Join(want, "|") {
		t.Fatalf("argv = %q, want %q", spec.Argv, want)
	}
	env := strings.Join(spec.Env, "\n")
	for _, want := range []string{"FOO=bar", "MESOS_TASK_ID=t1", "MESOS_FRAMEWORK_ID=fw-1", "MESOS_AGENT_ID=agent-1",
		"MESOS_EXECUTOR_ID=t1", "MESOS_SANDBOX=" + spec.SandboxDir, "MESOS_DIRECTORY=" + spec.SandboxDir, "HOST=agent.test", "PATH="} {
		if !strings.Contains(env, want) {
			t.Errorf("task env lacks %q:\n%s", want, env)
		}
	}
	if spec.CPUs != 0.5 || spec.MemMB != 64 || spec.Labels[LabelTaskID] != "t1" || spec.Labels[LabelFrameworkID] != "fw-1" {
		t.Fatalf("bad launch spec %+v", spec)
	}
	if !strings.Contains(spec.SandboxDir, "/slaves/agent-1/frameworks/fw-1/executors/t1/runs/") {
		t.Fatalf("sandbox %q not in the Mesos layout", spec.SandboxDir)
	}

	// Acknowledging the terminal update ends the stream: the task moves to
	// the completed list.
	m.send(s, ack(s, finished))
	eventually(t, "task completed in /state", func() bool {
		var st struct {
			CompletedTasks []map[string]any `json:"completed_tasks"`
		}
		getJSON(t, ta.a.Handler(), "/state", &st)
		return len(st.CompletedTasks) == 1 && st.CompletedTasks[0]["state"] == "TASK_FINISHED"
	})
	var met map[string]float64
	getJSON(t, ta.a.Handler(), "/metrics/snapshot", &met)
	if met["slave/registered"] != 1 || met["slave/tasks_finished"] != 1 || met["slave/valid_status_updates"] != 3 {
		t.Fatalf("metrics = %v", met)
	}
}

func TestFailedKilledAndOOM(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	fw := frameworkInfo(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)

	// Non-zero exit.
	m.send(s, runTask(fw, "fail", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms", fake.EnvKey(fake.KeyExitCode): "3"}))
	u := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_FAILED)
	// As Mesos' command executor: a message, no reason.
	if u.GetStatus().GetMessage() != "Command exited with status 3" || u.GetStatus().Reason != nil ||
		u.GetStatus().GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR {
		t.Fatalf("bad FAILED update: %v", u.GetStatus())
	}
	m.send(s, ack(s, u))

	// Kill: TASK_KILLING (the framework has the capability), then KILLED.
	m.send(s, runTask(fw, "kill", nil))
	u = m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	m.send(s, ack(s, u))
	m.send(s, killTask("fw-1", "kill"))
	u = m.expectUpdate(t, mesos.TaskState_TASK_KILLING, u.GetStatus().GetUuid())
	if u.GetStatus().Reason != nil {
		t.Fatalf("TASK_KILLING has a reason: %v", u.GetStatus())
	}
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_KILLED)
	if !strings.HasPrefix(u.GetStatus().GetMessage(), "Command terminated with signal") || u.GetStatus().Reason != nil {
		t.Fatalf("KILLED message = %q", u.GetStatus().GetMessage())
	}
	m.send(s, ack(s, u))

	// OOM.
	m.send(s, runTask(fw, "oom", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms", fake.EnvKey(fake.KeyOOM): "true"}))
	u = m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_FAILED)
	st := u.GetStatus()
	if st.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT ||
		len(st.GetLimitation().GetResources()) != 1 || st.GetLimitation().GetResources()[0].GetName() != "mem" {
		t.Fatalf("bad OOM update: %v", st)
	}
	m.send(s, ack(s, u))

	// Launch failure.
	m.send(s, runTask(fw, "nolaunch", map[string]string{fake.EnvKey(fake.KeyStartError): "no such binary"}))
	u = m.expectUpdate(t, mesos.TaskState_TASK_FAILED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(u.GetStatus().GetMessage(), "no such binary") {
		t.Fatalf("bad launch failure update: %v", u.GetStatus())
	}
	m.send(s, ack(s, u))

	// Custom executor: TASK_ERROR, no crash.
	ev := runTask(fw, "custom", nil)
	ev.RunTask.Task.Command = nil
	ev.RunTask.Task.Executor = &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}}
	m.send(s, ev)
	u = m.expectUpdate(t, mesos.TaskState_TASK_ERROR)
	if !strings.Contains(u.GetStatus().GetMessage(), "custom executors are not supported yet") {
		t.Fatalf("bad TASK_ERROR message %q", u.GetStatus().GetMessage())
	}
	m.send(s, ack(s, u))

	// Reconciliation of an unknown task, and a kill of one.
	m.send(s, &mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_RECONCILE_TASKS.Enum(),
		ReconcileTasks: &mesosdpb.AgentEvent_ReconcileTasks{
			FrameworkId: &mesos.FrameworkID{Value: proto.String("fw-1")},
			TaskIds:     []*mesos.TaskID{{Value: proto.String("ghost")}},
		},
	})
	u = m.expectUpdate(t, mesos.TaskState_TASK_LOST)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_RECONCILIATION || u.GetStatus().GetTaskId().GetValue() != "ghost" {
		t.Fatalf("bad reconciliation answer: %v", u.GetStatus())
	}
}

func TestRestartReattachesAndResendsPending(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	dir := t.TempDir()
	cfg := testConfig(dir, m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "long", nil))
	u := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	running := m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	ta.stop(t) // RUNNING stays unacknowledged

	// An orphan: labelled with this work dir, unknown to the checkpoint.
	orphan := containerizer.LaunchSpec{
		ContainerID: "orphan", Argv: []string{"sleep"}, SandboxDir: dir,
		StdoutPath: filepath.Join(dir, "o.out"), StderrPath: filepath.Join(dir, "o.err"),
		Labels: map[string]string{LabelWorkDir: cfg.WorkDir},
	}
	if err := cz.Launch(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	// Another agent's container is left alone.
	other := orphan
	other.ContainerID, other.Labels = "other", map[string]string{LabelWorkDir: "/elsewhere"}
	if err := cz.Launch(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	cs, _ := cz.Containers(context.Background())
	if len(cs) != 3 || !cs[0].Running {
		t.Fatalf("containers before restart: %+v", cs)
	}
	taskCID := cz.Launches()[0].ContainerID

	startAgent(t, cfg, cz)
	s2 := m.waitStream(t)
	info := s2.sub.GetInfo()
	if info.GetId().GetValue() != "agent-1" {
		t.Fatalf("re-subscribed with agent ID %q, want the checkpointed agent-1", info.GetId().GetValue())
	}
	if len(s2.sub.GetTasks()) != 1 || len(s2.sub.GetFrameworks()) != 1 {
		t.Fatalf("re-subscribe carries %d tasks / %d frameworks, want 1/1", len(s2.sub.GetTasks()), len(s2.sub.GetFrameworks()))
	}
	task := s2.sub.GetTasks()[0]
	if task.GetState() != mesos.TaskState_TASK_RUNNING || task.GetTaskId().GetValue() != "long" ||
		task.GetFrameworkId().GetValue() != "fw-1" || task.GetExecutorId().GetValue() != "long" ||
		task.GetAgentId().GetValue() != "agent-1" || len(task.GetStatuses()) != 2 ||
		task.GetStatusUpdateState() != mesos.TaskState_TASK_RUNNING ||
		!bytes.Equal(task.GetStatusUpdateUuid(), running.GetStatus().GetUuid()) || len(task.GetResources()) == 0 {
		t.Fatalf("bad re-registered task: %v", task)
	}
	// The unacknowledged RUNNING is resent with its original uuid.
	again := m.nextUpdate(t)
	if !bytes.Equal(again.GetStatus().GetUuid(), running.GetStatus().GetUuid()) {
		t.Fatalf("after restart got %v, want the pending RUNNING resent", again.GetStatus().GetState())
	}
	eventually(t, "orphan destroyed", func() bool {
		cs, _ := cz.Containers(context.Background())
		ids := []string{}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return strings.Join(ids, ",") == strings.Join(sortedStrings(taskCID, "other"), ",")
	})
	// The reattached task still reports its exit.
	m.send(s2, ack(s2, again))
	if err := cz.Exit(taskCID, containerizer.ExitStatus{ExitCode: 0}); err != nil {
		t.Fatal(err)
	}
	m.expectUpdate(t, mesos.TaskState_TASK_FINISHED, again.GetStatus().GetUuid())
}

// Without FrameworkInfo.checkpoint the agent does not recover a
// framework's executors (Mesos): after a restart its container is destroyed
// and its task is not re-registered, so the master's reconciliation, which
// the agent answers as for any unknown task, reports it lost.
func TestRestartDoesNotRecoverNonCheckpointingFramework(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	fw := frameworkInfo()
	fw.Checkpoint = proto.Bool(false)
	m.send(s, runTask(fw, "volatile", nil))
	u := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	ta.stop(t)
	cid := cz.Launches()[0].ContainerID
	if cs, _ := cz.Containers(context.Background()); len(cs) != 1 || !cs[0].Running {
		t.Fatalf("containers before restart: %+v", cs)
	}

	startAgent(t, cfg, cz)
	s2 := m.waitStream(t)
	if n, f := len(s2.sub.GetTasks()), len(s2.sub.GetFrameworks()); n != 0 || f != 0 {
		t.Fatalf("re-subscribe carries %d tasks / %d frameworks of a non-checkpointing framework, want none", n, f)
	}
	eventually(t, "container of the unrecovered task destroyed", func() bool {
		cs, _ := cz.Containers(context.Background())
		return len(cs) == 0
	})
	// The master asks about the task it knew; the agent does not know it.
	m.send(s2, &mesosdpb.AgentEvent{
		Type: mesosdpb.AgentEvent_RECONCILE_TASKS.Enum(),
		ReconcileTasks: &mesosdpb.AgentEvent_ReconcileTasks{
			FrameworkId: fw.GetId(), TaskIds: []*mesos.TaskID{{Value: proto.String("volatile")}},
		},
	})
	lost := m.nextUpdate(t)
	if st := lost.GetStatus(); st.GetTaskId().GetValue() != "volatile" || st.GetState() != mesos.TaskState_TASK_LOST {
		t.Fatalf("reconciliation of the unrecovered task answered %v, want TASK_LOST", st)
	}
	if cs, _ := cz.Containers(context.Background()); len(cs) != 0 {
		t.Fatalf("container %s still there: %+v", cid, cs)
	}
}

func sortedStrings(s ...string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestRestartWithDeadContainerReportsFailure(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "doomed", nil))
	u := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_RUNNING)
	ta.stop(t) // RUNNING stays unacknowledged
	if err := cz.Destroy(context.Background(), cz.Launches()[0].ContainerID); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	// The pending RUNNING comes first; once acknowledged, the FAILED
	// generated on recovery follows.
	u = m.expectUpdate(t, mesos.TaskState_TASK_RUNNING)
	u = m.ackAndExpect(t, s, u, mesos.TaskState_TASK_FAILED)
	if u.GetStatus().GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED || u.GetStatus().GetSource() != mesos.TaskStatus_SOURCE_AGENT {
		t.Fatalf("bad update for a task whose container vanished: %v", u.GetStatus())
	}
}

func TestStreamBreakResubscribes(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)
	s.close()
	s2 := m.waitStream(t)
	if s2.sub.GetInfo().GetId().GetValue() != "agent-1" {
		t.Fatalf("re-subscribe after stream break used ID %q", s2.sub.GetInfo().GetId().GetValue())
	}
}

func TestSilentMasterResubscribes(t *testing.T) {
	var mu sync.Mutex
	subs := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != SubscribePath {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		mu.Lock()
		subs++
		mu.Unlock()
		w.Header().Set(StreamIDHeader, "s")
		w.WriteHeader(http.StatusOK)
		b, _ := proto.Marshal(&mesosdpb.AgentEvent{
			Type: mesosdpb.AgentEvent_REGISTERED.Enum(),
			Registered: &mesosdpb.AgentEvent_Registered{
				AgentId:             &mesos.AgentID{Value: proto.String("a")},
				PingIntervalSeconds: proto.Float64(0.02),
			},
		})
		_ = recordio.NewWriter(w).WriteRecord(b)
		<-r.Context().Done() // never pings
	}))
	t.Cleanup(srv.Close) // after the agent stops (cleanups run last-in first-out)
	cfg := testConfig(t.TempDir(), strings.TrimPrefix(srv.URL, "http://"))
	cfg.MaxPingTimeouts = 2
	startAgent(t, cfg, fake.New())
	eventually(t, "re-subscribe after missed pings", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return subs >= 2
	})
}

func TestRedirectAndFailoverBetweenMasters(t *testing.T) {
	leader := newFakeMaster(t)
	follower := newFakeMaster(t)
	follower.redirectTo = leader.addr()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	startAgent(t, testConfig(t.TempDir(), strings.TrimPrefix(down.URL, "http://"), follower.addr()), fake.New())
	s := leader.waitStream(t)
	if s.sub.GetInfo().GetHostname() != "agent.test" {
		t.Fatal("leader got a bad subscription")
	}
	// Calls go to the leader: run a task and see its update there.
	leader.send(s, runTask(frameworkInfo(), "t", nil))
	leader.expectUpdate(t, mesos.TaskState_TASK_STARTING)
}

func TestShutdownFrameworkAndAgentShutdown(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "a", nil))
	u := m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	m.send(s, &mesosdpb.AgentEvent{
		Type:              mesosdpb.AgentEvent_SHUTDOWN_FRAMEWORK.Enum(),
		ShutdownFramework: &mesosdpb.AgentEvent_ShutdownFramework{FrameworkId: u.GetFrameworkId()},
	})
	eventually(t, "framework's container destroyed", func() bool {
		cs, _ := cz.Containers(context.Background())
		return len(cs) == 0
	})

	m.send(s, runTask(frameworkInfo(), "b", nil))
	m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	m.send(s, &mesosdpb.AgentEvent{Type: mesosdpb.AgentEvent_SHUTDOWN.Enum(), Shutdown: &mesosdpb.AgentEvent_Shutdown{Message: proto.String("removed")}})
	s2 := m.waitStream(t)
	if s2.sub.GetInfo().GetId() != nil || len(s2.sub.GetTasks()) != 0 {
		t.Fatalf("after SHUTDOWN the agent must register as new with no tasks: %v", s2.sub)
	}
	eventually(t, "all containers destroyed", func() bool {
		cs, _ := cz.Containers(context.Background())
		return len(cs) == 0
	})
}

func TestFilesEndpoints(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	ta := startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "f", map[string]string{fake.EnvKey(fake.KeyStdout): "hello world"}))
	m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	dir := cz.Launches()[0].SandboxDir
	h := ta.a.Handler()

	var entries []map[string]any
	if code := getJSON(t, h, "/files/browse?path="+url.QueryEscape(dir), &entries); code != 200 || len(entries) == 0 {
		t.Fatalf("browse sandbox: %d %v", code, entries)
	}
	var rd struct {
		Data   string `json:"data"`
		Offset int64  `json:"offset"`
	}
	stdout := url.QueryEscape(filepath.Join(dir, "stdout"))
	if code := getJSON(t, h, "/files/read?path="+stdout+"&offset=-1", &rd); code != 200 || rd.Offset != int64(len("hello world")) || rd.Data != "" {
		t.Fatalf("read size: %d %+v", code, rd)
	}
	if code := getJSON(t, h, "/files/read?path="+stdout+"&offset=6&length=3", &rd); code != 200 || rd.Data != "wor" || rd.Offset != 6 {
		t.Fatalf("read range: %d %+v", code, rd)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/files/download?path="+stdout, nil))
	if rec.Code != 200 || rec.Body.String() != "hello world" {
		t.Fatalf("download: %d %q", rec.Code, rec.Body.String())
	}
	for _, bad := range []struct {
		path string
		code int
	}{
		{dir + "/../../../../../../../../etc/passwd", http.StatusForbidden},
		{"../meta/agent.db", http.StatusForbidden},
		{"/etc/passwd", http.StatusForbidden},
		{dir + "/nope", http.StatusNotFound},
	} {
		for _, ep := range []string{"browse", "read", "download"} {
			if code := getJSON(t, h, "/files/"+ep+"?path="+url.QueryEscape(bad.path), nil); code != bad.code {
				t.Errorf("/files/%s?path=%s = %d, want %d", ep, bad.path, code, bad.code)
			}
		}
	}
	// A symlink inside a sandbox cannot lead outside it.
	if err := os.Symlink("/etc", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if code := getJSON(t, h, "/files/read?path="+url.QueryEscape(filepath.Join(dir, "escape", "passwd")), nil); code != http.StatusForbidden {
		t.Errorf("symlink escape = %d, want 403", code)
	}
	if code := getJSON(t, h, "/health", nil); code != 200 {
		t.Errorf("/health = %d", code)
	}
	var st map[string]any
	if getJSON(t, h, "/state", &st); st["id"] != "agent-1" || len(st["frameworks"].([]any)) != 1 {
		t.Errorf("/state = %v", st)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := New(Config{WorkDir: t.TempDir()}, fake.New(), nil); err == nil || !strings.Contains(err.Error(), "--master") {
		t.Fatalf("missing master: %v", err)
	}
	cfg := testConfig(t.TempDir(), "m:1")
	cfg.Resources = "cpus:lots"
	if _, err := New(cfg, fake.New(), nil); !errors.Is(err, fingerprint.ErrInvalid) {
		t.Fatalf("bad resources: %v", err)
	}
}

// stateJSON is the part of /state the completed-executor tests read.
type stateJSON struct {
	Frameworks          []stateFramework `json:"frameworks"`
	CompletedFrameworks []stateFramework `json:"completed_frameworks"`
	CompletedTasks      []struct {
		ID string `json:"id"`
	} `json:"completed_tasks"`
}

type stateFramework struct {
	ID                 string          `json:"id"`
	Executors          []stateExecutor `json:"executors"`
	CompletedExecutors []stateExecutor `json:"completed_executors"`
}

type stateExecutor struct {
	ID             string           `json:"id"`
	Name           string           `json:"name"`
	Source         string           `json:"source"`
	Container      string           `json:"container"`
	Directory      string           `json:"directory"`
	Resources      map[string]any   `json:"resources"`
	Tasks          []map[string]any `json:"tasks"`
	QueuedTasks    []map[string]any `json:"queued_tasks"`
	CompletedTasks []map[string]any `json:"completed_tasks"`
}

func execIDs(es []stateExecutor) string {
	ids := []string{}
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return strings.Join(ids, ",")
}

// ackThrough expects task id's updates in the given states, acknowledging
// each; retries and other tasks' updates are skipped, so tasks running
// side by side do not confuse it.
func (m *fakeMaster) ackThrough(t *testing.T, s *masterStream, id string, want ...mesos.TaskState) *mesosdpb.StatusUpdate {
	t.Helper()
	seen := map[string]bool{}
	var u *mesosdpb.StatusUpdate
	for _, st := range want {
		for {
			u = m.nextUpdate(t)
			if u.GetStatus().GetTaskId().GetValue() == id && !seen[string(u.GetStatus().GetUuid())] {
				break
			}
		}
		if u.GetStatus().GetState() != st {
			t.Fatalf("task %s: got update %v (%q), want %v", id, u.GetStatus().GetState(), u.GetStatus().GetMessage(), st)
		}
		seen[string(u.GetStatus().GetUuid())] = true
		m.send(s, ack(s, u))
	}
	return u
}

func TestStateKeepsCompletedExecutorsAndFrameworks(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	cfg.MaxCompletedExecutorsPerFramework = 1
	ta := startAgent(t, cfg, cz)
	h := ta.a.Handler()
	s := m.waitStream(t)
	fw := frameworkInfo()

	m.send(s, runTask(fw, "long", nil))
	m.ackThrough(t, s, "long", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING)
	m.send(s, runTask(fw, "short", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms"}))
	m.ackThrough(t, s, "short", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED)
	var short containerizer.LaunchSpec
	for _, l := range cz.Launches() {
		if l.Labels[LabelTaskID] == "short" {
			short = l
		}
	}

	// The finished task's executor stays listed, with its sandbox, after
	// its terminal update is acknowledged.
	var st stateJSON
	eventually(t, "short's executor in completed_executors after the ack", func() bool {
		getJSON(t, h, "/state", &st)
		// completed_tasks lists it once the acknowledgement is handled.
		return len(st.CompletedTasks) == 1 && len(st.Frameworks) == 1 && execIDs(st.Frameworks[0].CompletedExecutors) == "short"
	})
	if got := execIDs(st.Frameworks[0].Executors); got != "long" {
		t.Fatalf("running executors = %q, want long", got)
	}
	ex := st.Frameworks[0].CompletedExecutors[0]
	if ex.Directory != short.SandboxDir || ex.Container != short.ContainerID || ex.Source != "short" || ex.Name == "" ||
		ex.Resources["cpus"] != 0.5 || ex.Tasks == nil || len(ex.Tasks) != 0 || ex.QueuedTasks == nil || len(ex.QueuedTasks) != 0 ||
		len(ex.CompletedTasks) != 1 || ex.CompletedTasks[0]["id"] != "short" || ex.CompletedTasks[0]["state"] != "TASK_FINISHED" {
		t.Fatalf("completed executor = %+v, want short's (dir %q, container %q)", ex, short.SandboxDir, short.ContainerID)
	}

	// Once nothing of the framework runs it moves to completed_frameworks,
	// keeping at most MaxCompletedExecutorsPerFramework executors.
	m.send(s, killTask("fw-1", "long"))
	m.ackThrough(t, s, "long", mesos.TaskState_TASK_KILLED)
	eventually(t, "framework in completed_frameworks", func() bool {
		st = stateJSON{}
		getJSON(t, h, "/state", &st)
		return len(st.Frameworks) == 0 && len(st.CompletedFrameworks) == 1
	})
	if c := st.CompletedFrameworks[0]; c.ID != "fw-1" || execIDs(c.CompletedExecutors) != "long" || c.Executors == nil || len(c.Executors) != 0 {
		t.Fatalf("completed framework = %+v, want fw-1 with only the newest completed executor (long)", c)
	}

	// A new task revives the framework with its completed executors.
	m.send(s, runTask(fw, "again", nil))
	m.ackThrough(t, s, "again", mesos.TaskState_TASK_STARTING)
	st = stateJSON{}
	getJSON(t, h, "/state", &st)
	if len(st.CompletedFrameworks) != 0 || len(st.Frameworks) != 1 || execIDs(st.Frameworks[0].CompletedExecutors) != "long" ||
		execIDs(st.Frameworks[0].Executors) != "again" {
		t.Fatalf("after a new task: %+v", st)
	}
}

// slowDestroy makes Destroy take a while and honour its context, as
// containerd does when it removes a task and its shim.
type slowDestroy struct {
	*fake.Containerizer
	delay time.Duration
}

func (s slowDestroy) Destroy(ctx context.Context, id string) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return fmt.Errorf("destroy %q: %w", id, ctx.Err())
	}
	return s.Containerizer.Destroy(ctx, id)
}

func TestStopRightAfterExitStillDestroysContainer(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	ta := startAgent(t, testConfig(t.TempDir(), m.addr()), slowDestroy{cz, 100 * time.Millisecond})
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "quick", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms"}))
	m.ackThrough(t, s, "quick", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED)
	// The container has exited and its destruction started; stopping the
	// agent now must not abandon it.
	ta.stop(t)
	if cs, _ := cz.Containers(context.Background()); len(cs) != 0 {
		t.Fatalf("containers left after the agent stopped: %+v", cs)
	}
}

// failingDestroy never manages to destroy (the runtime is unreachable).
type failingDestroy struct{ *fake.Containerizer }

func (failingDestroy) Destroy(ctx context.Context, id string) error {
	return fmt.Errorf("destroy %q: connection refused", id)
}

func TestRecoveryDestroysExitedContainerOfTerminalTask(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	ta := startAgent(t, cfg, failingDestroy{cz})
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "quick", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms"}))
	u := m.ackThrough(t, s, "quick", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING)
	fin := m.expectUpdate(t, mesos.TaskState_TASK_FINISHED, u.GetStatus().GetUuid())
	ta.stop(t) // FINISHED checkpointed but not acknowledged; container exited, not destroyed
	cs, _ := cz.Containers(context.Background())
	if len(cs) != 1 || cs[0].Running {
		t.Fatalf("before restart want one exited container, got %+v", cs)
	}

	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	again := m.expectUpdate(t, mesos.TaskState_TASK_FINISHED)
	if !bytes.Equal(again.GetStatus().GetUuid(), fin.GetStatus().GetUuid()) {
		t.Fatal("the recorded terminal update was not resent as is")
	}
	eventually(t, "exited container destroyed on recovery", func() bool {
		cs, _ := cz.Containers(context.Background())
		return len(cs) == 0
	})
}

// syncBuffer is a log sink the agent's goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestStatusUpdateLogShowsOnlySetReasons(t *testing.T) {
	m := newFakeMaster(t)
	logs := &syncBuffer{}
	startAgentWithLogger(t, testConfig(t.TempDir(), m.addr()), fake.New(), slog.New(slog.NewTextHandler(logs, nil)))
	s := m.waitStream(t)
	m.send(s, runTask(frameworkInfo(), "fails", map[string]string{fake.EnvKey(fake.KeyRunFor): "1ms", fake.EnvKey(fake.KeyExitCode): "1"}))
	m.ackThrough(t, s, "fails", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FAILED)
	m.send(s, runTask(frameworkInfo(), "nolaunch", map[string]string{fake.EnvKey(fake.KeyStartError): "boom"}))
	m.ackThrough(t, s, "nolaunch", mesos.TaskState_TASK_FAILED)

	var updates []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="status update"`) {
			updates = append(updates, l)
		}
	}
	if len(updates) != 4 {
		t.Fatalf("want 4 status update log lines, got:\n%s", strings.Join(updates, "\n"))
	}
	for _, l := range updates[:3] {
		if strings.Contains(l, "reason=") {
			t.Errorf("update without a reason logged with one: %s", l)
		}
	}
	if !strings.Contains(updates[3], "reason=REASON_CONTAINER_LAUNCH_FAILED") {
		t.Errorf("launch failure logged without its reason: %s", updates[3])
	}
}

// flakyRuntime models containerd restarting: while down, Wait and
// Containers fail (and a blocked Wait is cut off), but containers keep
// running under their shims.
type flakyRuntime struct {
	*fake.Containerizer
	mu      sync.Mutex
	down    bool
	dropped chan struct{} // closed when the runtime goes down
	waits   int           // Wait calls while down
}

func newFlaky(cz *fake.Containerizer) *flakyRuntime {
	return &flakyRuntime{Containerizer: cz, dropped: make(chan struct{})}
}

func (f *flakyRuntime) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if down && !f.down {
		close(f.dropped)
	} else if !down && f.down {
		f.dropped = make(chan struct{})
	}
	f.down = down
}

func (f *flakyRuntime) waitsWhileDown() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waits
}

var errUnavailable = errors.New("rpc error: code = Unavailable desc = connection refused")

func (f *flakyRuntime) Wait(ctx context.Context, id string) (containerizer.ExitStatus, error) {
	f.mu.Lock()
	down, dropped := f.down, f.dropped
	if down {
		f.waits++
	}
	f.mu.Unlock()
	if down {
		return containerizer.ExitStatus{}, fmt.Errorf("wait for container %q: %w", id, errUnavailable)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-dropped:
			cancel()
		case <-wctx.Done():
		}
	}()
	st, err := f.Containerizer.Wait(wctx, id)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return st, fmt.Errorf("wait for container %q: %w", id, errUnavailable)
	}
	return st, err
}

func (f *flakyRuntime) Containers(ctx context.Context) ([]containerizer.Container, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, fmt.Errorf("list containers: %w", errUnavailable)
	}
	return f.Containerizer.Containers(ctx)
}

// noUpdateFor fails if any status update arrives within d.
func (m *fakeMaster) noUpdateFor(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case c := <-m.calls:
			if c.GetType() == mesosdpb.AgentCall_STATUS_UPDATE {
				st := c.GetStatusUpdate().GetStatus()
				t.Fatalf("unexpected update %v (%q, reason %v) of %s", st.GetState(), st.GetMessage(), st.GetReason(), st.GetTaskId().GetValue())
			}
		case <-deadline:
			return
		}
	}
}

func TestRuntimeOutageDoesNotFailRunningTasks(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	flaky := newFlaky(cz)
	cfg := testConfig(t.TempDir(), m.addr())
	cfg.WaitRetryMin, cfg.WaitRetryMax = 5*time.Millisecond, 20*time.Millisecond
	startAgent(t, cfg, flaky)
	s := m.waitStream(t)
	fw := frameworkInfo()
	m.send(s, runTask(fw, "survivor", nil))
	m.ackThrough(t, s, "survivor", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING)
	m.send(s, runTask(fw, "vanishes", nil))
	m.ackThrough(t, s, "vanishes", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING)
	m.send(s, runTask(fw, "lost", nil))
	m.ackThrough(t, s, "lost", mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING)
	cids := map[string]string{}
	for _, l := range cz.Launches() {
		cids[l.Labels[LabelTaskID]] = l.ContainerID
	}

	// containerd restarts: the agent keeps retrying and reports nothing.
	flaky.setDown(true)
	eventually(t, "Wait retried during the outage", func() bool { return flaky.waitsWhileDown() >= 3 })
	m.noUpdateFor(t, 50*time.Millisecond)
	// Meanwhile one container disappears for good.
	if err := cz.Destroy(context.Background(), cids["vanishes"]); err != nil {
		t.Fatal(err)
	}
	flaky.setDown(false)

	// Gone after the outage: the executor terminated.
	u := m.ackThrough(t, s, "vanishes", mesos.TaskState_TASK_FAILED)
	if st := u.GetStatus(); st.GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT {
		t.Fatalf("update for a container gone after the outage: %v", st)
	}
	// Still running: its real exit is reported later.
	if err := cz.Exit(cids["survivor"], containerizer.ExitStatus{ExitCode: 0}); err != nil {
		t.Fatal(err)
	}
	u = m.ackThrough(t, s, "survivor", mesos.TaskState_TASK_FINISHED)
	if st := u.GetStatus(); st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || st.Reason != nil {
		t.Fatalf("exit after the outage: %v", st)
	}
	// Exit status lost by the runtime (ExitCode -1): the executor is gone.
	if err := cz.Exit(cids["lost"], containerizer.ExitStatus{ExitCode: -1, Message: "task lost"}); err != nil {
		t.Fatal(err)
	}
	u = m.ackThrough(t, s, "lost", mesos.TaskState_TASK_FAILED)
	if st := u.GetStatus(); st.GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT ||
		!strings.Contains(st.GetMessage(), "task lost") {
		t.Fatalf("update for a lost exit status: %v", st)
	}
}
