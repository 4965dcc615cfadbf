package compat

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMsh runs mesos-go's msh, an unmodified third-party scheduler: it
// subscribes (MULTI_ROLE, roles ["*"]), launches one command task with
// shell=false and exits 0 once the task is TASK_FINISHED. msh has no codec
// flag: it always speaks protobuf (mesos-go's default codec).
func TestMsh(t *testing.T) {
	master := needCluster(t)
	msh := buildTool(t, "github.com/mesos/mesos-go/api/v1/cmd/msh")
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		// A command task: CommandInfo{value argv[0], shell=false, arguments argv}.
		{"command", nil},
		// LAUNCH_GROUP with a DEFAULT executor (cpus 0.01, mem 32, disk 5);
		// needs disk in offers (client-quirks.md #3).
		{"pod", []string{"-pod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"-master", master}, tc.flags...), "--", "/bin/echo", "hi")
			runMsh(t, msh, args)
		})
	}
}

// runMsh runs msh and expects exit 0 (task TASK_FINISHED) within a minute.
func runMsh(t *testing.T, msh string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, msh, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		fatalf(t, "msh %v did not finish within 60s; its output:\n%s", args, out.String())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && strings.Contains(out.String(), "is not supported by this mesosd version") {
		// A limitation mesosd declares (TASK_ERROR with that message), not a
		// misbehaviour: report it as a skip so it stays visible.
		t.Skipf("mesosd declares this unsupported; msh output:\n%s", out.String())
	}
	if errors.As(err, &exitErr) {
		fatalf(t, "msh %v exited with %v, want 0; its output:\n%s", args, err, out.String())
	}
	if err != nil {
		t.Fatalf("running msh: %v", err)
	}
	t.Logf("msh output:\n%s", out.String())
}

// buildTool builds a main package of this module's dependencies (see the
// tool directives in go.mod) into the test's temp dir.
func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
