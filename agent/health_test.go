package agent

import (
	"context"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/containerizer/fake"
	"github.com/mesosd/mesosd/internal/healthcheck"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// Short timings: checks every 20ms, each bounded by a second.
const (
	hcInterval    = 0.02
	hcIntervalDur = 20 * time.Millisecond
	hcTimeout     = 1.0
)

func withHealthCheck(ev *mesosdpb.AgentEvent, hc *mesos.HealthCheck) *mesosdpb.AgentEvent {
	ev.RunTask.Task.HealthCheck = hc
	return ev
}

// healthCheck is a check with no delay, no grace period, short interval
// and timeout, killing after failures consecutive failures.
func healthCheck(typ mesos.HealthCheck_Type, failures uint32) *mesos.HealthCheck {
	return &mesos.HealthCheck{
		Type:                typ.Enum(),
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(hcInterval),
		TimeoutSeconds:      proto.Float64(hcTimeout),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(failures),
	}
}

func httpHealthCheck(port int, path string, failures uint32) *mesos.HealthCheck {
	hc := healthCheck(mesos.HealthCheck_HTTP, failures)
	hc.Http = &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port)), Path: proto.String(path)}
	return hc
}

func commandHealthCheck(cmd string, failures uint32) *mesos.HealthCheck {
	hc := healthCheck(mesos.HealthCheck_COMMAND, failures)
	hc.Command = &mesos.CommandInfo{Value: proto.String(cmd)}
	return hc
}

// healthServer answers its path with a settable status code and counts
// requests.
type healthServer struct {
	*httptest.Server
	code     atomic.Int32
	redirect atomic.Bool // redirect everything but /ok to /ok, which answers 200
	requests atomic.Int64
	path     atomic.Value // last path requested
}

func newHealthServer(t *testing.T, code int) *healthServer {
	h := &healthServer{}
	h.code.Store(int32(code))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		h.path.Store(r.URL.Path)
		switch {
		case r.URL.Path == "/ok":
		case h.redirect.Load():
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.WriteHeader(int(h.code.Load()))
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *healthServer) port() int { return h.Listener.Addr().(*net.TCPAddr).Port }

// updates reads one task's updates, skipping retries and acknowledging
// each new one as it is returned (and retries again: an acknowledgement
// may have been lost with an agent restart).
type updates struct {
	t    *testing.T
	m    *fakeMaster
	s    *masterStream
	id   string
	seen map[string]bool
}

func (m *fakeMaster) updatesOf(t *testing.T, s *masterStream, id string) *updates {
	return &updates{t: t, m: m, s: s, id: id, seen: map[string]bool{}}
}

func (u *updates) next() *mesos.TaskStatus {
	u.t.Helper()
	for {
		up := u.m.nextUpdate(u.t)
		st := up.GetStatus()
		if st.GetTaskId().GetValue() != u.id {
			continue
		}
		if u.seen[string(st.GetUuid())] {
			u.m.send(u.s, ack(u.s, up))
			continue
		}
		u.seen[string(st.GetUuid())] = true
		if len(st.GetUuid()) != 16 {
			u.t.Fatalf("update %v without a 16-byte uuid", st.GetState())
		}
		u.m.send(u.s, ack(u.s, up))
		return st
	}
}

// expect returns the next update, which must be in state want.
func (u *updates) expect(want mesos.TaskState) *mesos.TaskStatus {
	u.t.Helper()
	st := u.next()
	if st.GetState() != want {
		u.t.Fatalf("task %s: got %v (healthy %v, reason %v, %q), want %v", u.id, st.GetState(), healthyString(st),
			st.GetReason(), st.GetMessage(), want)
	}
	return st
}

// expectHealth returns the next update, which must be a health update.
func (u *updates) expectHealth(healthy bool) *mesos.TaskStatus {
	u.t.Helper()
	st := u.expect(mesos.TaskState_TASK_RUNNING)
	checkHealthUpdate(u.t, st, healthy)
	return st
}

// none fails if a new update of the task arrives within d.
func (u *updates) none(d time.Duration) {
	u.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case c := <-u.m.calls:
			st := c.GetStatusUpdate().GetStatus()
			if c.GetType() != mesosdpb.AgentCall_STATUS_UPDATE || st.GetTaskId().GetValue() != u.id {
				continue
			}
			if u.seen[string(st.GetUuid())] {
				u.m.send(u.s, ack(u.s, c.GetStatusUpdate()))
			} else {
				u.t.Fatalf("unexpected update %v (healthy %v, reason %v, %q)", st.GetState(), healthyString(st), st.GetReason(), st.GetMessage())
			}
		case <-deadline:
			return
		}
	}
}

