// Package containerizer defines how the agent runs a task's process in an
// isolated container, independent of the runtime behind it.
//
// Implementations: ctrd (containerd + runc, used in production) and fake
// (in-memory, scriptable, used by agent/master/framework tests).
//
// Invariants every implementation keeps:
//   - The agent chooses container IDs; one ID names at most one container.
//   - Launch returns only after the task's process has started, or with
//     an error and nothing left behind that Destroy could not remove.
//   - Wait works for containers launched by a previous agent process:
//     the runtime, not the agent's memory, is the source of truth, so an
//     agent restart loses nothing (see Containers for reattaching).
//   - Kill and Destroy are idempotent; Destroy is safe on IDs that were
//     never launched.
//   - Errors wrap the sentinels below with %w; check them with errors.Is.
package containerizer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrNotFound means no container with that ID exists.
	ErrNotFound = errors.New("container not found")
	// ErrAlreadyExists means Launch was given an ID that is in use.
	ErrAlreadyExists = errors.New("container already exists")
	// ErrInvalidArgument means a LaunchSpec is unusable (empty argv,
	// bad ID, relative sandbox, unknown user, ...).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotRunning means the container exists but its task's process
	// does not run (it exited, or has not started), so nothing can be
	// executed in it.
	ErrNotRunning = errors.New("container not running")
	// ErrUnavailable means the runtime could not be reached (e.g.
	// containerd restarting); the same call may succeed later. Exec wraps
	// it; the other methods return the runtime's own errors.
	ErrUnavailable = errors.New("container runtime unavailable")
)

// LaunchSpec describes one task container.
type LaunchSpec struct {
	// ContainerID is unique and chosen by the agent; it must be a valid
	// containerd ID (letters, digits, '.', '_', '-'; at most 76 chars).
	ContainerID string
	// Argv is the full command line; the agent turns shell commands
	// into /bin/sh -c.
	Argv []string
	// Env is KEY=VALUE pairs, added to a default PATH.
	Env []string
	// User is "" for the agent's own user, else a host user name or
	// numeric uid resolved through the host /etc/passwd.
	User string
	// SandboxDir is an existing absolute host directory, bind-mounted
	// read-write at the same path and used as the working directory.
	SandboxDir string
	// StdoutPath and StderrPath are host files the task's output is
	// appended to (normally SandboxDir/stdout and SandboxDir/stderr).
	StdoutPath, StderrPath string
	// CPUs > 0 sets a CFS quota of CPUs × period and shares of CPUs × 1024.
	CPUs float64
	// MemMB > 0 sets a hard memory limit, with no swap beyond it.
	MemMB float64
	// Labels are stored on the container; the agent keeps framework and
	// task IDs here so it can recover after a restart.
	Labels map[string]string
	// Mounts are extra bind mounts (persistent volumes, sandbox paths,
	// allowed host paths), applied after the sandbox and in order, so a
	// later mount may cover an earlier one.
	Mounts []Mount
}

// Mount binds a host file or directory into the container.
//
// The agent decides what may be mounted (host paths are a privilege, see
// agent.Config.AllowHostPathVolumes); the containerizer only checks that
// the mount is well-formed and can be made.
type Mount struct {
	// HostPath is an absolute, clean host path that must exist when the
	// container is launched (implementations check; Validate does not
	// touch the file system). It is bound recursively (rbind).
	HostPath string
	// ContainerPath is where the mount appears. A relative path is
	// resolved under SandboxDir (see Target) and its mount point is
	// created there if missing. An absolute path outside the sandbox must
	// be a mount point the runtime can use: with the read-only host root
	// of ctrd it must already exist on the host, or lie under a private
	// writable tmpfs (/tmp). Either way it must not contain "..", and it
	// must not be "/" or the sandbox itself.
	ContainerPath string
	// ReadOnly mounts it read-only.
	ReadOnly bool
}

