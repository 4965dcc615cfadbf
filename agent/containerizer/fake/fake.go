// Package fake is an in-memory Containerizer for tests of the agent,
// master and frameworks that must run without root or containerd (like
// Nomad's mock driver).
//
// A container's behaviour is scripted through its labels or, if a label is
// absent, its environment (label "fake.run_for" or env
// "MESOSD_FAKE_RUN_FOR"):
//
//	fake.run_for      Go duration the task runs; absent = until killed
//	fake.exit_code    exit code when run_for elapses (default 0)
//	fake.exit_signal  signal number the task "dies" of when run_for elapses
//	fake.oom          "true": when run_for elapses, report an OOM kill
//	fake.start_error  Launch fails with this message (nothing is left behind)
//	fake.ignore_term  "true": SIGTERM is ignored, so Kill needs SIGKILL after grace
//	fake.stdout       text written to StdoutPath at launch (if the file's dir exists)
//	fake.stderr       text written to StderrPath at launch
//
// Mounts are validated (LaunchSpec.Validate) and recorded, not made: the
// host paths need not exist. Read them back with Spec or Launches.
//
// Exec (used by COMMAND health checks and checks) runs nothing. By default it
// understands a few commands, as argv or as the script of "/bin/sh -c":
// "true" or ":" (exit 0), "false" (exit 1), "exit N", and "sleep SECONDS"
// (which honours ctx, like a timed-out check); anything else exits 0.
// SetExec replaces that with a test's own function; Execs lists the calls.
//
// Tests can also end a container explicitly with Exit. State lives in the
// Containerizer value, so sharing one value between two agent instances
// models containers that survive an agent restart.
package fake

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mesosd/mesosd/agent/containerizer"
)

// Script keys (labels; the env form is MESOSD_FAKE_ + upper-cased suffix).
const (
	KeyRunFor     = "fake.run_for"
	KeyExitCode   = "fake.exit_code"
	KeyExitSignal = "fake.exit_signal"
	KeyOOM        = "fake.oom"
	KeyStartError = "fake.start_error"
	KeyIgnoreTerm = "fake.ignore_term"
	KeyStdout     = "fake.stdout"
	KeyStderr     = "fake.stderr"
)

// EnvKey returns the environment variable that scripts key when no label
// does, e.g. EnvKey(KeyRunFor) == "MESOSD_FAKE_RUN_FOR".
func EnvKey(key string) string {
	return "MESOSD_FAKE_" + strings.ToUpper(strings.TrimPrefix(key, "fake."))
}

// Containerizer is the fake. The zero value is not usable; call New.
type Containerizer struct {
	now func() time.Time

	mu         sync.Mutex
	containers map[string]*container
	launches   []containerizer.LaunchSpec
	execFunc   ExecFunc
	execs      []ExecCall
}

// ExecFunc scripts Exec for a test; it is called for running containers
// only, after the spec was validated and recorded.
type ExecFunc func(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error)

// ExecCall is one call of Exec, as Execs reports it.
type ExecCall struct {
	ContainerID string
	Spec        containerizer.ExecSpec
}

var _ containerizer.Containerizer = (*Containerizer)(nil)

type container struct {
	spec       containerizer.LaunchSpec
	ignoreTerm bool
	timer      *time.Timer
	done       chan struct{} // closed once status is set
	status     containerizer.ExitStatus
}

func (c *container) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Option configures New.
type Option func(*Containerizer)

// WithClock sets the time source used for ExitedAt.
func WithClock(now func() time.Time) Option {
	return func(c *Containerizer) { c.now = now }
}

