package agent

// General checks (TaskInfo.check, mesos.CheckInfo), run the way Mesos'
// command executor runs them (src/checks/checker.cpp, checker_process.cpp,
// src/launcher/executor.cpp; docs/task-health-checking.md, "General
// checks"). They share the health checker's scheduling (goChecker) and
// probes (health.go), but never judge or kill the task:
//
//   - Checking starts when the task is RUNNING: the first check after
//     delay_seconds, then interval_seconds after each check ends. A check
//     that takes longer than timeout_seconds (0: no limit) has no result.
//   - COMMAND runs the command in the task's container (Containerizer.Exec,
//     output appended to the sandbox's stderr) and reports its exit code.
//     HTTP GETs http://127.0.0.1:port/path from the agent (like curl -s -S
//     -L -k) and reports the status code. TCP connects to 127.0.0.1:port
//     and reports whether it could.
//   - A check that timed out or could not produce a value (the command was
//     killed by a signal, the HTTP request failed) yields an "empty" result:
//     CheckStatusInfo with its type and the type's field present but unset,
//     as Mesos' Checker reports errors. A check the runtime cannot run right
//     now (unavailable runtime, container not running) yields nothing, like
//     Mesos' transient errors.
//   - A result is reported only when it differs from the previous one; the
//     previous one starts as the empty result, so a first check that times
//     out reports nothing. The report is a TASK_RUNNING update copying the
//     task's latest TASK_RUNNING status (so it keeps `healthy`), with a new
//     UUID and timestamp, reason REASON_TASK_CHECK_STATUS_UPDATED and
//     check_status set; health updates likewise keep the latest
//     check_status. Every other update the executor side sends (STARTING,
//     RUNNING, KILLING, the terminal one) carries the empty result of the
//     check's type, as the command executor's createTaskStatus does.
//   - Checking stops when a kill starts or the container exits; results
//     that arrive later are dropped.
//
// Agent restarts: the previous result is the check_status of the task's
// latest TASK_RUNNING status; if it holds a value the checker runs at once,
// else when the delay (counted from the launch) ends.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/healthcheck"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// checkConfig is a validated CheckInfo with defaults applied.
type checkConfig struct {
	typ                      mesos.CheckInfo_Type
	delay, interval, timeout time.Duration // timeout 0: none
	// COMMAND
	argv, env []string
	output    string // the sandbox's stderr
	// HTTP
	url string
	// TCP
	addr string
}

func newCheckConfig(c *mesos.CheckInfo, sandboxDir string) *checkConfig {
	cfg := &checkConfig{
		typ:      c.GetType(),
		delay:    seconds(c.GetDelaySeconds()),
		interval: seconds(c.GetIntervalSeconds()),
		timeout:  seconds(c.GetTimeoutSeconds()),
	}
	switch cfg.typ {
	case mesos.CheckInfo_COMMAND:
		cmd := c.GetCommand().GetCommand()
		cfg.argv = argv(cmd)
		for _, v := range cmd.GetEnvironment().GetVariables() {
			cfg.env = append(cfg.env, v.GetName()+"="+v.GetValue())
		}
		if sandboxDir != "" {
			cfg.output = filepath.Join(sandboxDir, "stderr")
		}
	case mesos.CheckInfo_HTTP:
		h := c.GetHttp()
		cfg.url = "http://" + net.JoinHostPort(healthHostIPv4, strconv.FormatUint(uint64(h.GetPort()), 10)) + h.GetPath()
	case mesos.CheckInfo_TCP:
		cfg.addr = net.JoinHostPort(healthHostIPv4, strconv.FormatUint(uint64(c.GetTcp().GetPort()), 10))
	}
	return cfg
}

// emptyCheckStatus is the result of a check that has none (yet): its type,
// and the type's field present but unset. Nil for an unknown type.
func emptyCheckStatus(typ mesos.CheckInfo_Type) *mesos.CheckStatusInfo {
	cs := &mesos.CheckStatusInfo{Type: typ.Enum()}
	switch typ {
	case mesos.CheckInfo_COMMAND:
		cs.Command = &mesos.CheckStatusInfo_Command{}
	case mesos.CheckInfo_HTTP:
		cs.Http = &mesos.CheckStatusInfo_Http{}
	case mesos.CheckInfo_TCP:
		cs.Tcp = &mesos.CheckStatusInfo_Tcp{}
	default:
		return nil
	}
	return cs
}

// checkResult is a changed check result, posted to the loop.
type checkResult struct {
	key    taskKey
	run    *checkerRun
	status *mesos.CheckStatusInfo
}

