package master

// In-process test harness: a real Master (Raft on a temp dir, its loop, its
// HTTP handler on an httptest.Server), a fake agent speaking the agent
// protocol, and a scheduler client speaking the v1 scheduler API with either
// codec. Everything goes over HTTP, as in production; tests reach into the
// master only to force an allocation run (forceAllocation), never to read or
// change its state.
//
// Synchronisation: tests wait for events (eventLog.take), never for time.
// Where a test must show that something did NOT happen (no offer), it uses a
// barrier: a call whose answer travels down the same FIFO stream, so once
// the answer arrives everything sent before it has arrived too.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
	"github.com/mesosd/mesosd/proto/recordio"
)

var masterLog = flag.Bool("master.log", false, "write the master's logs to stderr")

// waitTimeout bounds every wait. It is generous because the race detector
// and two shared cores make everything slow; a healthy run waits
// milliseconds.
const waitTimeout = 15 * time.Second

// agentResources is what every fake agent offers unless told otherwise.
const agentResources = "cpus:4;mem:1024;disk:2048;ports:[31000-32000]"

var codecs = []struct {
	name string
	c    codec.Codec
}{
	{"json", codec.JSON},
	{"protobuf", codec.Protobuf},
}

// ---- event logs ----

// eventLog records a stream's events. take removes the first event matching
// a predicate, waiting for it; unmatched events stay for later takes, so a
// test states what it expects without depending on interleavings that do
// not matter.
type eventLog[T proto.Message] struct {
	mu     sync.Mutex
	items  []T
	notify chan struct{} // closed and replaced on every change
	ended  bool
	err    error
}

func newEventLog[T proto.Message]() *eventLog[T] {
	return &eventLog[T]{notify: make(chan struct{})}
}

func (l *eventLog[T]) add(v T) {
	l.mu.Lock()
	l.items = append(l.items, v)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog[T]) end(err error) {
	l.mu.Lock()
	l.ended, l.err = true, err
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func describe[T proto.Message](items []T) string {
	if len(items) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, it := range items {
		j, _ := codec.JSON.Marshal(it)
		b.WriteString("\n\t")
		b.Write(j)
	}
	return b.String()
}

// take removes and returns the first event matching pred, failing the test
// if none arrives within waitTimeout or the stream ends first.
func (l *eventLog[T]) take(t testing.TB, what string, pred func(T) bool) T {
	t.Helper()
	v, err := l.tryTake(what, pred)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (l *eventLog[T]) tryTake(what string, pred func(T) bool) (T, error) {
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i, v := range l.items {
			if pred(v) {
				l.items = append(l.items[:i:i], l.items[i+1:]...)
				l.mu.Unlock()
				return v, nil
			}
		}
		ch, ended, err, unmatched := l.notify, l.ended, l.err, describe(l.items)
		l.mu.Unlock()
		var zero T
		if ended {
			return zero, fmt.Errorf("waiting for %s: stream ended (%v); unmatched events: %s", what, err, unmatched)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return zero, fmt.Errorf("timed out after %v waiting for %s; unmatched events: %s", waitTimeout, what, unmatched)
		}
	}
}

// pending returns the recorded, not yet taken events matching pred.
func (l *eventLog[T]) pending(pred func(T) bool) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []T
	for _, v := range l.items {
		if pred(v) {
			out = append(out, v)
		}
	}
	return out
}

// waitEnd waits for the stream to end and returns why.
func (l *eventLog[T]) waitEnd(t testing.TB, what string) error {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ch, ended, err := l.notify, l.ended, l.err
		l.mu.Unlock()
		if ended {
			return err
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s to end", waitTimeout, what)
		}
	}
}

