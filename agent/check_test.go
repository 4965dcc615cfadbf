package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/containerizer/fake"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func withCheck(ev *mesosdpb.AgentEvent, c *mesos.CheckInfo) *mesosdpb.AgentEvent {
	ev.RunTask.Task.Check = c
	return ev
}

// generalCheck is a check with no delay and the health tests' short
// interval and timeout.
func generalCheck(typ mesos.CheckInfo_Type) *mesos.CheckInfo {
	return &mesos.CheckInfo{
		Type:            typ.Enum(),
		DelaySeconds:    proto.Float64(0),
		IntervalSeconds: proto.Float64(hcInterval),
		TimeoutSeconds:  proto.Float64(hcTimeout),
	}
}

func commandCheck(cmd string) *mesos.CheckInfo {
	c := generalCheck(mesos.CheckInfo_COMMAND)
	c.Command = &mesos.CheckInfo_Command{Command: &mesos.CommandInfo{Value: proto.String(cmd)}}
	return c
}

func httpGeneralCheck(port int, path string) *mesos.CheckInfo {
	c := generalCheck(mesos.CheckInfo_HTTP)
	c.Http = &mesos.CheckInfo_Http{Port: proto.Uint32(uint32(port)), Path: proto.String(path)}
	return c
}

func tcpGeneralCheck(port int) *mesos.CheckInfo {
	c := generalCheck(mesos.CheckInfo_TCP)
	c.Tcp = &mesos.CheckInfo_Tcp{Port: proto.Uint32(uint32(port))}
	return c
}

func exitCode(code int32) *mesos.CheckStatusInfo {
	return &mesos.CheckStatusInfo{Type: mesos.CheckInfo_COMMAND.Enum(), Command: &mesos.CheckStatusInfo_Command{ExitCode: proto.Int32(code)}}
}

func httpCode(code uint32) *mesos.CheckStatusInfo {
	return &mesos.CheckStatusInfo{Type: mesos.CheckInfo_HTTP.Enum(), Http: &mesos.CheckStatusInfo_Http{StatusCode: proto.Uint32(code)}}
}

func tcpSucceeded(ok bool) *mesos.CheckStatusInfo {
	return &mesos.CheckStatusInfo{Type: mesos.CheckInfo_TCP.Enum(), Tcp: &mesos.CheckStatusInfo_Tcp{Succeeded: proto.Bool(ok)}}
}

// expectCheck returns the next update, which must be a check update
// reporting want.
func (u *updates) expectCheck(want *mesos.CheckStatusInfo) *mesos.TaskStatus {
	u.t.Helper()
	st := u.expect(mesos.TaskState_TASK_RUNNING)
	if st.GetReason() != mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED || st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR ||
		st.GetExecutorId().GetValue() == "" || st.GetAgentId().GetValue() == "" || st.Message != nil || st.GetTimestamp() == 0 ||
		!proto.Equal(st.GetCheckStatus(), want) {
		u.t.Fatalf("check update = %v; want TASK_RUNNING, REASON_TASK_CHECK_STATUS_UPDATED, SOURCE_EXECUTOR, check_status %v", st, want)
	}
	return st
}

// expectEmptyCheck checks that st carries the empty result of typ.
func expectEmptyCheck(t *testing.T, st *mesos.TaskStatus, typ mesos.CheckInfo_Type) {
	t.Helper()
	if want := emptyCheckStatus(typ); !proto.Equal(st.GetCheckStatus(), want) {
		t.Fatalf("%v update: check_status %v, want the empty %v result %v", st.GetState(), st.GetCheckStatus(), typ, want)
	}
}

// scriptedExec answers check- execs with results in order, then repeats
// the last one; health- execs exit 0.
type scriptedExec struct {
	mu      sync.Mutex
	results []any // int exit code or error
}

func (s *scriptedExec) set(results ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = results
}