// startCheck starts checking a RUNNING task that has a check.
func (a *Agent) startCheck(t *task) {
	c := t.rec.GetTask().GetCheck()
	if c == nil || t.check != nil || t.rec.GetKillRequested() || t.rec.GetState() != mesos.TaskState_TASK_RUNNING {
		return
	}
	if err := healthcheck.ValidateCheck(c); err != nil {
		// Only a checkpoint written before validation existed gets here.
		a.log.Warn("not checking a task with an invalid check", "framework_id", t.key().framework,
			"task_id", t.key().task, "err", err)
		return
	}
	cfg := newCheckConfig(c, t.rec.GetSandboxDir())
	prev := emptyCheckStatus(cfg.typ)
	first := launchTime(t.rec.GetStatuses()).Add(cfg.delay)
	if cs := lastRunning(t.rec.GetStatuses()).GetCheckStatus(); cs.GetType() == cfg.typ && !proto.Equal(cs, prev) {
		// A result was reported before an agent restart.
		prev = proto.Clone(cs).(*mesos.CheckStatusInfo)
		first = time.Now()
	}
	key, cid := t.key(), t.rec.GetContainerId()
	log := a.log.With("framework_id", key.framework, "task_id", key.task, "check", cfg.typ.String())
	log.Info("checking task", "first_check_in", max(time.Until(first), 0), "interval", cfg.interval, "timeout", cfg.timeout)
	t.check = a.goChecker(first, cfg.interval, func(ctx context.Context, run *checkerRun) {
		cs, err := a.runCheck(ctx, cfg, cid)
		switch {
		case ctx.Err() != nil:
			return // stopped meanwhile: the result does not matter
		case cs == nil:
			log.Info("check could not run; no result", "err", err)
			return
		case err != nil:
			log.Warn("check failed", "err", err)
		}
		if proto.Equal(cs, prev) {
			log.Debug("check result unchanged", "check_status", checkStatusString(cs))
			return
		}
		prev = cs
		log.Info("check result changed", "check_status", checkStatusString(cs))
		a.post(checkResult{key: key, run: run, status: cs})
	})
}

// runCheck runs one check. A nil status means no result (the runtime
// could not run it; err says why); otherwise err, if set, says why the
// status is empty.
func (a *Agent) runCheck(ctx context.Context, cfg *checkConfig, cid string) (*mesos.CheckStatusInfo, error) {
	cctx, cancel := withTimeout(ctx, cfg.timeout)
	defer cancel()
	cs := emptyCheckStatus(cfg.typ)
	var err error
	switch cfg.typ {
	case mesos.CheckInfo_COMMAND:
		st, xerr := a.execProbe(cctx, cid, "check-", cfg.argv, cfg.env, cfg.output)
		switch {
		case xerr != nil && transient(xerr) && cctx.Err() == nil:
			return nil, xerr
		case xerr != nil:
			err = xerr
		case cctx.Err() != nil:
			err = cctx.Err()
		case st.Signal != 0 || st.ExitCode < 0:
			err = errors.New("Command " + st.Message)
		default:
			cs.Command.ExitCode = proto.Int32(int32(st.ExitCode))
		}
	case mesos.CheckInfo_HTTP:
		var code int
		if code, _, err = httpProbe(cctx, cfg.url); err == nil {
			cs.Http.StatusCode = proto.Uint32(uint32(code))
		}
	case mesos.CheckInfo_TCP:
		err = tcpProbe(cctx, cfg.addr)
		if err == nil || cctx.Err() == nil {
			// Connected, or refused before the timeout: a result.
			cs.Tcp.Succeeded = proto.Bool(err == nil)
		}
	default:
		return nil, fmt.Errorf("unsupported check type %s", cfg.typ)
	}
	if err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", cfg.timeout, err)
	}
	return cs, err
}

// onCheckResult sends a check update. Like the command executor, it drops
// results once a kill started or the task left TASK_RUNNING.
func (a *Agent) onCheckResult(m checkResult) {
	t := a.tasks[m.key]
	if t == nil || t.check != m.run || t.rec.GetKillRequested() || t.rec.GetState() != mesos.TaskState_TASK_RUNNING {
		return
	}
	st := a.runningUpdate(t, mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED)
	st.CheckStatus = m.status
	a.statusUpdate(t, st)
}

// taskCheckStatus is the check_status every executor update of t carries
// (the empty result of its check's type), or nil if t has no check.
func taskCheckStatus(t *task) *mesos.CheckStatusInfo {
	if c := t.rec.GetTask().GetCheck(); c != nil {
		return emptyCheckStatus(c.GetType())
	}
	return nil
}

// checkStatusString is a short form of a check result for logs.
func checkStatusString(cs *mesos.CheckStatusInfo) string {
	switch {
	case cs == nil:
		return "none"
	case cs.GetCommand() != nil && cs.GetCommand().ExitCode != nil:
		return "exit_code=" + strconv.Itoa(int(cs.GetCommand().GetExitCode()))
	case cs.GetHttp() != nil && cs.GetHttp().StatusCode != nil:
		return "status_code=" + strconv.FormatUint(uint64(cs.GetHttp().GetStatusCode()), 10)
	case cs.GetTcp() != nil && cs.GetTcp().Succeeded != nil:
		return "succeeded=" + strconv.FormatBool(cs.GetTcp().GetSucceeded())
	}
	return "empty " + cs.GetType().String()
}