// New returns an empty fake.
func New(opts ...Option) *Containerizer {
	c := &Containerizer{now: time.Now, containers: map[string]*container{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func lookup(spec *containerizer.LaunchSpec, key string) (string, bool) {
	if v, ok := spec.Labels[key]; ok {
		return v, true
	}
	prefix := EnvKey(key) + "="
	// Last assignment wins, as in a shell.
	for i := len(spec.Env) - 1; i >= 0; i-- {
		if strings.HasPrefix(spec.Env[i], prefix) {
			return strings.TrimPrefix(spec.Env[i], prefix), true
		}
	}
	return "", false
}

// Launch implements containerizer.Containerizer.
func (c *Containerizer) Launch(ctx context.Context, spec containerizer.LaunchSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if msg, ok := lookup(&spec, KeyStartError); ok {
		return fmt.Errorf("launch container %q: %s", spec.ContainerID, msg)
	}
	var runFor *time.Duration
	if v, ok := lookup(&spec, KeyRunFor); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("container %q: %s=%q: %w", spec.ContainerID, KeyRunFor, v, containerizer.ErrInvalidArgument)
		}
		runFor = &d
	}
	final, err := scriptedExit(&spec)
	if err != nil {
		return err
	}
	ignoreTerm, _ := lookup(&spec, KeyIgnoreTerm)

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.containers[spec.ContainerID]; ok {
		return fmt.Errorf("launch container %q: %w", spec.ContainerID, containerizer.ErrAlreadyExists)
	}
	spec.Labels = cloneMap(spec.Labels)
	spec.Argv = append([]string(nil), spec.Argv...)
	spec.Env = append([]string(nil), spec.Env...)
	spec.Mounts = append([]containerizer.Mount(nil), spec.Mounts...)
	ctr := &container{spec: spec, ignoreTerm: ignoreTerm == "true", done: make(chan struct{})}
	c.containers[spec.ContainerID] = ctr
	c.launches = append(c.launches, spec)
	if out, ok := lookup(&spec, KeyStdout); ok {
		appendFile(spec.StdoutPath, out)
	}
	if out, ok := lookup(&spec, KeyStderr); ok {
		appendFile(spec.StderrPath, out)
	}
	if runFor != nil {
		if *runFor <= 0 {
			c.exitLocked(ctr, final)
		} else {
			ctr.timer = time.AfterFunc(*runFor, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.exitLocked(ctr, final)
			})
		}
	}
	return nil
}

// scriptedExit is the status a task with run_for ends with.
func scriptedExit(spec *containerizer.LaunchSpec) (containerizer.ExitStatus, error) {
	var st containerizer.ExitStatus
	if v, ok := lookup(spec, KeyExitCode); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return st, fmt.Errorf("container %q: %s=%q: %w", spec.ContainerID, KeyExitCode, v, containerizer.ErrInvalidArgument)
		}
		st.ExitCode = n
	}
	if v, ok := lookup(spec, KeyExitSignal); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return st, fmt.Errorf("container %q: %s=%q: %w", spec.ContainerID, KeyExitSignal, v, containerizer.ErrInvalidArgument)
		}
		st.Signal, st.ExitCode = n, 128+n
	}
	st.Message = containerizer.ExitMessage(st.ExitCode, st.Signal)
	if v, _ := lookup(spec, KeyOOM); v == "true" {
		st = containerizer.ExitStatus{
			ExitCode: 137, Signal: int(syscall.SIGKILL), OOMKilled: true,
			Message: fmt.Sprintf("Memory limit exceeded: Requested: %gMB (fake OOM)", spec.MemMB),
		}
	}
	return st, nil
}

func appendFile(path, text string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return // the sandbox may be a fake path in tests; output is best effort
	}
	defer f.Close()
	_, _ = f.WriteString(text)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// exitLocked ends ctr with st unless it already ended. c.mu must be held.
func (c *Containerizer) exitLocked(ctr *container, st containerizer.ExitStatus) {
	if !ctr.running() {
		return
	}
	if ctr.timer != nil {
		ctr.timer.Stop()
	}
	if st.ExitedAt.IsZero() {
		st.ExitedAt = c.now()
	}
	ctr.status = st
	close(ctr.done)
}

func (c *Containerizer) get(id string) (*container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctr, ok := c.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, containerizer.ErrNotFound)
	}
	return ctr, nil
}

// Wait implements containerizer.Containerizer.
func (c *Containerizer) Wait(ctx context.Context, id string) (containerizer.ExitStatus, error) {
	ctr, err := c.get(id)
	if err != nil {
		return containerizer.ExitStatus{}, err
	}
	select {
	case <-ctr.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return ctr.status, nil
	case <-ctx.Done():
		return containerizer.ExitStatus{}, fmt.Errorf("wait for container %q: %w", id, ctx.Err())
	}
}

func signalled(sig syscall.Signal) containerizer.ExitStatus {
	return containerizer.ExitStatus{ExitCode: 128 + int(sig), Signal: int(sig), Message: containerizer.ExitMessage(128+int(sig), int(sig))}
}

// Kill implements containerizer.Containerizer: a task that does not ignore
// SIGTERM exits at once with 143; one that does is SIGKILLed (137) after
// grace.
func (c *Containerizer) Kill(ctx context.Context, id string, grace time.Duration) error {
	ctr, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !ctr.ignoreTerm {
		c.exitLocked(ctr, signalled(syscall.SIGTERM))
	}
	c.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ctr.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("kill container %q: %w", id, ctx.Err())
	}
	c.mu.Lock()
	c.exitLocked(ctr, signalled(syscall.SIGKILL))
	c.mu.Unlock()
	return nil
}

