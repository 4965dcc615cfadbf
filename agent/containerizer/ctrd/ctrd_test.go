package ctrd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mesosd/mesosd/agent/containerizer"
)

// TestMain lets the test binary act as the helper (shim logger and
// container init), exactly as the mesosd binary does in production.
func TestMain(m *testing.M) {
	if IsHelperInvocation(os.Args) {
		RunHelper(os.Args)
	}
	os.Exit(m.Run())
}

const socketEnv = "MESOSD_CONTAINERD_SOCKET"

func socketPath() string {
	if s := os.Getenv(socketEnv); s != "" {
		return s
	}
	return "/tmp/mesosd-ctrd/containerd.sock"
}

// requireContainerd skips unless the test can drive a real containerd.
func requireContainerd(t testing.TB) *Containerizer {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (containerd and runc); run as root with a containerd socket")
	}
	sock := socketPath()
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("no containerd socket at %s (set %s, or run scripts/containerd-dev.sh start /tmp/mesosd-ctrd)", sock, socketEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx, Config{Address: sock, Namespace: "mesosd-test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var idSeq atomic.Int64

func newSpec(t testing.TB, argv ...string) containerizer.LaunchSpec {
	t.Helper()
	dir := t.TempDir()
	id := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, idSeq.Add(1))
	return containerizer.LaunchSpec{
		ContainerID: id,
		Argv:        argv,
		SandboxDir:  dir,
		StdoutPath:  filepath.Join(dir, "stdout"),
		StderrPath:  filepath.Join(dir, "stderr"),
	}
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// launch starts spec and destroys the container at cleanup.
func launch(t testing.TB, c *Containerizer, spec containerizer.LaunchSpec) {
	t.Helper()
	if err := c.Launch(testCtx(t, 30*time.Second), spec); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(context.Background(), spec.ContainerID); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
}

func wait(t testing.TB, c *Containerizer, id string) containerizer.ExitStatus {
	t.Helper()
	st, err := c.Wait(testCtx(t, 60*time.Second), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// readEventually reads a file until it satisfies ok: the logger appends
// asynchronously and may finish just after the task's exit is reported.
func readEventually(t *testing.T, path string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if ok(string(b)) || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOutputExitEnvCwd(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "/bin/sh", "-c", `echo out; echo err >&2; echo "foo=$FOO"; pwd; exit 3`)
	spec.Env = []string{"FOO=bar"}
	launch(t, c, spec)
	st := wait(t, c, spec.ContainerID)
	if st.ExitCode != 3 || st.Signal != 0 || st.OOMKilled || st.Message != "exited with status 3" || st.ExitedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
	want := "out\nfoo=bar\n" + spec.SandboxDir + "\n"
	if got := readEventually(t, spec.StdoutPath, func(s string) bool { return s == want }); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got := readEventually(t, spec.StderrPath, func(s string) bool { return s == "err\n" }); got != "err\n" {
		t.Errorf("stderr = %q", got)
	}
}

func TestFilesystem(t *testing.T) {
	c := requireContainerd(t)
	script := `
touch /usr/mesosd-test 2>/dev/null && { echo "rootfs writable"; exit 1; }
touch "$PWD/ok" || { echo "sandbox not writable"; exit 2; }
touch /tmp/ok || { echo "tmp not writable"; exit 3; }
[ -e /tmp/mesosd-ctrd/containerd.sock ] && { echo "host /tmp visible"; exit 4; }
[ -s /etc/resolv.conf ] || [ ! -s /etc/resolv.conf ] || exit 5
for m in $SUBMOUNTS; do touch "$m/.mesosd-test" 2>/dev/null && { echo "submount $m writable"; exit 6; }; done
echo fine`
	subs, err := hostSubmounts()
	if err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, "/bin/sh", "-c", script)
	spec.Env = []string{"SUBMOUNTS=" + strings.Join(subs, " ")}
	launch(t, c, spec)
	st := wait(t, c, spec.ContainerID)
	out := readEventually(t, spec.StdoutPath, func(s string) bool { return s != "" })
	if st.ExitCode != 0 {
		t.Fatalf("status = %+v, stdout %q, stderr %q", st, out, readEventually(t, spec.StderrPath, func(string) bool { return true }))
	}
	if _, err := os.Stat(filepath.Join(spec.SandboxDir, "ok")); err != nil {
		t.Errorf("sandbox write not visible on host: %v", err)
	}
	if _, err := os.Stat("/usr/mesosd-test"); err == nil {
		t.Error("/usr written on the host")
	}
	t.Logf("read-only re-bound host submounts (%s): %v", c.roOption, subs)
}

func TestUser(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "/bin/sh", "-c", `id -u; id -g; echo "$HOME"`)
	spec.User = "nobody"
	if err := os.Chmod(spec.SandboxDir, 0o777); err != nil {
		t.Fatal(err)
	}
	launch(t, c, spec)
	if st := wait(t, c, spec.ContainerID); st.ExitCode != 0 {
		t.Fatalf("status = %+v", st)
	}
	out := readEventually(t, spec.StdoutPath, func(s string) bool { return strings.Count(s, "\n") == 3 })
	if !strings.HasPrefix(out, "65534\n") {
		t.Errorf("stdout = %q, want uid 65534", out)
	}
	spec2 := newSpec(t, "/bin/true")
	spec2.User = "no-such-user-mesosd"
	if err := c.Launch(testCtx(t, 10*time.Second), spec2); !errors.Is(err, containerizer.ErrInvalidArgument) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestOOM(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "/bin/sh", "-c", `x=$(head -c 100000000 /dev/zero | tr "\0" a); echo survived`)
	spec.MemMB = 32
	launch(t, c, spec)
	st := wait(t, c, spec.ContainerID)
	if !st.OOMKilled || st.ExitCode != 137 || !strings.HasPrefix(st.Message, "Memory limit exceeded: ") {
		t.Fatalf("status = %+v", st)
	}
	t.Logf("OOM message: %q", st.Message)
	// A normal exit under a limit is not an OOM.
	spec2 := newSpec(t, "/bin/true")
	spec2.MemMB = 32
	launch(t, c, spec2)
	if st := wait(t, c, spec2.ContainerID); st.OOMKilled || st.ExitCode != 0 {
		t.Errorf("true under limit: %+v", st)
	}
}

func TestCgroupLimits(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "/bin/sleep", "30")
	spec.CPUs, spec.MemMB = 0.5, 64
	launch(t, c, spec)
	cg := c.CgroupPath(spec.ContainerID)
	cpu, err := c.Cgroups().CPU(cg)
	if err != nil {
		t.Fatal(err)
	}
	if cpu.Quota != 50000 || cpu.Period != 100000 {
		t.Errorf("cfs = %d/%d, want 50000/100000", cpu.Quota, cpu.Period)
	}
	if cpu.Shares != 0 && cpu.Shares != 512 {
		t.Errorf("shares = %d, want 512", cpu.Shares)
	}
	mem, err := c.Cgroups().Memory(cg)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Limit != 64<<20 {
		t.Errorf("memory limit = %d, want %d", mem.Limit, 64<<20)
	}
	t.Logf("cgroup %s (%v): cpu %+v, memory %+v", cg, c.Cgroups().Mode, cpu, mem)
}

func TestKillGrace(t *testing.T) {
	c := requireContainerd(t)
	ctx := testCtx(t, 60*time.Second)

	// A plain sleep has no TERM handler; the init forwards SIGTERM.
	plain := newSpec(t, "/bin/sleep", "100")
	launch(t, c, plain)
	start := time.Now()
	if err := c.Kill(ctx, plain.ContainerID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("SIGTERM did not stop sleep (took %v)", d)
	}
	if st := wait(t, c, plain.ContainerID); st.Signal != 15 || st.ExitCode != 143 || st.OOMKilled {
		t.Errorf("plain status = %+v", st)
	}

	// A task trapping TERM gets SIGKILL after the grace period.
	stubborn := newSpec(t, "/bin/sh", "-c", `trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done`)
	stubborn.MemMB = 64 // a limit must not turn our SIGKILL into an OOM
	launch(t, c, stubborn)
	readEventually(t, stubborn.StdoutPath, func(s string) bool { return strings.Contains(s, "ready") })
	start = time.Now()
	if err := c.Kill(ctx, stubborn.ContainerID, 700*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("killed before grace: %v", d)
	}
	st := wait(t, c, stubborn.ContainerID)
	if st.Signal != 9 || st.ExitCode != 137 || st.OOMKilled {
		t.Errorf("stubborn status = %+v", st)
	}
	if out := readEventually(t, stubborn.StdoutPath, func(s string) bool { return strings.Contains(s, "got-term") }); !strings.Contains(out, "got-term") {
		t.Errorf("TERM not delivered first; stdout %q", out)
	}
	// Idempotent on an exited container; ErrNotFound when unknown.
	if err := c.Kill(ctx, stubborn.ContainerID, time.Second); err != nil {
		t.Errorf("kill exited: %v", err)
	}
	if err := c.Kill(ctx, "never-launched", time.Second); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("kill unknown: %v", err)
	}
}