func (s *scriptedExec) exec(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error) {
	if !strings.HasPrefix(spec.ExecID, "check-") {
		return containerizer.ExitStatus{Message: "exited with status 0"}, nil
	}
	s.mu.Lock()
	r := s.results[0]
	if len(s.results) > 1 {
		s.results = s.results[1:]
	}
	s.mu.Unlock()
	if err, ok := r.(error); ok {
		return containerizer.ExitStatus{}, err
	}
	code := r.(int)
	return containerizer.ExitStatus{ExitCode: code, Message: containerizer.ExitMessage(code, 0)}, nil
}

func TestCheckCommandReportsChanges(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)

	// Unavailable (no result), 0 three times (one update), 1 twice (one
	// update), an error (empty result: one update), then 0 for good.
	se := &scriptedExec{}
	se.set(containerizer.ErrUnavailable, 0, 0, 0, 1, 1, errors.New("exec failed"), 0)
	cz.SetExec(se.exec)
	c := commandCheck("/usr/local/bin/probe")
	c.Command.Command.Environment = &mesos.Environment{Variables: []*mesos.Environment_Variable{{Name: proto.String("MODE"), Value: proto.String("x")}}}
	fw := frameworkInfo(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	m.send(s, withCheck(runTask(fw, "cmd", nil), c))
	u := m.updatesOf(t, s, "cmd")
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_STARTING), mesos.CheckInfo_COMMAND)
	running := u.expect(mesos.TaskState_TASK_RUNNING)
	expectEmptyCheck(t, running, mesos.CheckInfo_COMMAND)
	if running.Reason != nil || running.Healthy != nil {
		t.Fatalf("initial RUNNING = %v; want no reason, no health", running)
	}
	u.expectCheck(exitCode(0))
	u.expectCheck(exitCode(1))
	if st := u.expectCheck(emptyCheckStatus(mesos.CheckInfo_COMMAND)); st.Healthy != nil {
		t.Fatalf("check update of a task without health check carries healthy: %v", st)
	}
	u.expectCheck(exitCode(0))
	n := len(cz.Execs())
	eventually(t, "three more checks", func() bool { return len(cz.Execs()) >= n+3 })
	u.none(5 * hcIntervalDur)

	// Checks never kill; a kill stops them.
	m.send(s, killTask(fw.GetId().GetValue(), "cmd"))
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_KILLING), mesos.CheckInfo_COMMAND)
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_KILLED), mesos.CheckInfo_COMMAND)
	launch := cz.Launches()[0]
	for _, e := range cz.Execs() {
		sp := e.Spec
		if e.ContainerID != launch.ContainerID || strings.Join(sp.Argv, "|") != "/bin/sh|-c|/usr/local/bin/probe" ||
			strings.Join(sp.Env, " ") != "MODE=x" || !strings.HasPrefix(sp.ExecID, "check-") ||
			!strings.HasSuffix(sp.OutputPath, "/stderr") {
			t.Fatalf("exec %+v; want the task's container, sh -c, the check's env, a check- ID, output to stderr", e)
		}
	}
	n = len(cz.Execs())
	u.none(5 * hcIntervalDur)
	if got := len(cz.Execs()); got > n+1 { // one may have been under way
		t.Errorf("%d checks after the task was killed", got-n)
	}
}

func TestCheckCommandTimeoutIsEmpty(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	var mu sync.Mutex
	slow := true
	cz.SetExec(func(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error) {
		mu.Lock()
		sl := slow
		mu.Unlock()
		if sl {
			<-ctx.Done()
			return containerizer.ExitStatus{}, ctx.Err()
		}
		return containerizer.ExitStatus{ExitCode: 2, Message: "exited with status 2"}, nil
	})
	c := commandCheck("probe")
	c.TimeoutSeconds = proto.Float64(0.02)
	m.send(s, withCheck(runTask(frameworkInfo(), "slow", nil), c))
	u := m.updatesOf(t, s, "slow")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	// Timed-out checks give the empty result, the same as before any
	// check: nothing to report.
	eventually(t, "three timed-out checks", func() bool { return len(cz.Execs()) >= 3 })
	u.none(3 * hcIntervalDur)
	mu.Lock()
	slow = false
	mu.Unlock()
	u.expectCheck(exitCode(2))
	mu.Lock()
	slow = true
	mu.Unlock()
	u.expectCheck(emptyCheckStatus(mesos.CheckInfo_COMMAND))
}