func healthyString(st *mesos.TaskStatus) string {
	if st.Healthy == nil {
		return "unset"
	}
	if st.GetHealthy() {
		return "true"
	}
	return "false"
}

func checkHealthUpdate(t *testing.T, st *mesos.TaskStatus, healthy bool) {
	t.Helper()
	if st.Healthy == nil || st.GetHealthy() != healthy || st.GetReason() != mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED ||
		st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || st.GetExecutorId().GetValue() == "" || st.GetAgentId().GetValue() == "" ||
		st.Message != nil || st.GetTimestamp() == 0 {
		t.Fatalf("health update = %v; want TASK_RUNNING healthy=%v, REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, SOURCE_EXECUTOR, no message",
			st, healthy)
	}
}

// checkKilledUnhealthy checks the terminal update of a task the health
// checker killed: as Mesos' command executor, TASK_KILLED with
// healthy=false, a message and no reason.
func checkKilledUnhealthy(t *testing.T, st *mesos.TaskStatus) {
	t.Helper()
	if st.GetState() != mesos.TaskState_TASK_KILLED || st.Healthy == nil || st.GetHealthy() || st.Reason != nil ||
		st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR || !strings.HasPrefix(st.GetMessage(), "Command terminated with signal") {
		t.Fatalf("terminal update = %v; want TASK_KILLED, healthy=false, no reason, SOURCE_EXECUTOR", st)
	}
}

func TestHealthCheckHTTP(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	ta := startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusOK)

	m.send(s, withHealthCheck(runTask(frameworkInfo(), "web", nil), httpHealthCheck(srv.port(), "/health", 2)))
	u := m.updatesOf(t, s, "web")
	u.expect(mesos.TaskState_TASK_STARTING)
	if st := u.expect(mesos.TaskState_TASK_RUNNING); st.Healthy != nil || st.Reason != nil {
		t.Fatalf("RUNNING before any check carries health: %v", st)
	}
	u.expectHealth(true)
	if p, _ := srv.path.Load().(string); p != "/health" {
		t.Errorf("check requested %q, want /health", p)
	}
	// Healthy again and again: nothing more to report.
	before := srv.requests.Load()
	eventually(t, "three more checks", func() bool { return srv.requests.Load() >= before+3 })
	u.none(5 * hcIntervalDur)

	// /state shows the health, and keeps one TASK_RUNNING status.
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
	if len(statuses) != 2 || statuses[1]["state"] != "TASK_RUNNING" || statuses[1]["healthy"] != true || statuses[0]["healthy"] != nil {
		t.Fatalf("/state statuses = %v; want STARTING, then one RUNNING with healthy=true", statuses)
	}

	// The server breaks: every failed check reports, the second kills.
	srv.code.Store(http.StatusInternalServerError)
	u.expectHealth(false)
	u.expectHealth(false)
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
	// Checking stopped with the kill.
	n := srv.requests.Load()
	time.Sleep(5 * hcIntervalDur)
	if got := srv.requests.Load(); got > n {
		t.Errorf("%d checks after the task was killed", got-n)
	}
}

