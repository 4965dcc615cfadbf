// Package ctrd is the containerd implementation of containerizer.Containerizer.
//
// Each task is one containerd container (runtime io.containerd.runc.v2) in
// a dedicated namespace ("mesosd" by default). Command tasks need no image:
// the rootfs is the host's "/", read-only, with a private /tmp and /run, the
// host network, the sandbox bind-mounted read-write and used as cwd, and
// LaunchSpec.Mounts bound on top (see mounts.go for where their mount
// points may be).
//
// Invariants, and why:
//   - containerd is the source of truth. Nothing the agent must know after
//     a restart lives only in this process: labels on the container carry
//     the agent's labels, the cgroup path, the memory request, whether we
//     killed the task, and the final exit status once observed. Wait after
//     a restart therefore loads the task and waits again; it never relies
//     on the event stream, which containerd does not replay.
//   - Output never passes through the agent. A logger process started by
//     the shim (the mesosd binary, see RunLogger) appends stdout and stderr
//     to the sandbox files, so tasks neither block nor lose output while
//     the agent is down.
//   - OOM is read from the cgroup (oom_kill counters) after the exit and
//     before the task is deleted, because runc removes the cgroup on delete
//     and the TaskOOM event is optional and not replayed.
//   - PID 1 in the container is a tiny init (the mesosd binary again, see
//     RunInit) so SIGTERM reaches tasks that install no handler.
package ctrd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/isolation/cgroups"
)

// Defaults for Config.
const (
	DefaultAddress      = "/run/containerd/containerd.sock"
	DefaultNamespace    = "mesosd"
	DefaultRuntime      = "io.containerd.runc.v2"
	DefaultCgroupParent = "/mesosd"
	DefaultRootfsDir    = "/run/mesosd/rootfs"
)

// Internal labels (stripped from Container.Labels). The agent's own labels
// must not use this prefix.
const (
	labelPrefix   = "io.mesosd.ctrd."
	labelCgroup   = labelPrefix + "cgroup"   // cgroup path, for OOM counters
	labelMemMB    = labelPrefix + "mem-mb"   // requested memory, for the OOM message
	labelKilled   = labelPrefix + "killed"   // "true" once Kill/Destroy signalled it
	labelExit     = labelPrefix + "exit"     // JSON ExitStatus once observed
	labelManaged  = labelPrefix + "managed"  // "true" on every container we create
	labelLaunched = labelPrefix + "launched" // RFC 3339 launch time
	labelInit     = labelPrefix + "init"     // "true" when PID 1 is RunInit
)

// Config configures New.
type Config struct {
	// Address is containerd's gRPC socket; default DefaultAddress.
	Address string
	// Namespace is the containerd namespace; default DefaultNamespace.
	Namespace string
	// Runtime is the containerd runtime; default DefaultRuntime.
	Runtime string
	// CgroupParent is the cgroup under which each container gets
	// <parent>/<id>; default DefaultCgroupParent.
	CgroupParent string
	// HelperBinary is the mesosd binary the shim runs as the task logger
	// and that runs as the container's init; default os.Executable().
	// It must understand the hidden subcommands (see RunHelper).
	HelperBinary string
	// NoInit runs the task directly as PID 1 instead of under RunInit.
	// Then a task without a SIGTERM handler only dies at SIGKILL.
	NoInit bool
	// RootfsDir is an empty host directory used as every container's
	// rootfs mount point (the host "/" is bound onto it inside each
	// container's mount namespace); default DefaultRootfsDir.
	RootfsDir string
	// DialTimeout bounds connecting to containerd; default 10s.
	DialTimeout time.Duration
}

