package agent

// Task health checks (TaskInfo.health_check), run the way Mesos' command
// executor runs them (src/checks/health_checker.cpp, checker_process.cpp,
// src/launcher/executor.cpp; docs/health-checks.md):
//
//   - Checking starts when the task is RUNNING: the first check after
//     delay_seconds, then interval_seconds after each check ends. A check
//     that takes longer than timeout_seconds (0: no limit) fails.
//   - COMMAND runs the command inside the task's container
//     (Containerizer.Exec: its namespaces, user, cwd and environment plus
//     the check's); exit 0 is healthy. Its output is appended to the
//     sandbox's stderr, as Mesos sends it to the executor's stderr.
//     HTTP GETs scheme://127.0.0.1:port/path (::1 for IPv6) from the
//     agent — tasks use the host network — following redirects and
//     skipping certificate checks, like Mesos' `curl -s -S -L -k`; a
//     status in [200, 400) is healthy (or, if the check lists `statuses`,
//     one of those: Mesos' built-in checker ignores the field). TCP
//     connects to 127.0.0.1:port (::1).
//   - Failures while no check has succeeded yet and the task is within
//     grace_period_seconds of its launch are ignored. Every other failure
//     counts, and every counted failure sends a TASK_RUNNING update with
//     healthy=false (as Mesos: one per failed check, at most one per
//     interval); a success sends healthy=true only when it is the first
//     result or ends a run of failures. Health updates copy the task's
//     latest status, with reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
//     and go through the reliable update path.
//   - After consecutive_failures counted failures in a row the task is
//     killed with its kill policy (TASK_KILLING first for frameworks that
//     understand it) and ends TASK_KILLED with healthy=false and no
//     reason, as the command executor reports it.
//   - Checking stops when a kill starts or the container exits; results
//     that arrive later are dropped.
//   - A check the runtime cannot run right now (container runtime
//     unreachable, task not running any more) is not a result: it is
//     logged and neither counts nor resets anything, like Mesos' transient
//     nested-container check errors. Otherwise a containerd restart would
//     kill healthy tasks.
//
// Agent restarts: the checker's state is not checkpointed; it is rebuilt
// from the task's checkpointed statuses. The agent keeps one status per
// state (Mesos' Executor::updateTaskState replaces a status of the same
// state), so the latest TASK_RUNNING status says: no health reported yet
// (its timestamp is the launch, so the delay and grace period still count
// from there), healthy, or unhealthy. After "unhealthy" the count of
// consecutive failures is unknown and resumes at 1: a task that was
// failing may get up to consecutive_failures-2 more checks than it would
// have without the restart, never fewer. Recovered tasks are checked at
// once (or when their delay ends), then every interval.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/internal/healthcheck"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// Health check hosts: tasks share the agent's network, so the agent
// checks them on loopback (Mesos' DEFAULT_DOMAIN, and ::1 for IPv6).
const (
	healthHostIPv4 = "127.0.0.1"
	healthHostIPv6 = "::1"
)

// seconds converts a validated, non-negative number of seconds, capping
// what time.Duration cannot hold (+Inf included) at about 146 years.
func seconds(v float64) time.Duration {
	const limit = float64(math.MaxInt64 / 2)
	if ns := v * float64(time.Second); ns < limit {
		return time.Duration(ns)
	}
	return time.Duration(limit)
}

// healthConfig is a validated HealthCheck with defaults applied.
type healthConfig struct {
	typ                             mesos.HealthCheck_Type
	delay, interval, timeout, grace time.Duration // timeout 0: none
	maxFailures                     uint32
	// COMMAND
	argv, env []string
	output    string // the sandbox's stderr
	// HTTP
	url      string
	statuses []uint32
	// TCP
	addr string
}