func TestHealthCheckRecoversAndKillingState(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusServiceUnavailable)
	fw := frameworkInfo(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)

	// Unhealthy first (no grace period): reported, not killed yet.
	m.send(s, withHealthCheck(runTask(fw, "flappy", nil), httpHealthCheck(srv.port(), "/", 1000)))
	u := m.updatesOf(t, s, "flappy")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(false)
	// A redirect is followed (curl -L), to a healthy answer.
	srv.redirect.Store(true)
	for {
		st := u.expect(mesos.TaskState_TASK_RUNNING)
		if st.GetHealthy() {
			checkHealthUpdate(t, st, true)
			break
		}
		checkHealthUpdate(t, st, false) // failures before the switch
	}
	u.none(5 * hcIntervalDur)

	// A kill by the framework: TASK_KILLING, then TASK_KILLED without
	// health (the health checker did not kill it).
	m.send(s, killTask("fw-1", "flappy"))
	u.expect(mesos.TaskState_TASK_KILLING)
	if st := u.expect(mesos.TaskState_TASK_KILLED); st.Healthy != nil {
		t.Fatalf("framework-killed task reported healthy=%v", st.GetHealthy())
	}
}

func TestHealthCheckGracePeriod(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)

	// The first three checks fail, then the task comes up. Within the
	// grace period the failures are ignored: the first report is healthy.
	var calls atomic.Int64
	var broken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else if broken.Load() {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	hc := httpHealthCheck(srv.Listener.Addr().(*net.TCPAddr).Port, "/", 1)
	hc.GracePeriodSeconds = proto.Float64(60)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "slowstart", nil), hc))
	u := m.updatesOf(t, s, "slowstart")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(true)
	if n := calls.Load(); n < 4 {
		t.Fatalf("healthy after %d checks, want the 4th", n)
	}

	// Once it succeeded the grace period no longer applies: one failure
	// (consecutive_failures 1) kills it.
	broken.Store(true)
	u.expectHealth(false)
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))

	// Without a grace period the first failure counts.
	srv2 := newHealthServer(t, http.StatusServiceUnavailable)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "nograce", nil), httpHealthCheck(srv2.port(), "/", 1)))
	u = m.updatesOf(t, s, "nograce")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(false)
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
}

func TestHealthCheckTCP(t *testing.T) {
	m := newFakeMaster(t)
	startAgent(t, testConfig(t.TempDir(), m.addr()), fake.New())
	s := m.waitStream(t)
	for _, tc := range []struct {
		name, network, addr string
		proto               mesos.NetworkInfo_Protocol
	}{
		{"ipv4", "tcp4", "127.0.0.1:0", mesos.NetworkInfo_IPv4},
		{"ipv6", "tcp6", "[::1]:0", mesos.NetworkInfo_IPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.addr)
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.name, err)
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			hc := healthCheck(mesos.HealthCheck_TCP, 1)
			hc.Tcp = &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(uint32(ln.Addr().(*net.TCPAddr).Port)), Protocol: tc.proto.Enum()}
			id := "tcp-" + tc.name
			m.send(s, withHealthCheck(runTask(frameworkInfo(), id, nil), hc))
			u := m.updatesOf(t, s, id)
			u.expect(mesos.TaskState_TASK_STARTING)
			u.expect(mesos.TaskState_TASK_RUNNING)
			u.expectHealth(true)
			ln.Close() // nothing listens any more
			u.expectHealth(false)
			checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
		})
	}
}

