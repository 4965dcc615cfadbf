// Package e2e runs end-to-end tests against real mesosd processes, a real
// containerd + runc, and real cgroups.
//
// They run only when asked to, because they need root, containerd and runc
// and take minutes:
//
//	make e2e
//	# or, by hand:
//	go build -o /tmp/mesosd ./cmd/mesosd
//	MESOSD_E2E=1 MESOSD_BIN=/tmp/mesosd go test -count=1 -v -timeout 20m ./e2e/...
//
// One private containerd serves the whole test binary: the one named by
// MESOSD_CONTAINERD_SOCKET if it answers, otherwise one started with
// scripts/containerd-dev.sh under a temporary directory and stopped at the
// end. Every test starts its own mesosd processes on free loopback ports
// with t.TempDir() work dirs and removes every process and container it
// started in t.Cleanup; on failure the tail of each mesosd log is printed.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	ctrdOnce sync.Once
	ctrdSock string
	ctrdErr  error
	ctrdDir  string // set when this binary started the containerd (and so stops it)
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if ctrdDir != "" {
		out, err := exec.Command(scriptPath(), "stop", ctrdDir).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping private containerd: %v: %s\n", err, out)
		}
		_ = os.RemoveAll(ctrdDir)
	}
	os.Exit(code)
}

func scriptPath() string {
	p, err := filepath.Abs(filepath.Join("..", "scripts", "containerd-dev.sh"))
	if err != nil {
		return "../scripts/containerd-dev.sh"
	}
	return p
}

// requireE2E skips unless the e2e environment is there, and returns the
// absolute path of the mesosd binary under test.
func requireE2E(t testing.TB) string {
	t.Helper()
	if os.Getenv("MESOSD_E2E") != "1" {
		t.Skip("end-to-end test: set MESOSD_E2E=1 and MESOSD_BIN=/abs/path/to/mesosd (make e2e)")
	}
	bin := os.Getenv("MESOSD_BIN")
	if bin == "" || !filepath.IsAbs(bin) {
		t.Fatalf("MESOSD_E2E=1 needs MESOSD_BIN=/absolute/path/to/mesosd (got %q)", bin)
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		t.Fatalf("MESOSD_BIN=%q: not a file (%v); build it with `go build -o %s ./cmd/mesosd`", bin, err, bin)
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test needs root (containerd, runc and cgroups)")
	}
	for _, tool := range []string{"containerd", "runc", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("end-to-end test needs %s in PATH (apt-get install -y containerd runc)", tool)
		}
	}
	return bin
}

// ctrAnswers reports whether a containerd answers on sock.
func ctrAnswers(sock string) bool {
	if _, err := os.Stat(sock); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ctr", "--address", sock, "--timeout", "3s", "version").Run() == nil
}

// sharedContainerd returns the socket of the containerd shared by every test
// of this binary, starting it on first use.
func sharedContainerd(t testing.TB) string {
	t.Helper()
	ctrdOnce.Do(func() {
		if s := os.Getenv("MESOSD_CONTAINERD_SOCKET"); s != "" && ctrAnswers(s) {
			ctrdSock = s
			return
		}
		// A short path: unix socket paths are limited to 108 bytes.
		dir, err := os.MkdirTemp("", "mesosd-e2e-ctrd-")
		if err != nil {
			ctrdErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, scriptPath(), "start", dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		ctrdDir = dir // stop it even if start half-failed
		if err != nil {
			ctrdErr = fmt.Errorf("%s start %s: %v: %s", scriptPath(), dir, err, stderr.String())
			return
		}
		ctrdSock = strings.TrimSpace(string(out))
	})
	if ctrdErr != nil {
		t.Fatalf("private containerd: %v", ctrdErr)
	}
	return ctrdSock
}