// readStream decodes RecordIO records from body into log until it ends.
func readStream[T proto.Message](body io.Reader, c codec.Codec, log *eventLog[T], newT func() T, onEvent func(T)) {
	r := recordio.NewReader(body, 0)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			log.end(err)
			return
		}
		ev := newT()
		if err := c.Unmarshal(rec, ev); err != nil {
			log.end(fmt.Errorf("decode event: %w (record %q)", err, rec))
			return
		}
		if onEvent != nil {
			onEvent(ev)
		}
		log.add(ev)
	}
}

// waitUntil polls cond (for state that has no event to wait for, like
// leadership) until it holds or waitTimeout passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- the master ----

// logRecorder keeps the master's warnings so tests can assert that none of
// the "this is a bug" kind (allocator bookkeeping errors) happened.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	next  slog.Handler
}

func (l *logRecorder) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= slog.LevelWarn || (l.next != nil && l.next.Enabled(ctx, lvl))
}

func (l *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		l.mu.Lock()
		l.lines = append(l.lines, b.String())
		l.mu.Unlock()
	}
	if l.next != nil && l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	// Attributes are dropped from the record copy; the message is enough.
	return l
}
func (l *logRecorder) WithGroup(string) slog.Handler { return l }

func (l *logRecorder) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

type testMaster struct {
	t      *testing.T
	m      *Master
	cfg    Config
	srv    *httptest.Server
	url    string
	cancel context.CancelFunc
	runErr chan error
	logs   *logRecorder
	// allowBookkeepingErrors turns off the allocator consistency check for
	// tests that provoke known, harmless disagreements.
	allowBookkeepingErrors bool
	stopped                bool
}

// testConfig is a master config with short timers for tests.
func testConfig(t *testing.T) Config {
	return Config{
		WorkDir:            t.TempDir(),
		Hostname:           "localhost",
		IP:                 "127.0.0.1",
		Port:               5050,
		AllocationInterval: 20 * time.Millisecond,
		TickInterval:       10 * time.Millisecond,
		MaxBodyBytes:       1 << 20,
	}
}