func TestHealthCheckCommand(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)

	// Scripted results: unavailable twice (not counted), healthy, then
	// failing.
	var mu sync.Mutex
	results := []error{containerizer.ErrUnavailable, containerizer.ErrNotRunning, nil}
	cz.SetExec(func(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(results) == 0 {
			return containerizer.ExitStatus{ExitCode: 1, Message: "exited with status 1"}, nil
		}
		err := results[0]
		results = results[1:]
		return containerizer.ExitStatus{}, err
	})
	hc := commandHealthCheck("/usr/local/bin/check --quick", 2)
	hc.Command.Environment = &mesos.Environment{Variables: []*mesos.Environment_Variable{{Name: proto.String("CHECK_MODE"), Value: proto.String("deep")}}}
	fw := frameworkInfo(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	m.send(s, withHealthCheck(runTask(fw, "cmd", nil), hc))
	u := m.updatesOf(t, s, "cmd")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(true) // the two unavailable checks reported nothing
	u.expectHealth(false)
	u.expectHealth(false)
	u.expect(mesos.TaskState_TASK_KILLING)
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))

	execs := cz.Execs()
	if len(execs) < 5 {
		t.Fatalf("%d execs, want at least 5", len(execs))
	}
	launch := cz.Launches()[0]
	ids := map[string]bool{}
	for _, e := range execs {
		sp := e.Spec
		if e.ContainerID != launch.ContainerID || strings.Join(sp.Argv, "|") != "/bin/sh|-c|/usr/local/bin/check --quick" ||
			strings.Join(sp.Env, " ") != "CHECK_MODE=deep" || sp.OutputPath != filepath.Join(launch.SandboxDir, "stderr") ||
			!strings.HasPrefix(sp.ExecID, "health-") || ids[sp.ExecID] {
			t.Fatalf("exec %+v; want the task's container %s, sh -c, the check's env, output to the sandbox's stderr, a fresh health- ID",
				e, launch.ContainerID)
		}
		ids[sp.ExecID] = true
	}
}

func TestHealthCheckCommandArgvAndTimeout(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)

	// shell=false: value is the executable, arguments the full argv.
	// The fake's "sleep 10" blocks until the 50ms timeout kills it.
	hc := healthCheck(mesos.HealthCheck_COMMAND, 1)
	hc.Command = &mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/sleep"), Arguments: []string{"sleep", "10"}}
	hc.TimeoutSeconds = proto.Float64(0.05)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "slow", nil), hc))
	u := m.updatesOf(t, s, "slow")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	start := time.Now()
	u.expectHealth(false)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed-out check reported after %s", d)
	}
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
	if e := cz.Execs(); len(e) == 0 || strings.Join(e[0].Spec.Argv, "|") != "/bin/sleep|10" {
		t.Fatalf("execs = %+v, want argv [/bin/sleep 10]", e)
	}
}

func TestHealthCheckDelayAndExit(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusOK)

	// A long delay: no check at all while it lasts.
	hc := httpHealthCheck(srv.port(), "/", 1)
	hc.DelaySeconds = proto.Float64(60)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "delayed", nil), hc))
	u := m.updatesOf(t, s, "delayed")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.none(5 * hcIntervalDur)
	if n := srv.requests.Load(); n != 0 {
		t.Fatalf("%d checks during the delay", n)
	}

	// A checked task that exits: its exit is reported as usual (no
	// health), and checking stops.
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "exits", nil), httpHealthCheck(srv.port(), "/", 1)))
	u = m.updatesOf(t, s, "exits")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(true)
	var cid string
	for _, l := range cz.Launches() {
		if l.Labels[LabelTaskID] == "exits" {
			cid = l.ContainerID
		}
	}
	if err := cz.Exit(cid, containerizer.ExitStatus{ExitCode: 0}); err != nil {
		t.Fatal(err)
	}
	if st := u.expect(mesos.TaskState_TASK_FINISHED); st.Healthy != nil || st.Reason != nil {
		t.Fatalf("FINISHED of a checked task: %v", st)
	}
	n := srv.requests.Load()
	time.Sleep(5 * hcIntervalDur)
	if got := srv.requests.Load(); got > n {
		t.Errorf("%d checks after the task exited", got-n)
	}
}