func newHealthConfig(hc *mesos.HealthCheck, sandboxDir string) *healthConfig {
	c := &healthConfig{
		typ:         hc.GetType(),
		delay:       seconds(hc.GetDelaySeconds()),
		interval:    seconds(hc.GetIntervalSeconds()),
		timeout:     seconds(hc.GetTimeoutSeconds()),
		grace:       seconds(hc.GetGracePeriodSeconds()),
		maxFailures: hc.GetConsecutiveFailures(),
	}
	host := func(p mesos.NetworkInfo_Protocol) string {
		if p == mesos.NetworkInfo_IPv6 {
			return healthHostIPv6
		}
		return healthHostIPv4
	}
	switch c.typ {
	case mesos.HealthCheck_COMMAND:
		c.argv = argv(hc.GetCommand())
		for _, v := range hc.GetCommand().GetEnvironment().GetVariables() {
			c.env = append(c.env, v.GetName()+"="+v.GetValue())
		}
		if sandboxDir != "" {
			c.output = filepath.Join(sandboxDir, "stderr")
		}
	case mesos.HealthCheck_HTTP:
		h := hc.GetHttp()
		scheme := h.GetScheme()
		if scheme == "" {
			scheme = "http"
		}
		hostPort := net.JoinHostPort(host(h.GetProtocol()), strconv.FormatUint(uint64(h.GetPort()), 10))
		c.url = scheme + "://" + hostPort + h.GetPath()
		c.statuses = h.GetStatuses()
	case mesos.HealthCheck_TCP:
		t := hc.GetTcp()
		c.addr = net.JoinHostPort(host(t.GetProtocol()), strconv.FormatUint(uint64(t.GetPort()), 10))
	}
	return c
}

// healthState is the bookkeeping of Mesos' HealthChecker.
type healthState struct {
	start        time.Time // the task's launch; the grace period counts from it
	grace        time.Duration
	maxFailures  uint32
	initializing bool // no check has succeeded yet
	failures     uint32
}

// healthVerdict is what one check result asks of the agent.
type healthVerdict struct {
	report   bool // send a health update
	healthy  bool
	kill     bool
	failures uint32
}

func (s *healthState) success() healthVerdict {
	v := healthVerdict{report: s.initializing || s.failures > 0, healthy: true}
	s.initializing, s.failures = false, 0
	return v
}

// failure counts a failed check unless it falls in the grace period.
func (s *healthState) failure(now time.Time) healthVerdict {
	if s.initializing && s.grace > 0 && now.Sub(s.start) <= s.grace {
		return healthVerdict{}
	}
	s.failures++
	return healthVerdict{report: true, failures: s.failures, kill: s.failures >= s.maxFailures}
}

// checkerRun identifies one checker goroutine of a task: its health
// checker or its general checker (check.go).
type checkerRun struct {
	cancel context.CancelFunc
}

// healthResult is a checker's verdict, posted to the loop.
type healthResult struct {
	key     taskKey
	run     *checkerRun
	verdict healthVerdict
}

// stopCheckers stops the task's health checker and general checker.
func (t *task) stopCheckers() {
	if t.health != nil {
		t.health.cancel()
		t.health = nil
	}
	if t.check != nil {
		t.check.cancel()
		t.check = nil
	}
}

// startCheckers starts the health checker and the general checker of a
// RUNNING task that has them (and is not being killed).
func (a *Agent) startCheckers(t *task) {
	a.startHealthCheck(t)
	a.startCheck(t)
}

// lastRunning is the task's latest TASK_RUNNING status, or nil.
func lastRunning(statuses []*mesos.TaskStatus) *mesos.TaskStatus {
	for i := len(statuses) - 1; i >= 0; i-- {
		if statuses[i].GetState() == mesos.TaskState_TASK_RUNNING {
			return statuses[i]
		}
	}
	return nil
}

// launchTime is when the task started running, as its statuses record it:
// the TASK_STARTING status (sent right before TASK_RUNNING, and never
// replaced), else the first TASK_RUNNING; now if neither is known.
func launchTime(statuses []*mesos.TaskStatus) time.Time {
	for _, st := range statuses {
		if s := st.GetState(); (s == mesos.TaskState_TASK_STARTING || s == mesos.TaskState_TASK_RUNNING) && st.GetTimestamp() > 0 {
			return time.Unix(0, int64(st.GetTimestamp()*1e9))
		}
	}
	return time.Now()
}

// reportsHealth tells whether a status carries a health verdict. Health
// updates set it, and every later update of the running task copies it
// (check updates too, as the command executor copies its last status).
func reportsHealth(st *mesos.TaskStatus) bool {
	return st.GetState() == mesos.TaskState_TASK_RUNNING && st.Healthy != nil
}