func startMaster(t *testing.T, cfg Config) *testMaster {
	t.Helper()
	logs := &logRecorder{}
	if *masterLog {
		logs.next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	cfg.Logger = slog.New(logs)
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("master.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm := &testMaster{t: t, m: m, cfg: cfg, cancel: cancel, runErr: make(chan error, 1), logs: logs}
	go func() { tm.runErr <- m.Run(ctx) }()
	tm.srv = httptest.NewServer(m.Handler())
	tm.url = tm.srv.URL
	t.Cleanup(func() {
		tm.stop()
		if !tm.allowBookkeepingErrors {
			for _, l := range logs.matching("allocator bookkeeping error") {
				t.Errorf("master and allocator disagree: %s", l)
			}
		}
	})
	waitUntil(t, "the master is elected", m.IsLeader)
	return tm
}

// stop ends Run and the HTTP server; open streams end with it.
func (tm *testMaster) stop() {
	if tm.stopped {
		return
	}
	tm.stopped = true
	tm.cancel()
	select {
	case err := <-tm.runErr:
		if err != nil {
			tm.t.Errorf("master Run: %v", err)
		}
	case <-time.After(waitTimeout):
		tm.t.Errorf("master Run did not return within %v of cancel", waitTimeout)
	}
	tm.srv.CloseClientConnections()
	tm.srv.Close()
}

// restart stops the master and starts a new one on the same work dir, as
// after a crash: the registry comes back from the Raft log, tasks do not.
func (tm *testMaster) restart() *testMaster {
	tm.t.Helper()
	tm.stop()
	return startMaster(tm.t, tm.cfg)
}

// forceAllocation makes the loop run a full allocation cycle and returns
// once it has: the closure runs on the loop, and the loop runs the
// allocator right after it, before it takes the next request (the second
// do waits for that).
func (tm *testMaster) forceAllocation() {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tm.m.do(ctx, func() { tm.m.dirtyAll = true }); err != nil {
		tm.t.Fatalf("forceAllocation: %v", err)
	}
	if err := tm.m.do(ctx, func() {}); err != nil {
		tm.t.Fatalf("forceAllocation: %v", err)
	}
}

// post sends a raw request and returns the status code and body.
func (tm *testMaster) post(path string, hdr map[string]string, body []byte) (int, string) {
	tm.t.Helper()
	req, err := http.NewRequest(http.MethodPost, tm.url+path, bytes.NewReader(body))
	if err != nil {
		tm.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tm.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// getJSON fetches a JSON endpoint, expecting 200.
func (tm *testMaster) getJSON(path string) map[string]any {
	tm.t.Helper()
	resp, err := http.Get(tm.url + path)
	if err != nil {
		tm.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tm.t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		tm.t.Fatalf("GET %s: decode %q: %v", path, b, err)
	}
	return out
}

func (tm *testMaster) state() map[string]any { return tm.getJSON("/master/state") }

// metrics returns /metrics/snapshot.
func (tm *testMaster) metrics() map[string]float64 {
	tm.t.Helper()
	out := map[string]float64{}
	for k, v := range tm.getJSON("/metrics/snapshot") {
		f, ok := v.(float64)
		if !ok {
			tm.t.Fatalf("metric %q = %v (%T), want a number", k, v, v)
		}
		out[k] = f
	}
	return out
}

// jsonList returns m[key] as a list of objects.
func jsonList(t testing.TB, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%q = %v (%T), want an array", key, m[key], m[key])
	}
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		o, ok := r.(map[string]any)
		if !ok {
			t.Fatalf("%q element %v is not an object", key, r)
		}
		out = append(out, o)
	}
	return out
}

// findByID returns the object with id in list, or nil.
func findByID(list []map[string]any, id string) map[string]any {
	for _, o := range list {
		if o["id"] == id {
			return o
		}
	}
	return nil
}

// stateFramework finds a framework in /master/state, active or completed.
func (tm *testMaster) stateFramework(id string) (fw map[string]any, completed bool) {
	tm.t.Helper()
	st := tm.state()
	if f := findByID(jsonList(tm.t, st, "frameworks"), id); f != nil {
		return f, false
	}
	if f := findByID(jsonList(tm.t, st, "completed_frameworks"), id); f != nil {
		return f, true
	}
	return nil, false
}

// ---- the fake agent ----

type fakeAgent struct {
	t        *testing.T
	tm       *testMaster
	id       string
	info     *mesos.AgentInfo
	streamID string
	events   *eventLog[*pb.AgentEvent]
	cancel   context.CancelFunc
	// ignorePings makes the agent look dead to the master's health checks.
	ignorePings atomic.Bool
}

type agentOpts struct {
	id         string // re-register with this ID
	hostname   string
	resources  string
	tasks      []*mesos.Task
	frameworks []*mesos.FrameworkInfo
}

func mustResources(t testing.TB, s string) []*mesos.Resource {
	t.Helper()
	r, err := resources.Parse(s)
	if err != nil {
		t.Fatalf("parse resources %q: %v", s, err)
	}
	return r.ToProto()
}

// addAgent subscribes a fake agent and waits for REGISTERED.
func (tm *testMaster) addAgent(o agentOpts) *fakeAgent {
	t := tm.t
	t.Helper()
	if o.hostname == "" {
		o.hostname = "agent.example"
	}
	if o.resources == "" {
		o.resources = agentResources
	}
	info := &mesos.AgentInfo{Hostname: proto.String(o.hostname), Port: proto.Int32(5051), Resources: mustResources(t, o.resources)}
	if o.id != "" {
		info.Id = &mesos.AgentID{Value: proto.String(o.id)}
	}
	body, err := proto.Marshal(&pb.AgentSubscribe{Info: info, Tasks: o.tasks, Frameworks: o.frameworks, Version: proto.String("test")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tm.url+"/internal/agent/v1/subscribe", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ContentTypeProtobuf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("agent subscribe: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("agent subscribe: %s: %s", resp.Status, b)
	}
	a := &fakeAgent{t: t, tm: tm, info: info, streamID: resp.Header.Get(headerAgentStreamID), events: newEventLog[*pb.AgentEvent](), cancel: cancel}
	if a.streamID == "" {
		t.Fatalf("agent subscribe: no %s header", headerAgentStreamID)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		// The reader learns the agent ID from REGISTERED itself: a.id is
		// written by the test goroutine, so reading it here would race.
		var id *mesos.AgentID
		readStream(resp.Body, codec.Protobuf, a.events, func() *pb.AgentEvent { return new(pb.AgentEvent) }, func(ev *pb.AgentEvent) {
			if ev.GetType() == pb.AgentEvent_REGISTERED {
				id = ev.GetRegistered().GetAgentId()
			}
			if ev.GetType() == pb.AgentEvent_PING && !a.ignorePings.Load() && id != nil {
				// Answer from the reader goroutine, as a real agent's
				// loop would; failures only matter to ping tests.
				go a.send(&pb.AgentCall{AgentId: id, Type: pb.AgentCall_PONG.Enum(), Pong: &pb.AgentCall_Pong{Seq: ev.GetPing().Seq}})
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	reg := a.events.take(t, "agent REGISTERED", func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_REGISTERED })
	a.id = reg.GetRegistered().GetAgentId().GetValue()
	if o.id != "" && a.id != o.id {
		t.Fatalf("agent re-registered as %q, want its own ID %q", a.id, o.id)
	}
	return a
}

// send posts an agent call and returns the HTTP status.
func (a *fakeAgent) send(c *pb.AgentCall) int {
	if c.AgentId == nil {
		c.AgentId = &mesos.AgentID{Value: proto.String(a.id)}
	}
	body, _ := proto.Marshal(c)
	req, _ := http.NewRequest(http.MethodPost, a.tm.url+"/internal/agent/v1/call", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ContentTypeProtobuf)
	req.Header.Set(headerAgentStreamID, a.streamID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// update sends a reliable status update for a task and returns its uuid.
func (a *fakeAgent) update(fid, taskID string, state mesos.TaskState) []byte {
	a.t.Helper()
	u := newUUID()
	if code := a.sendUpdateUUID(fid, taskID, state, u); code != http.StatusAccepted {
		a.t.Fatalf("agent STATUS_UPDATE %s %s: HTTP %d, want 202", taskID, state, code)
	}
	return u
}

// sendUpdate is update for other goroutines: it returns the HTTP status.
func (a *fakeAgent) sendUpdate(fid, taskID string, state mesos.TaskState) int {
	return a.sendUpdateUUID(fid, taskID, state, newUUID())
}

func (a *fakeAgent) sendUpdateUUID(fid, taskID string, state mesos.TaskState, u []byte) int {
	st := &mesos.TaskStatus{
		TaskId:    &mesos.TaskID{Value: proto.String(taskID)},
		State:     state.Enum(),
		Source:    mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
		AgentId:   &mesos.AgentID{Value: proto.String(a.id)},
		Uuid:      u,
		Timestamp: proto.Float64(1),
	}
	return a.send(&pb.AgentCall{
		Type: pb.AgentCall_STATUS_UPDATE.Enum(),
		StatusUpdate: &pb.StatusUpdate{
			FrameworkId: &mesos.FrameworkID{Value: proto.String(fid)},
			Status:      st,
			Timestamp:   proto.Float64(1),
		},
	})
}

func (a *fakeAgent) take(what string, typ pb.AgentEvent_Type, pred func(*pb.AgentEvent) bool) *pb.AgentEvent {
	a.t.Helper()
	return a.events.take(a.t, what, func(ev *pb.AgentEvent) bool {
		return ev.GetType() == typ && (pred == nil || pred(ev))
	})
}

// runTask waits for the RUN_TASK of taskID.
func (a *fakeAgent) runTask(taskID string) *pb.AgentEvent_RunTask {
	a.t.Helper()
	return a.take("RUN_TASK "+taskID, pb.AgentEvent_RUN_TASK, func(ev *pb.AgentEvent) bool {
		return ev.GetRunTask().GetTask().GetTaskId().GetValue() == taskID
	}).GetRunTask()
}

// disconnect closes the agent's stream (the process "dies").
func (a *fakeAgent) disconnect() {
	a.cancel()
	a.events.waitEnd(a.t, "agent stream")
}

// ---- the scheduler client ----

type sched struct {
	t        *testing.T
	tm       *testMaster
	c        codec.Codec
	fid      string
	info     *mesos.FrameworkInfo
	streamID string
	header   http.Header
	events   *eventLog[*scheduler.Event]
	cancel   context.CancelFunc
	seq      int
}

func frameworkInfo(name string, capabilities ...mesos.FrameworkInfo_Capability_Type) *mesos.FrameworkInfo {
	fi := &mesos.FrameworkInfo{User: proto.String("tester"), Name: proto.String(name)}
	for _, c := range capabilities {
		fi.Capabilities = append(fi.Capabilities, &mesos.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return fi
}

func multiRole(fi *mesos.FrameworkInfo, roles ...string) *mesos.FrameworkInfo {
	fi.Capabilities = append(fi.Capabilities, &mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()})
	fi.Roles = roles
	return fi
}

// openStream posts a SUBSCRIBE and, on 200, starts reading its stream. It
// returns the client even for an ERROR stream; the caller checks events.
func (tm *testMaster) openStream(c codec.Codec, info *mesos.FrameworkInfo) (*sched, int) {
	t := tm.t
	t.Helper()
	call := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info}}
	call.FrameworkId = info.Id
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tm.url+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", c.ContentType())
	req.Header.Set("Accept", c.ContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	s := &sched{t: t, tm: tm, c: c, info: info, header: resp.Header, streamID: resp.Header.Get(headerStreamID), events: newEventLog[*scheduler.Event](), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return s, resp.StatusCode
	}
	if got := resp.Header.Get("Content-Type"); got != c.ContentType() {
		t.Errorf("SUBSCRIBE response Content-Type = %q, want %q (the negotiated codec, not recordio)", got, c.ContentType())
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("SUBSCRIBE response has a Content-Length (%d); it must be an open-ended stream", resp.ContentLength)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		readStream(resp.Body, c, s.events, func() *scheduler.Event { return new(scheduler.Event) }, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s, resp.StatusCode
}

// subscribe subscribes (or re-subscribes when info.id is set) and waits for
// SUBSCRIBED.
func (tm *testMaster) subscribe(c codec.Codec, info *mesos.FrameworkInfo) *sched {
	tm.t.Helper()
	s, code := tm.openStream(c, info)
	if code != http.StatusOK {
		tm.t.Fatalf("SUBSCRIBE: HTTP %d, want 200", code)
	}
	ev := s.events.take(tm.t, "SUBSCRIBED", func(ev *scheduler.Event) bool {
		return ev.GetType() == scheduler.Event_SUBSCRIBED || ev.GetType() == scheduler.Event_ERROR
	})
	if ev.GetType() == scheduler.Event_ERROR {
		tm.t.Fatalf("SUBSCRIBE answered ERROR %q", ev.GetError().GetMessage())
	}
	if s.streamID == "" {
		tm.t.Fatalf("SUBSCRIBE response has no %s header", headerStreamID)
	}
	s.fid = ev.GetSubscribed().GetFrameworkId().GetValue()
	s.info = proto.Clone(info).(*mesos.FrameworkInfo)
	s.info.Id = ev.GetSubscribed().GetFrameworkId()
	s.events.add(ev) // put it back for tests that inspect it
	return s
}

// call sends a non-SUBSCRIBE call on a separate connection and returns the
// HTTP status code.
func (s *sched) call(c *scheduler.Call) int {
	s.t.Helper()
	code, _ := s.callBody(c)
	return code
}

func (s *sched) callBody(c *scheduler.Call) (int, string) {
	s.t.Helper()
	if c.FrameworkId == nil {
		c.FrameworkId = &mesos.FrameworkID{Value: proto.String(s.fid)}
	}
	body, err := s.c.Marshal(c)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.tm.post("/api/v1/scheduler", map[string]string{"Content-Type": s.c.ContentType(), headerStreamID: s.streamID}, body)
}

// callBodyNoHelper is callBody for other goroutines: no t.Fatal.
func (s *sched) callBodyNoHelper(c *scheduler.Call) (int, string) {
	if c.FrameworkId == nil {
		c.FrameworkId = &mesos.FrameworkID{Value: proto.String(s.fid)}
	}
	body, err := s.c.Marshal(c)
	if err != nil {
		return 0, err.Error()
	}
	req, _ := http.NewRequest(http.MethodPost, s.tm.url+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", s.c.ContentType())
	req.Header.Set(headerStreamID, s.streamID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// mustCall sends a call that must answer 202.
func (s *sched) mustCall(c *scheduler.Call) {
	s.t.Helper()
	if code, body := s.callBody(c); code != http.StatusAccepted {
		s.t.Fatalf("%s: HTTP %d (%s), want 202", c.GetType(), code, strings.TrimSpace(body))
	}
}

func (s *sched) take(what string, typ scheduler.Event_Type, pred func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	return s.events.take(s.t, what, func(ev *scheduler.Event) bool {
		return ev.GetType() == typ && (pred == nil || pred(ev))
	})
}

// offers waits for the next OFFERS event.
func (s *sched) offers() []*mesos.Offer {
	s.t.Helper()
	return s.take("OFFERS", scheduler.Event_OFFERS, nil).GetOffers().GetOffers()
}

// offer waits for one offer from agent a.
func (s *sched) offer(a *fakeAgent) *mesos.Offer {
	s.t.Helper()
	ev := s.take("OFFERS from agent "+a.id, scheduler.Event_OFFERS, func(ev *scheduler.Event) bool {
		for _, o := range ev.GetOffers().GetOffers() {
			if o.GetAgentId().GetValue() == a.id {
				return true
			}
		}
		return false
	})
	for _, o := range ev.GetOffers().GetOffers() {
		if o.GetAgentId().GetValue() == a.id {
			return o
		}
	}
	panic("unreachable")
}

// update waits for an UPDATE of taskID in state.
func (s *sched) update(taskID string, state mesos.TaskState) *mesos.TaskStatus {
	s.t.Helper()
	return s.take(fmt.Sprintf("UPDATE %s %s", taskID, state), scheduler.Event_UPDATE, func(ev *scheduler.Event) bool {
		st := ev.GetUpdate().GetStatus()
		return st.GetTaskId().GetValue() == taskID && st.GetState() == state
	}).GetUpdate().GetStatus()
}

// anyUpdate waits for any UPDATE of taskID.
func (s *sched) anyUpdate(taskID string) *mesos.TaskStatus {
	s.t.Helper()
	return s.take("UPDATE "+taskID, scheduler.Event_UPDATE, func(ev *scheduler.Event) bool {
		return ev.GetUpdate().GetStatus().GetTaskId().GetValue() == taskID
	}).GetUpdate().GetStatus()
}

// barrier sends an explicit reconciliation of a task nobody knows and waits
// for its answer. Events travel one FIFO stream, so once the answer is here
// everything the master sent before it is here too.
func (s *sched) barrier() {
	s.t.Helper()
	s.seq++
	id := fmt.Sprintf("barrier-%d", s.seq)
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{
		Tasks: []*scheduler.Call_Reconcile_Task{{
			TaskId: &mesos.TaskID{Value: proto.String(id)},
			// An agent nobody knows: answered even while other agents are
			// still recovered after a master restart.
			AgentId: &mesos.AgentID{Value: proto.String("barrier-agent")},
		}},
	}})
	s.anyUpdate(id)
}

// noUpdate asserts that no UPDATE for taskID is pending after a barrier.
func (s *sched) noUpdate(taskID, why string) {
	s.t.Helper()
	s.barrier()
	if got := s.events.pending(func(ev *scheduler.Event) bool {
		return ev.GetType() == scheduler.Event_UPDATE && ev.GetUpdate().GetStatus().GetTaskId().GetValue() == taskID
	}); len(got) > 0 {
		s.t.Fatalf("%s, but got updates: %s", why, describe(got))
	}
}

// noOffers asserts that no OFFERS event is pending after a barrier.
func (s *sched) noOffers(why string) {
	s.t.Helper()
	s.barrier()
	if got := s.events.pending(func(ev *scheduler.Event) bool { return ev.GetType() == scheduler.Event_OFFERS }); len(got) > 0 {
		s.t.Fatalf("%s, but got offers: %s", why, describe(got))
	}
}

func (s *sched) ack(st *mesos.TaskStatus) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACKNOWLEDGE.Enum(), Acknowledge: &scheduler.Call_Acknowledge{
		AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
	}})
}

func offerIDs(offers ...*mesos.Offer) []*mesos.OfferID {
	var out []*mesos.OfferID
	for _, o := range offers {
		out = append(out, o.GetId())
	}
	return out
}

// launch accepts offers with one LAUNCH of tasks.
func (s *sched) launch(offers []*mesos.Offer, tasks ...*mesos.TaskInfo) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT.Enum(), Accept: &scheduler.Call_Accept{
		OfferIds: offerIDs(offers...),
		Operations: []*mesos.Offer_Operation{{
			Type:   mesos.Offer_Operation_LAUNCH.Enum(),
			Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks},
		}},
		Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0)},
	}})
}

func (s *sched) decline(refuse float64, offers ...*mesos.Offer) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_DECLINE.Enum(), Decline: &scheduler.Call_Decline{
		OfferIds: offerIDs(offers...), Filters: &mesos.Filters{RefuseSeconds: proto.Float64(refuse)},
	}})
}