func TestHealthCheckResumesAfterAgentRestart(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	srv := newHealthServer(t, http.StatusOK)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "durable", nil), httpHealthCheck(srv.port(), "/", 2)))
	u := m.updatesOf(t, s, "durable")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	u.expectHealth(true)
	// Stopped right away: the update may still be pending; its retry
	// after the restart has the same UUID and is skipped.
	ta.stop(t)

	// The restarted agent checks again, and does not report the health it
	// already reported.
	before := srv.requests.Load()
	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	u.s = s
	eventually(t, "checks after the agent restarted", func() bool { return srv.requests.Load() >= before+3 })
	u.none(5 * hcIntervalDur)
	srv.code.Store(http.StatusBadGateway)
	u.expectHealth(false)
	u.expectHealth(false)
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
}

func TestHealthCheckKilledAcrossRestart(t *testing.T) {
	// The health checker kills a task that ignores SIGTERM; the agent
	// restarts before the container exits. The terminal update still says
	// healthy=false.
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	cfg.KillGracePeriod = time.Hour
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)
	m.send(s, withHealthCheck(runTask(frameworkInfo(), "stubborn", map[string]string{fake.EnvKey(fake.KeyIgnoreTerm): "true"}),
		commandHealthCheck("exit 1", 1)))
	u := m.updatesOf(t, s, "stubborn")
	u.expect(mesos.TaskState_TASK_STARTING)
	u.expect(mesos.TaskState_TASK_RUNNING)
	// The loop started the kill in the step that sent this update.
	u.expectHealth(false)
	ta.stop(t)
	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	u.s = s
	cid := cz.Launches()[0].ContainerID
	if err := cz.Exit(cid, containerizer.ExitStatus{ExitCode: 137, Signal: 9, Message: "killed by signal 9"}); err != nil {
		t.Fatal(err)
	}
	checkKilledUnhealthy(t, u.expect(mesos.TaskState_TASK_KILLED))
}

func TestHealthCheckInvalid(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	startAgent(t, testConfig(t.TempDir(), m.addr()), cz)
	s := m.waitStream(t)
	for i, tc := range []struct {
		hc   *mesos.HealthCheck
		want string
	}{
		{&mesos.HealthCheck{Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80)}}, "HealthCheck must specify 'type'"},
		// (An HTTPCheckInfo without its required port does not even
		// encode; the master answers such a JSON call 400.)
		{&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(0)}},
			"Expecting 'port' of HTTP health check to be in [1, 65535], got 0"},
		{httpHealthCheck(8080, "health", 3), "The path 'health' of HTTP health check must start with '/'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), DelaySeconds: proto.Float64(-1), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}},
			"Expecting 'delay_seconds' to be non-negative"},
	} {
		id := "invalid-" + string(rune('a'+i))
		m.send(s, withHealthCheck(runTask(frameworkInfo(), id, nil), tc.hc))
		st := m.updatesOf(t, s, id).expect(mesos.TaskState_TASK_ERROR)
		if st.GetReason() != mesos.TaskStatus_REASON_TASK_INVALID || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT ||
			st.GetMessage() != "Task uses invalid health check: "+tc.want {
			t.Errorf("%s: %v; want TASK_ERROR, REASON_TASK_INVALID, message %q", id, st, "Task uses invalid health check: "+tc.want)
		}
	}
	if n := len(cz.Launches()); n != 0 {
		t.Fatalf("%d containers launched for invalid tasks", n)
	}
}