// Target is the absolute container path of m for a container whose
// sandbox is sandboxDir: ContainerPath if absolute, else joined under
// sandboxDir.
func (m Mount) Target(sandboxDir string) string {
	if filepath.IsAbs(m.ContainerPath) {
		return filepath.Clean(m.ContainerPath)
	}
	return filepath.Join(sandboxDir, m.ContainerPath)
}

// hasDotDot reports whether p has a ".." element (before cleaning, which
// would silently resolve it).
func hasDotDot(p string) bool {
	for _, e := range strings.Split(filepath.ToSlash(p), "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// validateMount checks m in the context of sandbox.
func validateMount(sandbox string, i int, m Mount) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mount %d (%q -> %q): %s: %w", i, m.HostPath, m.ContainerPath,
			fmt.Sprintf(format, args...), ErrInvalidArgument)
	}
	switch {
	case m.HostPath == "":
		return bad("empty host path")
	case !filepath.IsAbs(m.HostPath):
		return bad("host path must be absolute")
	case hasDotDot(m.HostPath):
		return bad("host path must not contain '..'")
	case m.ContainerPath == "":
		return bad("empty container path")
	case hasDotDot(m.ContainerPath):
		return bad("container path must not contain '..'")
	case strings.ContainsRune(m.ContainerPath, 0) || strings.ContainsRune(m.HostPath, 0):
		return bad("path contains a NUL byte")
	}
	target := m.Target(sandbox)
	if target == "/" {
		return bad("cannot mount over the container's root")
	}
	if target == filepath.Clean(sandbox) {
		return bad("cannot mount over the sandbox itself; use a subdirectory")
	}
	return nil
}

// ExitStatus is how a container's task ended.
type ExitStatus struct {
	// ExitCode is the process exit status, 128+signal if a signal killed
	// it, or -1 if the status was lost (the runtime no longer knows the
	// task, e.g. containerd lost its shim).
	ExitCode int
	// Signal is the killing signal, 0 if not signalled (or unknown).
	Signal int
	// OOMKilled is true when the memory limit was hit and the kernel OOM
	// killer ended the task (a container limitation in Mesos terms).
	OOMKilled bool
	// Message is human-readable: "Memory limit exceeded: ...", "exited
	// with status 1", "killed by signal 15", ...
	Message string
	// ExitedAt is when the runtime saw the exit.
	ExitedAt time.Time
}

// Container is one container that exists in the runtime.
type Container struct {
	ID     string
	Labels map[string]string
	// Running is true while the task's process is alive.
	Running bool
}

// Containerizer runs task containers. All methods are safe for concurrent
// use.
type Containerizer interface {
	// Launch creates and starts a container; it returns once the process
	// has started. An ID in use gives ErrAlreadyExists.
	Launch(ctx context.Context, spec LaunchSpec) error
	// Wait blocks until the container's process exits (or ctx ends) and
	// returns its status. It may be called any number of times, from any
	// process incarnation, until Destroy. Unknown IDs give ErrNotFound.
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// Kill sends SIGTERM, waits up to grace for the process to exit, then
	// sends SIGKILL, and returns once the process is gone (or ctx ends).
	// It returns nil if the process already exited, and ErrNotFound if
	// the container does not exist.
	Kill(ctx context.Context, id string, grace time.Duration) error
	// Destroy kills whatever still runs and removes the task, container
	// and cgroup. It returns nil for unknown IDs.
	Destroy(ctx context.Context, id string) error
	// Containers lists every container this containerizer manages, for
	// agent recovery and orphan cleanup.
	Containers(ctx context.Context) ([]Container, error)
	// Exec runs one more process inside the running container id (its
	// namespaces, root filesystem, cgroup, user, working directory and
	// environment, see ExecSpec) and waits for it to exit; the agent's
	// COMMAND health checks use it. If ctx ends first, the process is
	// killed and ctx's error returned (wrapped). Errors: ErrNotFound (no
	// such container), ErrNotRunning (its task is not running),
	// ErrUnavailable (runtime unreachable), ErrInvalidArgument (bad spec);
	// anything else means the process could not be started (e.g. its
	// executable does not exist). A process that ran returns a nil error
	// and its ExitStatus, whatever its exit code.
	Exec(ctx context.Context, id string, spec ExecSpec) (ExitStatus, error)
}