// task builds a command task for agent a using res.
func cmdTask(t testing.TB, id string, a *fakeAgent, res string) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:      proto.String("task " + id),
		TaskId:    &mesos.TaskID{Value: proto.String(id)},
		AgentId:   &mesos.AgentID{Value: proto.String(a.id)},
		Resources: mustResources(t, res),
		Command:   &mesos.CommandInfo{Value: proto.String("sleep 1000")},
	}
}

// resourcesOf parses offered resources, dropping allocation_info.
func resourcesOf(t testing.TB, rs []*mesos.Resource) resources.Resources {
	t.Helper()
	r, err := resources.FromProto(stripAllocation(rs))
	if err != nil {
		t.Fatalf("offered resources do not parse: %v", err)
	}
	return r
}

// sumOffers adds up the resources of offers.
func sumOffers(t testing.TB, offers []*mesos.Offer) resources.Resources {
	var sum resources.Resources
	for _, o := range offers {
		sum = sum.Add(resourcesOf(t, o.GetResources()))
	}
	return sum
}

// waitOffered waits until s has been offered all of want on agent a, in one
// or several OFFERS events (a finished task's resources may come back in a
// different cycle than the rest).
func (s *sched) waitOffered(a *fakeAgent, want string) []*mesos.Offer {
	s.t.Helper()
	target := resourcesOf(s.t, mustResources(s.t, want))
	var got []*mesos.Offer
	for !sumOffers(s.t, got).Contains(target) {
		got = append(got, s.offer(a))
	}
	return got
}

var codecJSON = codec.JSON
