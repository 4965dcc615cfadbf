package fake

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mesosd/mesosd/agent/containerizer"
)

func spec(id string, labels map[string]string, env ...string) containerizer.LaunchSpec {
	return containerizer.LaunchSpec{
		ContainerID: id, Argv: []string{"/bin/true"}, Env: env,
		SandboxDir: "/sandbox", StdoutPath: "/sandbox/stdout", StderrPath: "/sandbox/stderr",
		Labels: labels,
	}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExitCodeFromLabel(t *testing.T) {
	ctx := waitCtx(t)
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := New(WithClock(func() time.Time { return fixed }))
	if err := c.Launch(ctx, spec("c1", map[string]string{KeyRunFor: "0s", KeyExitCode: "3"})); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := containerizer.ExitStatus{ExitCode: 3, Message: "exited with status 3", ExitedAt: fixed}
	if st != want {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	// Wait again returns the same status.
	if st2, _ := c.Wait(ctx, "c1"); st2 != st {
		t.Errorf("second wait = %+v", st2)
	}
}

func TestScriptFromEnvAndRunFor(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	start := time.Now()
	s := spec("c1", nil, EnvKey(KeyRunFor)+"=30ms", EnvKey(KeyExitSignal)+"=9")
	if err := c.Launch(ctx, s); err != nil {
		t.Fatal(err)
	}
	cs, _ := c.Containers(ctx)
	if len(cs) != 1 || !cs[0].Running {
		t.Fatalf("containers = %+v", cs)
	}
	st, err := c.Wait(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Error("exited before run_for")
	}
	if st.ExitCode != 137 || st.Signal != 9 || st.OOMKilled {
		t.Errorf("status = %+v", st)
	}
	cs, _ = c.Containers(ctx)
	if cs[0].Running {
		t.Error("still running after exit")
	}
}

func TestOOM(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	s := spec("c1", map[string]string{KeyRunFor: "1ms", KeyOOM: "true"})
	s.MemMB = 32
	if err := c.Launch(ctx, s); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Wait(ctx, "c1")
	if !st.OOMKilled || st.ExitCode != 137 || st.Message == "" {
		t.Errorf("status = %+v", st)
	}
}

func TestKill(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	if err := c.Launch(ctx, spec("term", nil)); err != nil {
		t.Fatal(err)
	}
	if err := c.Launch(ctx, spec("stubborn", map[string]string{KeyIgnoreTerm: "true"})); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, "term", time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(ctx, "term"); st.Signal != 15 || st.ExitCode != 143 {
		t.Errorf("term status = %+v", st)
	}
	start := time.Now()
	if err := c.Kill(ctx, "stubborn", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Error("SIGKILL before grace")
	}
	if st, _ := c.Wait(ctx, "stubborn"); st.Signal != 9 {
		t.Errorf("stubborn status = %+v", st)
	}
	// Idempotent on exited; ErrNotFound on unknown.
	if err := c.Kill(ctx, "term", time.Second); err != nil {
		t.Errorf("kill exited: %v", err)
	}
	if err := c.Kill(ctx, "nope", time.Second); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("kill unknown: %v", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	if err := c.Launch(ctx, spec("c1", map[string]string{"framework": "fw1"})); err != nil {
		t.Fatal(err)
	}
	if err := c.Launch(ctx, spec("c1", nil)); !errors.Is(err, containerizer.ErrAlreadyExists) {
		t.Errorf("dup launch: %v", err)
	}
	if err := c.Launch(ctx, spec("bad", map[string]string{KeyStartError: "boom"})); err == nil {
		t.Error("start_error: want error")
	}
	if err := c.Launch(ctx, spec("bad2", map[string]string{KeyRunFor: "soon"})); !errors.Is(err, containerizer.ErrInvalidArgument) {
		t.Errorf("bad run_for: %v", err)
	}
	cs, _ := c.Containers(ctx)
	if len(cs) != 1 || cs[0].Labels["framework"] != "fw1" {
		t.Fatalf("containers = %+v", cs)
	}
	if _, err := c.Wait(ctx, "nope"); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("wait unknown: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(short, "c1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait timeout: %v", err)
	}
	// Destroy ends a waiter, and is idempotent.
	done := make(chan containerizer.ExitStatus, 1)
	go func() { st, _ := c.Wait(ctx, "c1"); done <- st }()
	time.Sleep(5 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := c.Destroy(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if st := <-done; st.Signal != 9 {
		t.Errorf("destroyed status = %+v", st)
	}
	if err := c.Destroy(ctx, "never"); err != nil {
		t.Error(err)
	}
	if cs, _ := c.Containers(ctx); len(cs) != 0 {
		t.Errorf("after destroy: %+v", cs)
	}
	if n := len(c.Launches()); n != 1 {
		t.Errorf("launches = %d", n)
	}
}

func TestExitAndOutput(t *testing.T) {
	ctx := waitCtx(t)
	dir := t.TempDir()
	c := New()
	s := spec("c1", map[string]string{KeyStdout: "hello\n", KeyStderr: "oops\n"})
	s.SandboxDir, s.StdoutPath, s.StderrPath = dir, filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := c.Launch(ctx, s); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(s.StdoutPath); string(b) != "hello\n" {
		t.Errorf("stdout = %q", b)
	}
	if b, _ := os.ReadFile(s.StderrPath); string(b) != "oops\n" {
		t.Errorf("stderr = %q", b)
	}
	if err := c.Exit("c1", containerizer.ExitStatus{ExitCode: 7, Message: "custom"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(ctx, "c1"); st.ExitCode != 7 || st.ExitedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
	got, err := c.Spec("c1")
	if err != nil || got.SandboxDir != dir {
		t.Errorf("spec = %+v, %v", got, err)
	}
}

func TestMountsRecordedAndValidated(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	s := spec("c1", map[string]string{KeyRunFor: "0s"})
	s.Mounts = []containerizer.Mount{{HostPath: "/vol/v1", ContainerPath: "data", ReadOnly: true}}
	if err := c.Launch(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Mounts[0].ContainerPath = "changed" // the fake keeps its own copy
	got, err := c.Spec("c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Mounts) != 1 || got.Mounts[0] != (containerizer.Mount{HostPath: "/vol/v1", ContainerPath: "data", ReadOnly: true}) {
		t.Errorf("mounts = %+v", got.Mounts)
	}
	bad := spec("c2", nil)
	bad.Mounts = []containerizer.Mount{{HostPath: "/vol", ContainerPath: "../out"}}
	if err := c.Launch(ctx, bad); !errors.Is(err, containerizer.ErrInvalidArgument) {
		t.Errorf("bad mount: err = %v", err)
	}
}

func TestExec(t *testing.T) {
	ctx := waitCtx(t)
	c := New()
	if err := c.Launch(ctx, spec("c1", nil)); err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) (containerizer.ExitStatus, error) {
		return c.Exec(ctx, "c1", containerizer.ExecSpec{ExecID: "e1", Argv: argv})
	}
	for _, tc := range []struct {
		argv []string
		code int
	}{
		{[]string{"/bin/sh", "-c", "exit 3"}, 3},
		{[]string{"/bin/sh", "-c", "false"}, 1},
		{[]string{"/bin/sh", "-c", "true"}, 0},
		{[]string{"/usr/bin/false"}, 1},
		{[]string{"curl", "-f", "http://127.0.0.1/"}, 0},
		{[]string{"sleep", "0.001"}, 0},
	} {
		st, err := run(tc.argv...)
		if err != nil || st.ExitCode != tc.code {
			t.Errorf("Exec %q = %+v, %v; want exit %d", tc.argv, st, err, tc.code)
		}
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Exec(short, "c1", containerizer.ExecSpec{ExecID: "e2", Argv: []string{"/bin/sh", "-c", "sleep 100"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep past the deadline: %v", err)
	}
	if _, err := c.Exec(ctx, "c1", containerizer.ExecSpec{ExecID: "", Argv: []string{"true"}}); !errors.Is(err, containerizer.ErrInvalidArgument) {
		t.Errorf("bad spec: %v", err)
	}

	c.SetExec(func(ctx context.Context, id string, s containerizer.ExecSpec) (containerizer.ExitStatus, error) {
		return containerizer.ExitStatus{ExitCode: 42}, nil
	})
	if st, _ := run("true"); st.ExitCode != 42 {
		t.Errorf("SetExec not used: %+v", st)
	}
	if n := len(c.Execs()); n != 8 || c.Execs()[0].ContainerID != "c1" || c.Execs()[0].Spec.Argv[2] != "exit 3" {
		t.Errorf("Execs = %+v", c.Execs())
	}

	if _, err := c.Exec(ctx, "nope", containerizer.ExecSpec{ExecID: "e", Argv: []string{"true"}}); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("unknown container: %v", err)
	}
	if err := c.Exit("c1", containerizer.ExitStatus{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run("true"); !errors.Is(err, containerizer.ErrNotRunning) {
		t.Errorf("exited container: %v", err)
	}
}