// ExecSpec describes a process run inside an existing container by Exec.
type ExecSpec struct {
	// ExecID names the process inside its container; it must be a valid
	// ID (see ValidateID) not used by another live process of the
	// container. Callers use a fresh random suffix per call.
	ExecID string
	// Argv is the full command line (shell commands as /bin/sh -c).
	Argv []string
	// Env is KEY=VALUE pairs applied on top of the container's own
	// environment (a later entry wins).
	Env []string
	// OutputPath, if set, is an absolute host file the process's stdout
	// and stderr are both appended to (Mesos sends a command health
	// check's output to the executor's stderr, i.e. the sandbox's stderr
	// file); empty discards the output.
	OutputPath string
}

// Validate checks the parts of an ExecSpec every implementation relies on.
func (s *ExecSpec) Validate() error {
	if err := ValidateID(s.ExecID); err != nil {
		return fmt.Errorf("exec ID: %w", err)
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return fmt.Errorf("exec %q: empty argv: %w", s.ExecID, ErrInvalidArgument)
	}
	for _, kv := range s.Env {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("exec %q: env entry %q is not KEY=VALUE: %w", s.ExecID, kv, ErrInvalidArgument)
		}
	}
	if s.OutputPath != "" && !filepath.IsAbs(s.OutputPath) {
		return fmt.Errorf("exec %q: output path %q must be absolute: %w", s.ExecID, s.OutputPath, ErrInvalidArgument)
	}
	return nil
}

// MergeEnv returns base with extra applied on top: a variable set in both
// takes extra's value, at base's position; new variables follow in order.
// Later duplicates within either list win. Entries without "=" are kept
// as they are.
func MergeEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	index := map[string]int{}
	for _, list := range [][]string{base, extra} {
		for _, kv := range list {
			k, _, ok := strings.Cut(kv, "=")
			if !ok {
				out = append(out, kv)
				continue
			}
			if i, seen := index[k]; seen {
				out[i] = kv
				continue
			}
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// ExitMessage formats the Message for a plain exit or signal.
func ExitMessage(code, signal int) string {
	if signal > 0 {
		return "killed by signal " + strconv.Itoa(signal)
	}
	return "exited with status " + strconv.Itoa(code)
}

// idPattern is containerd's identifier rule (core/identifiers).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

// maxIDLength is containerd's identifier length limit.
const maxIDLength = 76

// ValidateID checks that id is usable as a container ID.
func ValidateID(id string) error {
	if len(id) == 0 || len(id) > maxIDLength || !idPattern.MatchString(id) {
		return fmt.Errorf("container ID %q: must match %s and be at most %d chars: %w",
			id, idPattern, maxIDLength, ErrInvalidArgument)
	}
	return nil
}

// Validate checks the parts of a LaunchSpec every implementation relies on.
func (s *LaunchSpec) Validate() error {
	if err := ValidateID(s.ContainerID); err != nil {
		return err
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return fmt.Errorf("container %q: empty argv: %w", s.ContainerID, ErrInvalidArgument)
	}
	for _, p := range []struct{ name, path string }{
		{"sandbox", s.SandboxDir}, {"stdout", s.StdoutPath}, {"stderr", s.StderrPath},
	} {
		if !filepath.IsAbs(p.path) {
			return fmt.Errorf("container %q: %s path %q must be absolute: %w",
				s.ContainerID, p.name, p.path, ErrInvalidArgument)
		}
	}
	if s.CPUs < 0 || s.MemMB < 0 {
		return fmt.Errorf("container %q: negative resources: %w", s.ContainerID, ErrInvalidArgument)
	}
	for _, kv := range s.Env {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("container %q: env entry %q is not KEY=VALUE: %w", s.ContainerID, kv, ErrInvalidArgument)
		}
	}
	for i, m := range s.Mounts {
		if err := validateMount(s.SandboxDir, i, m); err != nil {
			return fmt.Errorf("container %q: %w", s.ContainerID, err)
		}
	}
	return nil
}
