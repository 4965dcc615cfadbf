package ctrd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
)

// The mesosd binary doubles as two helpers that containerd runs on the
// agent's behalf. Both must work without the agent process, so that tasks
// keep running and logging while the agent restarts.
const (
	// LoggerSubcommand is argv[1] when the containerd shim starts the
	// binary as a task's logger: "mesosd <LoggerSubcommand> <json>".
	LoggerSubcommand = "__containerd-logger"
	// InitSubcommand is argv[1] when the binary runs as PID 1 inside a
	// task container: "mesosd <InitSubcommand> -- argv...".
	InitSubcommand = "__container-init"
	// initReadyComm is the process name the init takes once it forwards
	// signals; Kill waits for it before sending SIGTERM.
	initReadyComm = "mesosd-init"
)

// loggerArgs is the single argument after LoggerSubcommand. A single
// query key in the binary:// URI is deliberate: the shim turns the query
// map into "key value" argv pairs in random map order, so with one key
// the argv is deterministic.
type loggerArgs struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// IsHelperInvocation reports whether args (os.Args) ask for one of the
// hidden helpers; main must then call RunHelper before anything else.
func IsHelperInvocation(args []string) bool {
	return len(args) > 1 && (args[1] == LoggerSubcommand || args[1] == InitSubcommand)
}

// RunHelper runs the helper named by args[1] (see IsHelperInvocation) and
// never returns.
func RunHelper(args []string) {
	switch {
	case len(args) > 1 && args[1] == LoggerSubcommand:
		RunLogger(args[2:])
	case len(args) > 1 && args[1] == InitSubcommand:
		RunInit(args[2:])
	}
	fmt.Fprintf(os.Stderr, "mesosd: not a helper invocation: %q\n", args)
	os.Exit(2)
}

// RunLogger implements containerd's shim logging-binary protocol: the
// shim passes the task's stdout and stderr pipes as fds 3 and 4 and waits
// on fd 5 for readiness. It appends each stream to its sandbox file until
// both pipes close (the task is gone), then exits. It never returns.
//
// Why a logger process rather than the client's FIFO copier: the logger
// is a child of the shim, not of the agent, so output keeps flowing while
// the agent is down; an in-agent copier would die with the agent and the
// task would block on a full pipe. And why not the shim's file:// URI:
// it writes stdout and stderr into one file.
//
// Invariant: the logger never stops reading. If a file write fails (disk
// full, file removed) it keeps draining the pipe and discards, because a
// reader that stops would block or SIGPIPE the task.
func RunLogger(args []string) {
	var la loggerArgs
	if len(args) != 1 || json.Unmarshal([]byte(args[0]), &la) != nil {
		fmt.Fprintf(os.Stderr, "mesosd logger: want one JSON argument, got %q\n", args)
		os.Exit(2)
	}
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		var wg sync.WaitGroup
		for _, s := range []struct {
			path string
			r    io.Reader
		}{{la.Stdout, cfg.Stdout}, {la.Stderr, cfg.Stderr}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				drainTo(s.path, s.r)
			}()
		}
		if err := ready(); err != nil {
			return fmt.Errorf("logger for container %q: signal ready: %w", cfg.ID, err)
		}
		// A SIGTERM from the shim (ctx) comes after it closed its pipe
		// ends, so the copies end on EOF anyway; do not cut them short
		// and lose the tail of the output.
		wg.Wait()
		return nil
	})
}

func drainTo(path string, r io.Reader) {
	var w io.Writer = io.Discard
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		defer f.Close()
		w = f
	} else {
		fmt.Fprintf(os.Stderr, "mesosd logger: %v; discarding output\n", err)
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 && w != io.Discard {
			if _, werr := w.Write(buf[:n]); werr != nil {
				fmt.Fprintf(os.Stderr, "mesosd logger: write %q: %v; discarding further output\n", path, werr)
				w = io.Discard
			}
		}
		if err != nil {
			return
		}
	}
}

// RunInit is a minimal init for PID 1 in a task container; it never
// returns. args are "--", then the task's argv.
//
// Why an init: the kernel drops signals to a PID-namespace init that has
// no handler, so a plain "sleep 100" as PID 1 would ignore the SIGTERM of
// a graceful kill. RunInit installs handlers, forwards every signal to
// the task's process group, reaps re-parented zombies, and exits with the
// task's status (128+signal if a signal killed it), like tini or
// docker --init.
func RunInit(args []string) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "mesosd init: no command")
		os.Exit(127)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mesosd init: %v\n", err)
		os.Exit(127)
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		// Own process group, so a forwarded signal also reaches the
		// task's children (a shell pipeline, for example).
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mesosd init: exec %q: %v\n", args[0], err)
		os.Exit(126)
	}
	// Tell Kill that signals are now forwarded (see awaitTermHandler).
	// /proc/self/comm names the thread-group leader; prctl(PR_SET_NAME)
	// would name whichever OS thread this goroutine runs on.
	_ = os.WriteFile("/proc/self/comm", []byte(initReadyComm), 0)
	go func() {
		for s := range sigs {
			sig := s.(syscall.Signal)
			// SIGCHLD is ours; SIGURG is the Go runtime's preemption signal.
			if sig == syscall.SIGCHLD || sig == syscall.SIGURG {
				continue
			}
			_ = syscall.Kill(-pid, sig)
		}
	}()
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// ECHILD cannot happen before the task is reaped; be safe.
			os.Exit(255)
		}
		if wpid != pid {
			continue // a re-parented orphan: reaped, nothing else to do
		}
		switch {
		case ws.Exited():
			os.Exit(ws.ExitStatus())
		case ws.Signaled():
			os.Exit(128 + int(ws.Signal()))
		}
	}
}
