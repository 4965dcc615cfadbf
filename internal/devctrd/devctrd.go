// Package devctrd runs a private containerd for `mesosd dev`: its own config,
// root, state and socket under the dev data directory, so it never clashes
// with a containerd the machine may already run. A daemon that is already
// answering on that socket (from an earlier `mesosd dev`) is reused, which
// keeps tasks running across dev restarts.
package devctrd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Daemon is a private containerd.
type Daemon struct {
	Dir    string // holds config.toml, root/, state/, containerd.sock, containerd.log
	Socket string
	cmd    *exec.Cmd // nil when an already-running daemon was reused
	exited chan error
}

// Start starts (or reuses) a private containerd under dir and waits until it
// answers on its socket.
func Start(ctx context.Context, dir string) (*Daemon, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, Socket: filepath.Join(dir, "containerd.sock")}
	if answers(d.Socket) {
		return d, nil
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, errors.New("containerd is not installed: run `apt-get install -y containerd runc` (or pass --containerd_socket to use a running containerd)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, errors.New("runc is not installed: run `apt-get install -y runc`")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a private containerd needs root: run `mesosd dev` as root (or pass --containerd_socket)")
	}
	for _, sub := range []string{"root", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, fmt.Errorf("create containerd dir: %w", err)
		}
	}
	_ = os.Remove(d.Socket) // stale socket of a daemon that is gone
	cfg := strings.Join([]string{
		"version = 2",
		fmt.Sprintf("root = %q", filepath.Join(dir, "root")),
		fmt.Sprintf("state = %q", filepath.Join(dir, "state")),
		"[grpc]",
		fmt.Sprintf("  address = %q", d.Socket),
		"[ttrpc]",
		fmt.Sprintf("  address = %q", d.Socket+".ttrpc"),
		"[debug]",
		fmt.Sprintf("  address = %q", d.Socket+".debug"),
		"[metrics]",
		`  address = ""`,
		// The CRI plugin wants its own network setup and is not needed.
		`disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
		"",
	}, "\n")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open containerd log: %w", err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C aimed at mesosd must not kill it
	// before mesosd has shut down cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	logf.Close()
	d.cmd = cmd
	exited := make(chan error, 1)
	d.exited = exited
	go func() { exited <- cmd.Wait(); close(exited) }()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !answers(d.Socket) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("containerd exited during start-up (%v); see %s", err, filepath.Join(dir, "containerd.log"))
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("containerd did not answer on %s within 30s; see %s", d.Socket, filepath.Join(dir, "containerd.log"))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	return d, nil
}

// Started reports whether this process started the daemon (and so stops it).
func (d *Daemon) Started() bool { return d.cmd != nil }

// Stop stops a daemon this process started. Running tasks survive: their
// shims keep them alive, and the next start reconnects to them.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