// Exit ends a running container with st, as if its process exited. It is
// for tests; ExitedAt defaults to the clock's now.
func (c *Containerizer) Exit(id string, st containerizer.ExitStatus) error {
	ctr, err := c.get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exitLocked(ctr, st)
	return nil
}

// Destroy implements containerizer.Containerizer.
func (c *Containerizer) Destroy(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctr, ok := c.containers[id]
	if !ok {
		return nil
	}
	c.exitLocked(ctr, signalled(syscall.SIGKILL))
	delete(c.containers, id)
	return nil
}

// Containers implements containerizer.Containerizer, sorted by ID.
func (c *Containerizer) Containers(ctx context.Context) ([]containerizer.Container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]containerizer.Container, 0, len(c.containers))
	for id, ctr := range c.containers {
		out = append(out, containerizer.Container{ID: id, Labels: cloneMap(ctr.spec.Labels), Running: ctr.running()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Spec returns the LaunchSpec a live container was launched with.
func (c *Containerizer) Spec(id string) (containerizer.LaunchSpec, error) {
	ctr, err := c.get(id)
	if err != nil {
		return containerizer.LaunchSpec{}, err
	}
	return ctr.spec, nil
}

// Launches returns every spec passed to a successful Launch, in order,
// including destroyed containers.
func (c *Containerizer) Launches() []containerizer.LaunchSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]containerizer.LaunchSpec(nil), c.launches...)
}

// SetExec makes Exec call f (nil restores the default behaviour).
func (c *Containerizer) SetExec(f ExecFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.execFunc = f
}

// Execs returns every Exec call on a running container, in order.
func (c *Containerizer) Execs() []ExecCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ExecCall(nil), c.execs...)
}

// Exec implements containerizer.Containerizer (see the package comment).
func (c *Containerizer) Exec(ctx context.Context, id string, spec containerizer.ExecSpec) (containerizer.ExitStatus, error) {
	if err := ctx.Err(); err != nil {
		return containerizer.ExitStatus{}, err
	}
	if err := spec.Validate(); err != nil {
		return containerizer.ExitStatus{}, fmt.Errorf("exec in container %q: %w", id, err)
	}
	c.mu.Lock()
	ctr, ok := c.containers[id]
	if !ok {
		c.mu.Unlock()
		return containerizer.ExitStatus{}, fmt.Errorf("exec in container %q: %w", id, containerizer.ErrNotFound)
	}
	if !ctr.running() {
		c.mu.Unlock()
		return containerizer.ExitStatus{}, fmt.Errorf("exec in container %q: %w", id, containerizer.ErrNotRunning)
	}
	spec.Argv = append([]string(nil), spec.Argv...)
	spec.Env = append([]string(nil), spec.Env...)
	c.execs = append(c.execs, ExecCall{ContainerID: id, Spec: spec})
	f := c.execFunc
	c.mu.Unlock()
	if f != nil {
		return f(ctx, id, spec)
	}
	return defaultExec(ctx, spec.Argv)
}

// defaultExec interprets the few commands the package comment lists.
func defaultExec(ctx context.Context, argv []string) (containerizer.ExitStatus, error) {
	words := argv
	if len(argv) == 3 && (argv[0] == "/bin/sh" || argv[0] == "sh") && argv[1] == "-c" {
		words = strings.Fields(argv[2])
	}
	exited := func(code int) (containerizer.ExitStatus, error) {
		return containerizer.ExitStatus{ExitCode: code, Message: containerizer.ExitMessage(code, 0)}, nil
	}
	if len(words) == 0 {
		return exited(0)
	}
	switch name := words[0]; {
	case name == "false" || strings.HasSuffix(name, "/false"):
		return exited(1)
	case name == "exit" && len(words) > 1:
		n, err := strconv.Atoi(words[1])
		if err != nil {
			return exited(2)
		}
		return exited(n & 0xff)
	case (name == "sleep" || strings.HasSuffix(name, "/sleep")) && len(words) > 1:
		secs, err := strconv.ParseFloat(words[1], 64)
		if err != nil {
			return exited(1)
		}
		t := time.NewTimer(time.Duration(secs * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
			return exited(0)
		case <-ctx.Done():
			return signalled(syscall.SIGKILL), fmt.Errorf("exec %q: %w", argv, ctx.Err())
		}
	}
	return exited(0)
}