func TestSurvivesAgentRestart(t *testing.T) {
	c1 := requireContainerd(t)
	spec := newSpec(t, "/bin/sh", "-c", `echo early; sleep 1.5; echo late; echo late-err >&2; exit 4`)
	spec.Labels = map[string]string{"framework_id": "fw-1", "task_id": "task-1"}
	if err := c1.Launch(testCtx(t, 30*time.Second), spec); err != nil {
		t.Fatal(err)
	}
	// The "agent" dies: its client goes away while the task runs.
	c1.Close()

	c2 := requireContainerd(t)
	t.Cleanup(func() { _ = c2.Destroy(context.Background(), spec.ContainerID) })
	ctrs, err := c2.Containers(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var found *containerizer.Container
	for i := range ctrs {
		if ctrs[i].ID == spec.ContainerID {
			found = &ctrs[i]
		}
	}
	if found == nil || !found.Running || found.Labels["task_id"] != "task-1" || found.Labels["framework_id"] != "fw-1" || len(found.Labels) != 2 {
		t.Fatalf("Containers = %+v", ctrs)
	}
	st := wait(t, c2, spec.ContainerID)
	if st.ExitCode != 4 {
		t.Errorf("status = %+v", st)
	}
	if out := readEventually(t, spec.StdoutPath, func(s string) bool { return s == "early\nlate\n" }); out != "early\nlate\n" {
		t.Errorf("stdout = %q", out)
	}
	if out := readEventually(t, spec.StderrPath, func(s string) bool { return s == "late-err\n" }); out != "late-err\n" {
		t.Errorf("stderr = %q", out)
	}
	// A third incarnation gets the recorded status again.
	c3 := requireContainerd(t)
	if st3 := wait(t, c3, spec.ContainerID); st3.ExitCode != 4 || !st3.ExitedAt.Equal(st.ExitedAt) {
		t.Errorf("third wait = %+v, want %+v", st3, st)
	}
	ctrs, _ = c3.Containers(testCtx(t, 10*time.Second))
	for _, ct := range ctrs {
		if ct.ID == spec.ContainerID && ct.Running {
			t.Error("listed as running after exit")
		}
	}
}

func TestDestroy(t *testing.T) {
	c := requireContainerd(t)
	ctx := testCtx(t, 60*time.Second)
	if err := c.Destroy(ctx, "never-launched"); err != nil {
		t.Errorf("destroy unknown: %v", err)
	}
	spec := newSpec(t, "/bin/sleep", "100")
	if err := c.Launch(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := c.Launch(ctx, spec); !errors.Is(err, containerizer.ErrAlreadyExists) {
		t.Errorf("duplicate launch: %v", err)
	}
	waited := make(chan containerizer.ExitStatus, 1)
	go func() {
		st, _ := c.Wait(ctx, spec.ContainerID)
		waited <- st
	}()
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := c.Destroy(ctx, spec.ContainerID); err != nil {
			t.Fatalf("destroy #%d: %v", i, err)
		}
	}
	select {
	case st := <-waited:
		if st.Signal != 9 {
			t.Errorf("destroyed status = %+v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Destroy")
	}
	if _, err := c.Wait(ctx, spec.ContainerID); !errors.Is(err, containerizer.ErrNotFound) {
		t.Errorf("wait after destroy: %v", err)
	}
	if c.Cgroups().Exists(c.CgroupPath(spec.ContainerID)) {
		t.Error("cgroup left behind")
	}
	ctrs, _ := c.Containers(ctx)
	for _, ct := range ctrs {
		if ct.ID == spec.ContainerID {
			t.Error("still listed after destroy")
		}
	}
}

func TestLaunchFailureLeavesNothing(t *testing.T) {
	c := requireContainerd(t)
	ctx := testCtx(t, 30*time.Second)
	spec := newSpec(t, "/no/such/binary")
	c.cfg.NoInit, c.initBinary = true, "" // runc itself must fail the exec
	err := c.Launch(ctx, spec)
	if err == nil {
		t.Cleanup(func() { _ = c.Destroy(context.Background(), spec.ContainerID) })
		t.Fatal("launch of a missing binary succeeded")
	}
	ctrs, _ := c.Containers(ctx)
	for _, ct := range ctrs {
		if ct.ID == spec.ContainerID {
			t.Errorf("container left after failed launch: %v", err)
		}
	}
}

func TestInitMissingBinary(t *testing.T) {
	c := requireContainerd(t)
	spec := newSpec(t, "/no/such/binary")
	launch(t, c, spec)
	if st := wait(t, c, spec.ContainerID); st.ExitCode != 127 {
		t.Errorf("status = %+v, want 127", st)
	}
}

func TestNewWithoutSocket(t *testing.T) {
	_, err := New(context.Background(), Config{Address: filepath.Join(t.TempDir(), "nope.sock")})
	if err == nil || !strings.Contains(err.Error(), "scripts/containerd-dev.sh") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkLaunchExit measures launch → exit observed for /bin/true, and
// the whole cycle including Destroy (the B17 anchor: runc ≈22 ms, ctr ≈85 ms
// on the reference VM). "noinit" runs the task as PID 1 directly, to show
// what the init helper costs.
func BenchmarkLaunchExit(b *testing.B) {
	c := requireContainerd(b)
	b.Run("init", func(b *testing.B) { benchLaunchExit(b, c) })
	b.Run("noinit", func(b *testing.B) {
		saved := c.initBinary
		c.initBinary = ""
		defer func() { c.initBinary = saved }()
		benchLaunchExit(b, c)
	})
}

func benchLaunchExit(b *testing.B, c *Containerizer) {
	ctx := context.Background()
	var toExit time.Duration
	for i := 0; i < b.N; i++ {
		spec := newSpec(b, "/bin/true")
		start := time.Now()
		if err := c.Launch(ctx, spec); err != nil {
			b.Fatal(err)
		}
		st, err := c.Wait(ctx, spec.ContainerID)
		if err != nil || st.ExitCode != 0 {
			b.Fatalf("wait: %+v %v", st, err)
		}
		toExit += time.Since(start)
		if err := c.Destroy(ctx, spec.ContainerID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(toExit.Microseconds())/1000/float64(b.N), "ms-launch-to-exit/op")
}
