package ctrd

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mesosd/mesosd/agent/containerizer"
)

// execCleanupTimeout bounds killing and deleting an exec process once the
// caller's context has ended.
const execCleanupTimeout = 10 * time.Second

// Exec implements containerizer.Containerizer with a containerd task
// exec (runc exec): the process joins the task's namespaces (mount, PID,
// IPC, UTS; the network is the host's anyway) and cgroup, and gets the
// task's process settings — user, working directory (the sandbox),
// capabilities, rlimits, no_new_privs — with the task's environment plus
// spec.Env. It is not run under the container init: it is not PID 1, so
// it receives signals normally. On ctx's end it is SIGKILLed; children it
// left behind are re-parented to the container's init, which reaps them.
//
// Output goes straight from the shim to spec.OutputPath (containerd's
// file:// log URI appends stdout and stderr to that one file), or to
// /dev/null, never through the agent.
func (c *Containerizer) Exec(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error) {
	if err := containerizer.ValidateID(id); err != nil {
		return containerizer.ExitStatus{}, err
	}
	if err := spec.Validate(); err != nil {
		return containerizer.ExitStatus{}, fmt.Errorf("exec in container %q: %w", id, err)
	}
	ctx = c.nsctx(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "load container", err)
	}
	ospec, err := ctr.Spec(ctx)
	if err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "read container spec", err)
	}
	if ospec.Process == nil {
		return containerizer.ExitStatus{}, fmt.Errorf("exec %q in container %q: the container spec has no process", spec.ExecID, id)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return containerizer.ExitStatus{}, fmt.Errorf("exec %q in container %q: it has no task: %w", spec.ExecID, id, containerizer.ErrNotRunning)
	}
	if err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "load task", err)
	}
	if s, err := task.Status(ctx); err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "task status", err)
	} else if s.Status != client.Running {
		return containerizer.ExitStatus{}, fmt.Errorf("exec %q in container %q: task is %s: %w", spec.ExecID, id, s.Status, containerizer.ErrNotRunning)
	}

	pspec := execProcessSpec(ospec.Process, spec)
	ioc := cio.NullIO
	if spec.OutputPath != "" {
		ioc = cio.LogFile(spec.OutputPath)
	}
	proc, err := task.Exec(ctx, spec.ExecID, pspec, ioc)
	if err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "create process", err)
	}
	// From here on the process exists in the shim: always delete it, with
	// a context that outlives a cancelled or expired caller.
	cleanup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(c.nsctx(context.WithoutCancel(ctx)), execCleanupTimeout)
	}
	defer func() {
		dctx, cancel := cleanup()
		defer cancel()
		_, _ = proc.Delete(dctx, client.WithProcessKill)
	}()
	// Wait before Start, or a quick exit could be missed; on its own
	// context, because a cancelled Wait reports an unknown status.
	wctx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	ch, err := proc.Wait(wctx)
	if err != nil {
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "wait", err)
	}
	if err := proc.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return containerizer.ExitStatus{}, fmt.Errorf("exec %q in container %q: %w", spec.ExecID, id, ctx.Err())
		}
		return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "start", err)
	}
	select {
	case es := <-ch:
		if err := es.Error(); err != nil {
			return containerizer.ExitStatus{}, c.execErr(spec.ExecID, id, "wait", err)
		}
		code := int(es.ExitCode())
		st := containerizer.ExitStatus{ExitCode: code, ExitedAt: es.ExitTime()}
		if code > 128 && code < 128+65 {
			st.Signal = code - 128
		}
		st.Message = containerizer.ExitMessage(st.ExitCode, st.Signal)
		return st, nil
	case <-ctx.Done():
		kctx, cancel := cleanup()
		defer cancel()
		_ = proc.Kill(kctx, syscall.SIGKILL)
		select {
		case <-ch:
		case <-kctx.Done():
		}
		return containerizer.ExitStatus{ExitCode: 128 + int(syscall.SIGKILL), Signal: int(syscall.SIGKILL),
				Message: containerizer.ExitMessage(128+int(syscall.SIGKILL), int(syscall.SIGKILL))},
			fmt.Errorf("exec %q in container %q: killed: %w", spec.ExecID, id, ctx.Err())
	}
}

// execProcessSpec is the task's process spec with the exec's argv and
// environment, and without a terminal.
func execProcessSpec(base *specs.Process, spec containerizer.ExecSpec) *specs.Process {
	p := *base
	p.Terminal = false
	p.ConsoleSize = nil
	p.Args = append([]string(nil), spec.Argv...)
	p.Env = containerizer.MergeEnv(base.Env, spec.Env)
	p.User.AdditionalGids = append([]uint32(nil), base.User.AdditionalGids...)
	p.Rlimits = append([]specs.POSIXRlimit(nil), base.Rlimits...)
	return &p
}

// execErr wraps err with the containerizer sentinels: ErrNotFound for a
// missing container, ErrNotRunning for a task gone meanwhile,
// ErrUnavailable when containerd cannot be reached.
func (c *Containerizer) execErr(execID, id, op string, err error) error {
	var sentinel error
	switch {
	case errdefs.IsNotFound(err) && op == "load container":
		sentinel = containerizer.ErrNotFound
	case errdefs.IsNotFound(err):
		sentinel = containerizer.ErrNotRunning
	case errdefs.IsUnavailable(err):
		sentinel = containerizer.ErrUnavailable
	}
	if sentinel != nil {
		return fmt.Errorf("exec %q in container %q: %s: %w", execID, id, op, errors.Join(sentinel, err))
	}
	return fmt.Errorf("exec %q in container %q: %s: %w", execID, id, op, err)
}