func TestCheckHTTP(t *testing.T) {
	m := newFakeMaster(t)
	ta := startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusOK)
	m.send(s, withCheck(runTask(frameworkInfo(), "web", nil), httpGeneralCheck(srv.port(), "/ready")))
	u := m.updatesOf(t, s, "web")
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_STARTING), mesos.CheckInfo_HTTP)
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_RUNNING), mesos.CheckInfo_HTTP)
	u.expectCheck(httpCode(200))
	if p, _ := srv.path.Load().(string); p != "/ready" {
		t.Errorf("check requested %q, want /ready", p)
	}
	before := srv.requests.Load()
	eventually(t, "three more checks", func() bool { return srv.requests.Load() >= before+3 })
	u.none(3 * hcIntervalDur)
	// Any status code is a result; checks never kill.
	srv.code.Store(http.StatusServiceUnavailable)
	u.expectCheck(httpCode(503))
	before = srv.requests.Load()
	eventually(t, "three more checks", func() bool { return srv.requests.Load() >= before+3 })
	u.none(3 * hcIntervalDur)

	// /state shows the latest result on the one TASK_RUNNING status.
	var st struct {
		Frameworks []struct {
			Executors []struct {
				Tasks []struct {
					Statuses []map[string]any `json:"statuses"`
				} `json:"tasks"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	getJSON(t, ta.a.Handler(), "/state", &st)
	statuses := st.Frameworks[0].Executors[0].Tasks[0].Statuses
	cs, _ := statuses[len(statuses)-1]["check_status"].(map[string]any)
	if h, _ := cs["http"].(map[string]any); len(statuses) != 2 || cs["type"] != "HTTP" || h["status_code"] != 503.0 {
		t.Fatalf("/state statuses = %v; want STARTING, then RUNNING with check_status http status_code 503", statuses)
	}

	// The server goes away: the request fails, an empty result.
	srv.Close()
	u.expectCheck(emptyCheckStatus(mesos.CheckInfo_HTTP))
}

func TestCheckTCP(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	m.send(s, withCheck(runTask(frameworkInfo(), "db", nil), tcpGeneralCheck(port)))
	u := m.updatesOf(t, s, "db")
	u.expect(mesos.TaskState_TASK_STARTING)
	expectEmptyCheck(t, u.expect(mesos.TaskState_TASK_RUNNING), mesos.CheckInfo_TCP)
	u.expectCheck(tcpSucceeded(true))
	u.none(5 * hcIntervalDur)
	ln.Close()
	u.expectCheck(tcpSucceeded(false))
	u.none(5 * hcIntervalDur)
}

func TestCheckAndHealthCheckShareUpdates(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	se := &scriptedExec{}
	se.set(3)
	cz.SetExec(se.exec)
	srv := newHealthServer(t, http.StatusOK)
	ev := withCheck(runTask(frameworkInfo(), "both", nil), commandCheck("probe"))
	m.send(s, withHealthCheck(ev, httpHealthCheck(srv.port(), "/", 100)))
	u := m.updatesOf(t, s, "both")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	// The first health and check results come in either order; the
	// second update carries both.
	first, second := u.expect(mesos.TaskState_TASK_RUNNING), u.expect(mesos.TaskState_TASK_RUNNING)
	if first.GetReason() == mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
		checkHealthUpdate(t, first, true)
		expectEmptyCheck(t, first, mesos.CheckInfo_COMMAND)
		if second.GetReason() != mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED || !second.GetHealthy() ||
			!proto.Equal(second.GetCheckStatus(), exitCode(3)) {
			t.Fatalf("check update after the health update = %v; want healthy=true and exit code 3", second)
		}
	} else {
		if first.GetReason() != mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED || first.Healthy != nil ||
			!proto.Equal(first.GetCheckStatus(), exitCode(3)) {
			t.Fatalf("first update = %v; want a check update with exit code 3, no health", first)
		}
		checkHealthUpdate(t, second, true)
		if !proto.Equal(second.GetCheckStatus(), exitCode(3)) {
			t.Fatalf("health update after the check update = %v; want check_status exit code 3", second)
		}
	}
	// A new check result keeps the health, a new health keeps the result.
	se.set(4)
	if st := u.expectCheck(exitCode(4)); st.Healthy == nil || !st.GetHealthy() {
		t.Fatalf("check update = %v; want healthy=true kept", st)
	}
	srv.code.Store(http.StatusInternalServerError)
	if st := u.expectHealth(false); !proto.Equal(st.GetCheckStatus(), exitCode(4)) {
		t.Fatalf("health update = %v; want check_status exit code 4 kept", st)
	}
}

func TestCheckResumesAfterAgentRestart(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusOK)
	m.send(s, withCheck(runTask(frameworkInfo(), "durable", nil), httpGeneralCheck(srv.port(), "/")))
	u := m.updatesOf(t, s, "durable")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectCheck(httpCode(200))
	ta.stop(t)

	// The restarted agent checks again and does not report the result it
	// already reported; a new one it does.
	before := srv.requests.Load()
	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	u.s = s
	eventually(t, "checks after the agent restarted", func() bool { return srv.requests.Load() >= before+3 })
	u.none(5 * hcIntervalDur)
	srv.code.Store(http.StatusTeapot)
	u.expectCheck(httpCode(http.StatusTeapot))
}

func TestCheckInvalid(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	for i, tc := range []struct {
		c    *mesos.CheckInfo
		want string
	}{
		{&mesos.CheckInfo{Tcp: &mesos.CheckInfo_Tcp{Port: proto.Uint32(80)}}, "CheckInfo must specify 'type'"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_COMMAND.Enum()}, "Expecting 'command' to be set for COMMAND check"},
		{httpGeneralCheck(8080, "ready"), "The path 'ready' of HTTP check must start with '/'"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_TCP.Enum(), Tcp: &mesos.CheckInfo_Tcp{Port: proto.Uint32(80)}, IntervalSeconds: proto.Float64(-1)},
			"Expecting 'interval_seconds' to be non-negative"},
	} {
		id := "invalid-" + string(rune('a'+i))
		m.send(s, withCheck(runTask(frameworkInfo(), id, nil), tc.c))
		st := m.updatesOf(t, s, id).expect(mesos.TaskState_TASK_ERROR)
		if st.GetReason() != mesos.TaskStatus_REASON_TASK_INVALID || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT ||
			st.GetMessage() != "Task uses invalid check: "+tc.want {
			t.Errorf("%s: %v; want TASK_ERROR, REASON_TASK_INVALID, message %q", id, st, "Task uses invalid check: "+tc.want)
		}
	}
	if n := len(cz.Launches()); n != 0 {
		t.Fatalf("%d containers launched for invalid tasks", n)
	}
}

func TestCheckConfigDefaults(t *testing.T) {
	c := newCheckConfig(&mesos.CheckInfo{Type: mesos.CheckInfo_HTTP.Enum(), Http: &mesos.CheckInfo_Http{Port: proto.Uint32(8080), Path: proto.String("/a")}}, "")
	if c.delay != 15e9 || c.interval != 10e9 || c.timeout != 20e9 || c.url != "http://127.0.0.1:8080/a" {
		t.Errorf("HTTP config = %+v; want Mesos' defaults 15s/10s/20s and http://127.0.0.1:8080/a", c)
	}
	if c := newCheckConfig(tcpGeneralCheck(9), ""); c.addr != "127.0.0.1:9" {
		t.Errorf("TCP config = %+v", c)
	}
	c = newCheckConfig(&mesos.CheckInfo{Type: mesos.CheckInfo_COMMAND.Enum(), Command: &mesos.CheckInfo_Command{Command: &mesos.CommandInfo{
		Shell: proto.Bool(false), Value: proto.String("/bin/probe"), Arguments: []string{"probe", "-v"}}}}, "/sb")
	if c.output != "/sb/stderr" || strings.Join(c.argv, " ") != "/bin/probe -v" {
		t.Errorf("COMMAND config = %+v", c)
	}
}