// goChecker runs probe once at first, then interval after each probe
// ends, until the returned run is cancelled (or the agent stops). probe
// gets the run's context and the run to post results with; the loop drops
// results of a run that is no longer the task's.
func (a *Agent) goChecker(first time.Time, interval time.Duration, probe func(ctx context.Context, run *checkerRun)) *checkerRun {
	ctx, cancel := context.WithCancel(a.loopCtx)
	run := &checkerRun{cancel: cancel}
	a.goLoop(func() {
		defer cancel()
		timer := time.NewTimer(max(time.Until(first), 0))
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			probe(ctx, run)
			if ctx.Err() != nil {
				return
			}
			timer.Reset(interval)
		}
	})
	return run
}

// transient tells whether a check error means the runtime could not run
// the check right now: not a result.
func transient(err error) bool {
	return errors.Is(err, containerizer.ErrUnavailable) || errors.Is(err, containerizer.ErrNotRunning) ||
		errors.Is(err, containerizer.ErrNotFound)
}

// withTimeout bounds ctx by d; 0 means no bound.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

// startHealthCheck starts checking a RUNNING task that has a health check,
// from the state its statuses record (see the file comment).
func (a *Agent) startHealthCheck(t *task) {
	hc := t.rec.GetTask().GetHealthCheck()
	if hc == nil || t.health != nil || t.rec.GetKillRequested() || t.rec.GetState() != mesos.TaskState_TASK_RUNNING {
		return
	}
	if err := healthcheck.Validate(hc); err != nil {
		// Only a checkpoint written before validation existed gets here.
		a.log.Warn("not health checking a task with an invalid health check", "framework_id", t.key().framework,
			"task_id", t.key().task, "err", err)
		return
	}
	cfg := newHealthConfig(hc, t.rec.GetSandboxDir())
	now := time.Now()
	st := healthState{start: now, grace: cfg.grace, maxFailures: cfg.maxFailures, initializing: true}
	first := now.Add(cfg.delay)
	if last := lastRunning(t.rec.GetStatuses()); last != nil {
		switch {
		case !reportsHealth(last):
			// Nothing reported yet: delay and grace count from the launch.
			st.start = launchTime(t.rec.GetStatuses())
			first = st.start.Add(cfg.delay)
		case last.GetHealthy():
			st.initializing = false
			first = now
		default:
			// Reported unhealthy: past the grace period or after a
			// success, so failures count; how many in a row is unknown.
			st.initializing, st.failures = false, 1
			first = now
		}
	}
	key, cid := t.key(), t.rec.GetContainerId()
	log := a.log.With("framework_id", key.framework, "task_id", key.task, "health_check", cfg.typ.String())
	log.Info("health checking task", "first_check_in", max(time.Until(first), 0), "interval", cfg.interval,
		"timeout", cfg.timeout, "grace_period", cfg.grace, "consecutive_failures", cfg.maxFailures)
	t.health = a.goChecker(first, cfg.interval, func(ctx context.Context, run *checkerRun) {
		err := a.checkHealth(ctx, cfg, cid)
		if ctx.Err() != nil {
			return // stopped meanwhile: the result does not matter
		}
		var v healthVerdict
		switch {
		case err == nil:
			v = st.success()
			if v.report {
				log.Info("health check passed; task healthy")
			} else {
				log.Debug("health check passed")
			}
		case transient(err):
			log.Info("health check could not run; not counted", "err", err)
		default:
			v = st.failure(time.Now())
			if v.report {
				log.Warn("health check failed", "consecutive_failures", v.failures, "err", err)
			} else {
				log.Info("ignoring health check failure in the grace period", "err", err)
			}
		}
		if v.report {
			a.post(healthResult{key: key, run: run, verdict: v})
		}
	})
}

// checkHealth runs one check; nil means healthy.
func (a *Agent) checkHealth(ctx context.Context, cfg *healthConfig, cid string) error {
	ctx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	var err error
	switch cfg.typ {
	case mesos.HealthCheck_COMMAND:
		err = a.commandCheck(ctx, cfg, cid)
	case mesos.HealthCheck_HTTP:
		err = httpCheck(ctx, cfg)
	case mesos.HealthCheck_TCP:
		err = tcpProbe(ctx, cfg.addr)
	default:
		err = fmt.Errorf("unsupported health check type %s", cfg.typ)
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s: %w", cfg.timeout, err)
	}
	return err
}