func TestValidateHealthCheck(t *testing.T) {
	valid := []*mesos.HealthCheck{
		httpHealthCheck(80, "/", 3),
		{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(443), Scheme: proto.String("https")}},
		{Type: mesos.HealthCheck_TCP.Enum(), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(65535)}, TimeoutSeconds: proto.Float64(0)},
		commandHealthCheck("true", 1),
		{Type: mesos.HealthCheck_COMMAND.Enum(), Command: &mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/true")},
			IntervalSeconds: proto.Float64(math.Inf(1))},
	}
	for _, hc := range valid {
		if err := healthcheck.Validate(hc); err != nil {
			t.Errorf("%v: %v", hc, err)
		}
	}
	tcp := func(port uint32) *mesos.HealthCheck_TCPCheckInfo {
		return &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(port)}
	}
	for _, tc := range []struct {
		hc   *mesos.HealthCheck
		want string
	}{
		{&mesos.HealthCheck{}, "HealthCheck must specify 'type'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_UNKNOWN.Enum()}, "'UNKNOWN' is not a valid health check type"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum()}, "Expecting 'command' to be set for COMMAND health check"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(), Command: &mesos.CommandInfo{}}, "Command health check must contain 'shell command'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(), Command: &mesos.CommandInfo{Shell: proto.Bool(false)}},
			"Command health check must contain 'executable path'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(), Command: &mesos.CommandInfo{Value: proto.String("x"), Environment: &mesos.Environment{
			Variables: []*mesos.Environment_Variable{{Name: proto.String("S"), Type: mesos.Environment_Variable_SECRET.Enum()}}}}},
			"secret environment variable"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum()}, "Expecting 'http' to be set for HTTP health check"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80), Scheme: proto.String("ftp")}},
			"Unsupported HTTP health check scheme: 'ftp'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80), Path: proto.String("")}},
			"The path '' of HTTP health check must start with '/'"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(70000)}}, "[1, 65535], got 70000"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum()}, "Expecting 'tcp' to be set for TCP health check"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: tcp(0)}, "Expecting 'port' of TCP health check"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: tcp(1), GracePeriodSeconds: proto.Float64(-0.5)}, "Expecting 'grace_period_seconds' to be non-negative"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: tcp(1), IntervalSeconds: proto.Float64(math.NaN())}, "Expecting 'interval_seconds' to be non-negative"},
		{&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: tcp(1), TimeoutSeconds: proto.Float64(-1)}, "Expecting 'timeout_seconds' to be non-negative"},
	} {
		err := healthcheck.Validate(tc.hc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.hc, err, tc.want)
		}
	}
}

func TestHealthConfigDefaultsAndURLs(t *testing.T) {
	c := newHealthConfig(&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{
		Port: proto.Uint32(8080), Scheme: proto.String("https"), Path: proto.String("/a?b=c"), Protocol: mesos.NetworkInfo_IPv6.Enum()}}, "/sb")
	if c.delay != 15*time.Second || c.interval != 10*time.Second || c.timeout != 20*time.Second || c.grace != 10*time.Second ||
		c.maxFailures != 3 || c.url != "https://[::1]:8080/a?b=c" {
		t.Errorf("HTTP config = %+v; want Mesos' defaults 15s/10s/20s/10s/3 and https://[::1]:8080/a?b=c", c)
	}
	if c := newHealthConfig(&mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80)}}, ""); c.url != "http://127.0.0.1:80" {
		t.Errorf("default URL = %q", c.url)
	}
	if c := newHealthConfig(&mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(9)},
		DelaySeconds: proto.Float64(0.25), TimeoutSeconds: proto.Float64(math.Inf(1))}, ""); c.addr != "127.0.0.1:9" || c.delay != 250*time.Millisecond || c.timeout <= 100*365*24*time.Hour {
		t.Errorf("TCP config = %+v", c)
	}
	c = newHealthConfig(commandHealthCheck("true", 1), "/sb")
	if c.output != "/sb/stderr" || strings.Join(c.argv, " ") != "/bin/sh -c true" {
		t.Errorf("COMMAND config = %+v", c)
	}
}

