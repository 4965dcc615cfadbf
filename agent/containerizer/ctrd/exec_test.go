package ctrd

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesosd/mesosd/agent/containerizer"
)

// TestExec covers what COMMAND health checks rely on: the process runs in
// the task's container (its PID namespace, sandbox as cwd, environment),
// its exit status comes back, its output is appended to the given file,
// and a timeout kills it without touching the task.
func TestExec(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "sleep", "1000")
	spec.Env = []string{"FOO=task", "BAR=task"}
	launch(t, c, spec)

	st, err := c.Exec(testCtx(t, 30*time.Second), spec.ContainerID, containerizer.ExecSpec{
		ExecID: "check-1",
		Argv: []string{"/bin/sh", "-c",
			`echo "env $FOO $BAR"; echo to-stderr >&2; echo "cwd $(pwd)"; echo "pid1 $(tr '\0' ' ' </proc/1/cmdline)"; exit 3`},
		Env:        []string{"BAR=check"},
		OutputPath: spec.StderrPath,
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if st.ExitCode != 3 || st.Signal != 0 || st.Message != "exited with status 3" {
		t.Errorf("exit status = %+v, want 3", st)
	}
	out := readEventually(t, spec.StderrPath, func(s string) bool { return strings.Contains(s, "pid1") })
	for _, want := range []string{"env task check\n", "to-stderr\n", "cwd " + spec.SandboxDir + "\n", "sleep 1000"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec output in %s = %q, want it to contain %q", spec.StderrPath, out, want)
		}
	}

	// Success, and no output file: discarded.
	st, err = c.Exec(testCtx(t, 30*time.Second), spec.ContainerID, containerizer.ExecSpec{
		ExecID: "check-2", Argv: []string{"/bin/sh", "-c", "echo quiet; exit 0"},
	})
	if err != nil || st.ExitCode != 0 {
		t.Errorf("Exec true: %+v, %v", st, err)
	}

	// Killed by a signal.
	st, err = c.Exec(testCtx(t, 30*time.Second), spec.ContainerID, containerizer.ExecSpec{
		ExecID: "check-3", Argv: []string{"/bin/sh", "-c", "kill -TERM $$"},
	})
	if err != nil || st.Signal != int(syscall.SIGTERM) {
		t.Errorf("Exec kill -TERM $$: %+v, %v; want signal 15", st, err)
	}

	// A timeout kills the exec, not the task.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Exec(ctx, spec.ContainerID, containerizer.ExecSpec{ExecID: "check-4", Argv: []string{"sleep", "100"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec past its deadline: err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Exec past its deadline returned after %s", d)
	}
	if cs, err := c.Containers(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	} else {
		for _, ct := range cs {
			if ct.ID == spec.ContainerID && !ct.Running {
				t.Errorf("the task stopped running after a timed-out exec")
			}
		}
	}

	// The same exec ID is reusable once the previous process is gone.
	if st, err := c.Exec(testCtx(t, 30*time.Second), spec.ContainerID, containerizer.ExecSpec{ExecID: "check-4", Argv: []string{"true"}}); err != nil || st.ExitCode != 0 {
		t.Errorf("Exec reusing an ID: %+v, %v", st, err)
	}

	// An executable that does not exist: an error, but none of the
	// "not available" sentinels (a health check counts it as a failure).
	_, err = c.Exec(testCtx(t, 30*time.Second), spec.ContainerID, containerizer.ExecSpec{ExecID: "check-5", Argv: []string{"/nonexistent/check"}})
	if err == nil || errors.Is(err, containerizer.ErrNotFound) || errors.Is(err, containerizer.ErrNotRunning) || errors.Is(err, containerizer.ErrUnavailable) {
		t.Errorf("Exec of a missing executable: err = %v, want a plain start error", err)
	}

	// Unknown container; then the task exits: not running.
	if _, err := c.Exec(testCtx(t, 10*time.Second), "no-such-container", containerizer.ExecSpec{ExecID: "x", Argv: []string{"true"}}); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("Exec in an unknown container: err = %v, want ErrNotFound", err)
	}
	if err := c.Kill(testCtx(t, 30*time.Second), spec.ContainerID, time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, c, spec.ContainerID)
	if _, err := c.Exec(testCtx(t, 10*time.Second), spec.ContainerID, containerizer.ExecSpec{ExecID: "x", Argv: []string{"true"}}); !errors.Is(err, containerizer.ErrNotRunning) {
		t.Errorf("Exec in an exited container: err = %v, want ErrNotRunning", err)
	}
}