// Containerizer runs tasks in containerd. Safe for concurrent use.
type Containerizer struct {
	cfg        Config
	client     *client.Client
	cg         *cgroups.Hierarchy
	initBinary string // "" when cfg.NoInit
	roOption   string // "rro" where the kernel supports recursive read-only, else "ro"
	rootfsDir  string

	mu   sync.Mutex
	exit map[string]containerizer.ExitStatus // observed exits, until Destroy
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

// New connects to containerd. It fails with a hint if the socket is
// missing, and checks that the daemon answers.
func New(ctx context.Context, cfg Config) (*Containerizer, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Runtime == "" {
		cfg.Runtime = DefaultRuntime
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	if cfg.RootfsDir == "" {
		cfg.RootfsDir = DefaultRootfsDir
	}
	if err := os.MkdirAll(cfg.RootfsDir, 0o755); err != nil {
		return nil, fmt.Errorf("containerizer: rootfs mount point: %w", err)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.HelperBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerizer: find helper binary: %w", err)
		}
		cfg.HelperBinary = exe
	}
	helper, err := filepath.EvalSymlinks(cfg.HelperBinary)
	if err != nil {
		return nil, fmt.Errorf("containerizer: helper binary %q: %w", cfg.HelperBinary, err)
	}
	cfg.HelperBinary = helper
	if _, err := os.Stat(cfg.Address); err != nil {
		return nil, fmt.Errorf("containerizer: containerd socket %q: %w (is containerd running? start it with scripts/containerd-dev.sh)", cfg.Address, err)
	}
	cl, err := client.New(cfg.Address, client.WithDefaultNamespace(cfg.Namespace), client.WithTimeout(cfg.DialTimeout))
	if err != nil {
		return nil, fmt.Errorf("containerizer: connect to containerd at %q: %w (is containerd running? start it with scripts/containerd-dev.sh)", cfg.Address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cl.Version(vctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("containerizer: containerd at %q does not answer: %w", cfg.Address, err)
	}
	cg, err := cgroups.Detect()
	if err != nil {
		cl.Close()
		return nil, err
	}
	c := &Containerizer{
		cfg: cfg, client: cl, cg: cg, roOption: "ro", rootfsDir: cfg.RootfsDir,
		exit: map[string]containerizer.ExitStatus{},
	}
	if !cfg.NoInit {
		c.initBinary = cfg.HelperBinary
	}
	if kernelAtLeast(5, 12) { // mount_setattr(2), needed by runc for "rro"
		c.roOption = "rro"
	}
	return c, nil
}

// Close releases the client connection; containers keep running.
func (c *Containerizer) Close() error { return c.client.Close() }

// CgroupPath returns the cgroup path (relative to the hierarchy root) of
// container id, for metrics.
func (c *Containerizer) CgroupPath(id string) string {
	return path.Join(c.cfg.CgroupParent, id)
}

// Cgroups returns the detected cgroup hierarchy.
func (c *Containerizer) Cgroups() *cgroups.Hierarchy { return c.cg }

func (c *Containerizer) nsctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// Launch implements containerizer.Containerizer.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) (err error) {
	if err := spec.Validate(); err != nil {
		return err
	}
	for k := range spec.Labels {
		if strings.HasPrefix(k, labelPrefix) {
			return fmt.Errorf("container %q: label %q uses the reserved prefix %q: %w",
				spec.ContainerID, k, labelPrefix, containerizer.ErrInvalidArgument)
		}
	}
	for _, r := range []string{"/proc", "/sys", "/dev", "/run"} {
		if spec.SandboxDir == r || strings.HasPrefix(spec.SandboxDir, r+"/") {
			return fmt.Errorf("container %q: sandbox %q under %s is hidden in the container: %w",
				spec.ContainerID, spec.SandboxDir, r, containerizer.ErrInvalidArgument)
		}
	}
	if fi, err := os.Stat(spec.SandboxDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("container %q: sandbox %q is not a directory: %w", spec.ContainerID, spec.SandboxDir, containerizer.ErrInvalidArgument)
	}
	ctx = c.nsctx(ctx)
	user := &hostUser{uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	if spec.User != "" {
		u, err := resolveUser(spec.User)
		if err != nil {
			return fmt.Errorf("container %q: %w", spec.ContainerID, err)
		}
		user = &u
	}
	// Create the output files up front, owned by the task user, so the
	// task user can read them and they exist even if the task never
	// writes.
	for _, p := range []string{spec.StdoutPath, spec.StderrPath} {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("container %q: create output file: %w", spec.ContainerID, err)
		}
		f.Close()
		if os.Getuid() == 0 {
			_ = os.Chown(p, int(user.uid), int(user.gid))
		}
	}
	extra, err := c.extraMounts(&spec, user)
	if err != nil {
		return err
	}
	var submounts []string
	if c.roOption != "rro" {
		if submounts, err = hostSubmounts(spec.SandboxDir); err != nil {
			return fmt.Errorf("container %q: %w", spec.ContainerID, err)
		}
	}

	labels := make(map[string]string, len(spec.Labels)+4)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[labelManaged] = "true"
	labels[labelCgroup] = c.CgroupPath(spec.ContainerID)
	labels[labelLaunched] = time.Now().UTC().Format(time.RFC3339Nano)
	if c.initBinary != "" {
		labels[labelInit] = "true"
	}
	if spec.MemMB > 0 {
		labels[labelMemMB] = strconv.FormatFloat(spec.MemMB, 'g', -1, 64)
	}

	ctr, err := c.client.NewContainer(ctx, spec.ContainerID,
		client.WithContainerLabels(labels),
		client.WithRuntime(c.cfg.Runtime, nil),
		client.WithNewSpec(c.specOpts(&spec, user, submounts, extra)...),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("launch container %q: %w", spec.ContainerID, containerizer.ErrAlreadyExists)
		}
		return fmt.Errorf("launch container %q: create: %w", spec.ContainerID, err)
	}
	defer func() {
		if err != nil {
			// Leave nothing behind, with a context that outlives a
			// cancelled caller.
			cctx, cancel := context.WithTimeout(c.nsctx(context.WithoutCancel(ctx)), 30*time.Second)
			defer cancel()
			if derr := c.destroy(cctx, spec.ContainerID); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()

	largs, _ := json.Marshal(loggerArgs{Stdout: spec.StdoutPath, Stderr: spec.StderrPath})
	task, err := ctr.NewTask(ctx, cio.BinaryIO(c.cfg.HelperBinary, map[string]string{LoggerSubcommand: string(largs)}))
	if err != nil {
		return fmt.Errorf("launch container %q: create task: %w", spec.ContainerID, err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("launch container %q: start: %w", spec.ContainerID, err)
	}
	return nil
}

// Wait implements containerizer.Containerizer.
func (c *Containerizer) Wait(ctx context.Context, id string) (containerizer.ExitStatus, error) {
	c.mu.Lock()
	st, ok := c.exit[id]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	ctx = c.nsctx(ctx)
	ctr, err := c.load(ctx, id)
	if err != nil {
		return containerizer.ExitStatus{}, err
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return containerizer.ExitStatus{}, c.wrap("wait for", id, err)
	}
	if st, ok := decodeExit(labels[labelExit]); ok {
		c.remember(id, st)
		return st, nil
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		// The container exists but its task does not, and no exit was
		// recorded: containerd lost the shim (e.g. a host or containerd
		// crash) or the task was deleted behind our back.
		st := containerizer.ExitStatus{ExitCode: -1, Message: "task lost: containerd has no task for the container", ExitedAt: time.Now()}
		c.record(ctx, ctr, st)
		return st, nil
	}
	if err != nil {
		return containerizer.ExitStatus{}, c.wrap("wait for", id, err)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return containerizer.ExitStatus{}, c.wrap("wait for", id, err)
	}
	var es client.ExitStatus
	select {
	case es = <-ch:
	case <-ctx.Done():
		return containerizer.ExitStatus{}, fmt.Errorf("wait for container %q: %w", id, ctx.Err())
	}
	if err := es.Error(); err != nil {
		return containerizer.ExitStatus{}, c.wrap("wait for", id, err)
	}
	// Labels again: Kill may have marked the container meanwhile.
	if l, err := ctr.Labels(ctx); err == nil {
		labels = l
	}
	st = c.exitStatus(es, labels)
	c.record(ctx, ctr, st)
	return st, nil
}

// exitStatus turns a containerd exit into an ExitStatus, reading the
// cgroup's OOM counters while the (dead) task still holds the cgroup.
func (c *Containerizer) exitStatus(es client.ExitStatus, labels map[string]string) containerizer.ExitStatus {
	code := int(es.ExitCode())
	st := containerizer.ExitStatus{ExitCode: code, ExitedAt: es.ExitTime()}
	// The runc shim reports a signal death as 128+signal.
	if code > 128 && code < 128+65 {
		st.Signal = code - 128
	}
	st.Message = containerizer.ExitMessage(st.ExitCode, st.Signal)
	cg := labels[labelCgroup]
	if cg == "" {
		return st
	}
	mem, err := c.cg.Memory(cg)
	if err != nil {
		return st
	}
	oom := mem.OOMKills > 0
	// Kernels before 4.13 have no v1 oom_kill counter: fall back to a
	// SIGKILL we did not send, with the limit hit and usage at it.
	if !oom && code == 128+int(syscall.SIGKILL) && labels[labelKilled] != "true" &&
		mem.Limit > 0 && mem.Failcnt > 0 && mem.MaxUsage+(1<<20) >= mem.Limit {
		oom = true
	}
	if oom {
		st.OOMKilled = true
		req := labels[labelMemMB]
		if req == "" {
			req = strconv.FormatFloat(float64(mem.Limit)/(1<<20), 'g', -1, 64)
		}
		st.Message = fmt.Sprintf("Memory limit exceeded: Requested: %sMB, Maximum Used: %gMB\n\nMEMORY STATISTICS: \nanon: %d\nfile: %d\n",
			req, float64(mem.MaxUsage)/(1<<20), mem.Anon, mem.File)
	}
	return st
}

// record keeps st in memory and on the container, so a Wait after an agent
// restart (even once the task is gone) gets the same answer.
func (c *Containerizer) record(ctx context.Context, ctr client.Container, st containerizer.ExitStatus) {
	c.remember(ctr.ID(), st)
	if b, err := json.Marshal(st); err == nil {
		_, _ = ctr.SetLabels(ctx, map[string]string{labelExit: string(b)})
	}
}

func (c *Containerizer) remember(id string, st containerizer.ExitStatus) {
	c.mu.Lock()
	c.exit[id] = st
	c.mu.Unlock()
}

func decodeExit(s string) (containerizer.ExitStatus, bool) {
	var st containerizer.ExitStatus
	if s == "" || json.Unmarshal([]byte(s), &st) != nil {
		return st, false
	}
	return st, true
}

// Kill implements containerizer.Containerizer. It returns nil if the task
// already exited (or has no task), ErrNotFound if the container does not
// exist.
func (c *Containerizer) Kill(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.nsctx(ctx)
	ctr, err := c.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.wrap("kill", id, err)
	}
	return c.kill(ctx, ctr, task, grace)
}

func (c *Containerizer) kill(ctx context.Context, ctr client.Container, task client.Task, grace time.Duration) error {
	id := ctr.ID()
	// Wait before signalling, or the exit could be missed.
	ch, err := task.Wait(ctx)
	if err != nil {
		return c.wrap("kill", id, err)
	}
	if s, err := task.Status(ctx); err == nil && s.Status == client.Stopped {
		return nil
	}
	// Persisted before the signal so that a Wait in a later agent process
	// does not take our SIGKILL for an OOM kill.
	if _, err := ctr.SetLabels(ctx, map[string]string{labelKilled: "true"}); err != nil {
		return c.wrap("kill", id, err)
	}
	if grace > 0 {
		if l, err := ctr.Labels(ctx); err == nil && l[labelInit] == "true" {
			// Just after Launch the init may not have installed its
			// handlers yet, and the kernel drops a SIGTERM to a PID 1
			// without one. Give it a moment (bounded by grace).
			awaitTermHandler(ctx, task.Pid(), min(grace/2, 2*time.Second))
		}
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return c.wrap("kill", id, err)
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("kill container %q: %w", id, ctx.Err())
		}
	}
	// KillAll: every process in the container, not only its init.
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return c.wrap("kill", id, err)
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kill container %q: %w", id, ctx.Err())
	}
}

// Destroy implements containerizer.Containerizer. A still-running task is
// SIGKILLed first; its exit status is recorded so a concurrent Wait in
// this process still returns.
func (c *Containerizer) Destroy(ctx context.Context, id string) error {
	if err := c.destroy(c.nsctx(ctx), id); err != nil {
		return err
	}
	return nil
}

func (c *Containerizer) destroy(ctx context.Context, id string) error {
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		c.forget(id)
		return nil
	}
	if err != nil {
		return c.wrap("destroy", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return c.wrap("destroy", id, err)
	default:
		if err := c.kill(ctx, ctr, task, 0); err != nil {
			return err
		}
		// Observe the exit (and OOM counters) before the cgroup goes.
		if _, ok := c.cached(id); !ok {
			if labels, err := ctr.Labels(ctx); err == nil {
				if _, ok := decodeExit(labels[labelExit]); !ok {
					if ch, err := task.Wait(ctx); err == nil {
						select {
						case es := <-ch:
							c.record(ctx, ctr, c.exitStatus(es, labels))
						case <-ctx.Done():
						}
					}
				}
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return c.wrap("destroy", id, err)
		}
	}
	if err := ctr.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return c.wrap("destroy", id, err)
	}
	c.forget(id)
	return nil
}

func (c *Containerizer) cached(id string) (containerizer.ExitStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.exit[id]
	return st, ok
}

func (c *Containerizer) forget(id string) {
	c.mu.Lock()
	delete(c.exit, id)
	c.mu.Unlock()
}

// Containers implements containerizer.Containerizer: every container in
// the namespace, managed by us or not (so the agent can also remove
// strangers), with the agent's labels only.
func (c *Containerizer) Containers(ctx context.Context) ([]containerizer.Container, error) {
	ctx = c.nsctx(ctx)
	ctrs, err := c.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers in namespace %q: %w", c.cfg.Namespace, err)
	}
	out := make([]containerizer.Container, 0, len(ctrs))
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
		if errdefs.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, c.wrap("inspect", ctr.ID(), err)
		}
		labels := map[string]string{}
		for k, v := range info.Labels {
			if !strings.HasPrefix(k, labelPrefix) {
				labels[k] = v
			}
		}
		running := false
		if task, err := ctr.Task(ctx, nil); err == nil {
			if s, err := task.Status(ctx); err == nil {
				running = s.Status == client.Running || s.Status == client.Paused || s.Status == client.Pausing
			}
		}
		out = append(out, containerizer.Container{ID: ctr.ID(), Labels: labels, Running: running})
	}
	return out, nil
}

func (c *Containerizer) load(ctx context.Context, id string) (client.Container, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, c.wrap("load", id, err)
	}
	return ctr, nil
}

// wrap maps containerd's errdefs onto our sentinels.
func (c *Containerizer) wrap(op, id string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s container %q: %w", op, id, errors.Join(containerizer.ErrNotFound, err))
	}
	return fmt.Errorf("%s container %q: %w", op, id, err)
}

// awaitTermHandler polls /proc/<pid>/comm until the init reports that
// its signal forwarding is set up (it renames itself initReadyComm), the
// process is gone, or d elapses. SigCgt would not do: the Go runtime
// catches SIGTERM before the init registers for it, and would exit.
func awaitTermHandler(ctx context.Context, pid uint32, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
		if err != nil || strings.TrimSpace(string(b)) == initReadyComm {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	var b strings.Builder
	for _, ch := range u.Release {
		if ch == 0 {
			break
		}
		b.WriteByte(byte(ch))
	}
	parts := strings.SplitN(b.String(), ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && min >= minor)
}