func TestHealthState(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := healthState{start: t0, grace: 10 * time.Second, maxFailures: 2, initializing: true}
	if v := s.failure(t0.Add(5 * time.Second)); v.report {
		t.Fatalf("failure in the grace period reported: %+v", v)
	}
	if v := s.failure(t0.Add(11 * time.Second)); !v.report || v.healthy || v.kill || v.failures != 1 {
		t.Fatalf("first failure after the grace period: %+v", v)
	}
	if v := s.success(); !v.report || !v.healthy {
		t.Fatalf("success after a failure: %+v", v)
	}
	if v := s.success(); v.report {
		t.Fatalf("second success reported: %+v", v)
	}
	// After a success the grace period no longer protects.
	s2 := healthState{start: t0, grace: time.Hour, maxFailures: 2, initializing: true}
	s2.success()
	if v := s2.failure(t0.Add(time.Second)); !v.report || v.failures != 1 || v.kill {
		t.Fatalf("failure after the first success, in the grace period: %+v", v)
	}
	if v := s2.failure(t0.Add(2 * time.Second)); !v.report || !v.kill || v.failures != 2 {
		t.Fatalf("second consecutive failure: %+v", v)
	}
	// consecutive_failures 0 kills at the first counted failure, as in Mesos.
	s3 := healthState{start: t0, maxFailures: 0, initializing: true}
	if v := s3.failure(t0); !v.kill {
		t.Fatalf("consecutive_failures 0: %+v", v)
	}
}

func TestKilledByHealthCheck(t *testing.T) {
	running := &mesos.TaskStatus{State: mesos.TaskState_TASK_RUNNING.Enum()}
	health := func(h bool) *mesos.TaskStatus {
		return &mesos.TaskStatus{State: mesos.TaskState_TASK_RUNNING.Enum(), Healthy: proto.Bool(h),
			Reason: mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()}
	}
	killing := &mesos.TaskStatus{State: mesos.TaskState_TASK_KILLING.Enum()}
	for _, tc := range []struct {
		statuses []*mesos.TaskStatus
		want     bool
	}{
		{nil, false},
		{[]*mesos.TaskStatus{running}, false},
		{[]*mesos.TaskStatus{health(true)}, false},
		{[]*mesos.TaskStatus{health(false)}, true},
		{[]*mesos.TaskStatus{health(false), killing}, true},
		{[]*mesos.TaskStatus{health(true), killing}, false},
	} {
		if got := killedByHealthCheck(tc.statuses); got != tc.want {
			t.Errorf("killedByHealthCheck(%v) = %v, want %v", tc.statuses, got, tc.want)
		}
	}
}

func TestHTTPCheckSchemesAndStatuses(t *testing.T) {
	var code atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(h) // self-signed: verification is skipped, as curl -k
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	check := func(srv *httptest.Server, scheme string, statuses ...uint32) error {
		hc := httpHealthCheck(srv.Listener.Addr().(*net.TCPAddr).Port, "/", 1)
		hc.Http.Scheme = proto.String(scheme)
		hc.Http.Statuses = statuses
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return httpCheck(ctx, newHealthConfig(hc, ""))
	}
	for _, tc := range []struct {
		srv      *httptest.Server
		scheme   string
		code     int
		statuses []uint32
		healthy  bool
	}{
		{plain, "http", 200, nil, true},
		{plain, "http", 204, nil, true},
		{plain, "http", 399, nil, true},
		{plain, "http", 400, nil, false},
		{plain, "http", 503, nil, false},
		{tlsSrv, "https", 200, nil, true},
		{tlsSrv, "http", 200, nil, false}, // plain HTTP to a TLS server
		{plain, "http", 418, []uint32{418}, true},
		{plain, "http", 200, []uint32{418}, false},
	} {
		code.Store(int32(tc.code))
		err := check(tc.srv, tc.scheme, tc.statuses...)
		if (err == nil) != tc.healthy {
			t.Errorf("%s answering %d (statuses %v): err = %v, want healthy=%v", tc.scheme, tc.code, tc.statuses, err, tc.healthy)
		}
	}
}