// execProbe runs a check command inside the task's container, its output
// appended to output (the sandbox's stderr).
func (a *Agent) execProbe(ctx context.Context, cid, idPrefix string, argv, env []string, output string) (containerizer.ExitStatus, error) {
	return a.cz.Exec(ctx, cid, containerizer.ExecSpec{
		ExecID:     idPrefix + uuid.NewString(),
		Argv:       argv,
		Env:        env,
		OutputPath: output,
	})
}

func (a *Agent) commandCheck(ctx context.Context, cfg *healthConfig, cid string) error {
	st, err := a.execProbe(ctx, cid, "health-", cfg.argv, cfg.env, cfg.output)
	if err != nil {
		return err
	}
	if st.ExitCode != 0 || st.Signal != 0 {
		return errors.New("Command " + st.Message)
	}
	return nil
}

// httpProbe GETs url like curl -s -S -L -k and returns the final response.
func httpProbe(ctx context.Context, url string) (code int, status string, err error) {
	tr := &http.Transport{
		// Like curl -k; no proxy: the target is loopback.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // Mesos skips verification too
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	// Redirects are followed (curl -L), up to Go's limit of 10.
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Status, nil
}

func httpCheck(ctx context.Context, cfg *healthConfig) error {
	code, status, err := httpProbe(ctx, cfg.url)
	if err != nil {
		return err
	}
	if len(cfg.statuses) > 0 {
		for _, s := range cfg.statuses {
			if uint32(code) == s {
				return nil
			}
		}
		return fmt.Errorf("Unexpected HTTP response code: %s (expected one of %v)", status, cfg.statuses)
	}
	if code < http.StatusOK || code >= http.StatusBadRequest {
		return fmt.Errorf("Unexpected HTTP response code: %s", status)
	}
	return nil
}

// tcpProbe connects to addr and closes the connection.
func tcpProbe(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// onHealthResult sends a health update and kills a task that failed too
// often. Like the command executor, it drops results once a kill started
// or the task left TASK_RUNNING.
func (a *Agent) onHealthResult(m healthResult) {
	t := a.tasks[m.key]
	if t == nil || t.health != m.run || t.rec.GetKillRequested() || t.rec.GetState() != mesos.TaskState_TASK_RUNNING {
		return
	}
	a.statusUpdate(t, a.healthStatus(t, m.verdict.healthy))
	if !m.verdict.kill || a.fatal != nil {
		return
	}
	a.log.Warn("killing task after consecutive health check failures", "framework_id", m.key.framework,
		"task_id", m.key.task, "consecutive_failures", m.verdict.failures)
	t.healthKilled = true
	a.beginKill(t, a.taskKillGrace(t))
}

// healthStatus is the command executor's health update: its latest status
// with reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED and healthy set.
func (a *Agent) healthStatus(t *task, healthy bool) *mesos.TaskStatus {
	st := a.runningUpdate(t, mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
	st.Healthy = proto.Bool(healthy)
	return st
}

// runningUpdate starts a health or check update as the command executor
// does: a copy of its latest status (TASK_RUNNING, with whatever it
// carries: healthy, check_status, ...) with a new UUID and timestamp and
// the given reason.
func (a *Agent) runningUpdate(t *task, reason mesos.TaskStatus_Reason) *mesos.TaskStatus {
	fresh := a.executorStatus(t, mesos.TaskState_TASK_RUNNING, "")
	st := fresh
	if last := lastRunning(t.rec.GetStatuses()); last != nil {
		st = proto.Clone(last).(*mesos.TaskStatus)
		st.Uuid, st.Timestamp = fresh.Uuid, fresh.Timestamp
		if fresh.AgentId != nil {
			st.AgentId = fresh.AgentId
		}
	}
	st.Reason = reason.Enum()
	return st
}

// killedByHealthCheck tells, after an agent restart lost the in-memory
// flag, whether a kill was the health checker's: its latest status before
// the kill (TASK_KILLING aside) reported the task unhealthy. A framework
// kill right after an unhealthy report looks the same; the terminal
// update then also says healthy=false, which is still true.
func killedByHealthCheck(statuses []*mesos.TaskStatus) bool {
	for i := len(statuses) - 1; i >= 0; i-- {
		st := statuses[i]
		if st.GetState() == mesos.TaskState_TASK_KILLING {
			continue
		}
		return reportsHealth(st) && !st.GetHealthy()
	}
	return false
}
