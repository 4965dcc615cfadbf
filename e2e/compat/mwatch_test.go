package compat

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMwatch runs mesos-go's mwatch, an unmodified third-party operator API
// client: it sends the operator SUBSCRIBE (protobuf) and prints every event.
// While it watches, msh launches and finishes a task; mwatch must show the
// framework being added and the task being added and updated to
// TASK_FINISHED.
func TestMwatch(t *testing.T) {
	master := needCluster(t)
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	mwatch := buildTool(t, "github.com/mesos/mesos-go/api/v1/cmd/mwatch")
	msh := buildTool(t, "github.com/mesos/mesos-go/api/v1/cmd/msh")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, mwatch, "-master", host, "-port", port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	var (
		mu    sync.Mutex
		lines []string
		seen  = make(chan struct{}, 1)
	)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			select {
			case seen <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	has := func(words ...string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return true
			}
		}
		return false
	}
	// mwatch prints nothing for SUBSCRIBED: give it a moment to subscribe.
	time.Sleep(time.Second)
	runMsh(t, msh, []string{"-master", master, "--", "/bin/echo", "watched"})

	deadline := time.After(30 * time.Second)
	for !(has("FRAMEWORK_ADDED") && has("TASK_ADDED") && has("TASK_UPDATED", "TASK_RUNNING") && has("TASK_UPDATED", "TASK_FINISHED")) {
		select {
		case <-seen:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("mwatch did not show FRAMEWORK_ADDED, TASK_ADDED and TASK_UPDATED to RUNNING and FINISHED within 30s; its output:\n%s\nstderr:\n%s",
				strings.Join(lines, "\n"), stderr.String())
		}
	}
	mu.Lock()
	t.Logf("mwatch output:\n%s", strings.Join(lines, "\n"))
	mu.Unlock()
}
