package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cluster is the mesosd under test, shared by every test of this binary:
// starting `mesosd dev` (a private containerd, a master and an agent) costs
// seconds, so it is done once in TestMain.
var cluster struct {
	master     string // host:port of the master
	skipReason string // non-empty: no master available, tests skip
	logPath    string // log of the child mesosd, empty when MESOSD_MASTER is used
}

// TestMain starts (or finds) the master, runs the tests and stops the child.
func TestMain(m *testing.M) {
	stop, err := setUpCluster()
	if err != nil {
		fmt.Fprintf(os.Stderr, "compat: cannot start mesosd: %v\n%s", err, logTail(60))
		if stop != nil {
			stop()
		}
		os.Exit(1)
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// setUpCluster decides where the master comes from. It returns a stop
// function when it started a child process.
func setUpCluster() (stop func(), err error) {
	if addr := os.Getenv("MESOSD_MASTER"); addr != "" {
		cluster.master = addr
		return nil, waitForCluster(addr, 30*time.Second, nil)
	}
	bin := os.Getenv("MESOSD_BIN")
	switch {
	case bin == "":
		cluster.skipReason = "neither MESOSD_BIN (path to a built mesosd, started here as `mesosd dev`) nor MESOSD_MASTER (host:port of a running master) is set"
		return nil, nil
	case os.Geteuid() != 0:
		cluster.skipReason = "MESOSD_BIN is set but `mesosd dev` needs root (it runs a private containerd and runc containers)"
		return nil, nil
	}
	bin, err = filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("MESOSD_BIN: %w", err)
	}
	// TestMain has no t.TempDir: make and remove the work dir ourselves.
	dir, err := os.MkdirTemp("", "mesosd-compat-")
	if err != nil {
		return nil, err
	}
	masterPort, agentPort := freePort(), freePort()
	cluster.master = net.JoinHostPort("127.0.0.1", strconv.Itoa(masterPort))
	cluster.logPath = filepath.Join(dir, "mesosd.log")
	logFile, err := os.Create(cluster.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "dev",
		"--work_dir", filepath.Join(dir, "work"),
		"--port", strconv.Itoa(masterPort),
		"--agent_port", strconv.Itoa(agentPort))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a test binary killed by `go test -timeout` must not
	// leave a mesosd (and its containerd) behind holding the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop = func() {
		// SIGTERM lets mesosd stop its containerd and tasks; SIGKILL if it hangs.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			fmt.Fprintf(os.Stderr, "compat: mesosd did not exit 20s after SIGTERM; killing it\n%s", logTail(30))
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
		killLeftovers(dir)
		if os.Getenv("MESOSD_KEEP_WORKDIR") == "" {
			// Sandboxes may hold read-only or still-mounted files; best effort.
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintf(os.Stderr, "compat: kept %s\n", dir)
		}
	}
	if err := waitForCluster(cluster.master, 60*time.Second, exited); err != nil {
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w: %v", err, waitErr)
		}
		return stop, err
	}
	return stop, nil
}

// killLeftovers kills, one by one by pid, processes whose command line names
// our private work dir: containerd shims of the private containerd that
// outlived mesosd. `mesosd dev` deliberately leaves running tasks behind on
// exit (they survive a restart), and a shim can linger after a container
// that was being cleaned up at shutdown; the work dir is about to be
// deleted, so nothing could ever reattach to them. They are reported, as
// they may point at a cleanup race in mesosd.
func killLeftovers(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir+"/")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		fmt.Fprintf(os.Stderr, "compat: killing leftover process %d after mesosd exited: %s\n", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

var errExited = errors.New("mesosd exited during start-up")

// waitForCluster polls until the master answers /master/health and
// /master/state shows exactly one active agent: tasks cannot be launched
// before the agent has registered.
func waitForCluster(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errExited
		default:
		}
		resp, err := http.Get("http://" + addr + "/master/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var st struct {
					ActivatedSlaves float64 `json:"activated_slaves"`
				}
				err = getJSON(addr, "/master/state", &st)
				if err == nil && st.ActivatedSlaves == 1 {
					return nil
				}
				last = fmt.Sprintf("activated_slaves=%v err=%v", st.ActivatedSlaves, err)
			} else {
				last = "/master/health: " + resp.Status
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("master %s not ready with one active agent after %v (last: %s)", addr, timeout, last)
}

// needCluster skips the test when no master is available.
func needCluster(t *testing.T) string {
	t.Helper()
	if cluster.skipReason != "" {
		t.Skip(cluster.skipReason)
	}
	return cluster.master
}

// freePort asks the kernel for an unused TCP port. There is a small race
// between closing the listener and mesosd binding it; acceptable for tests.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logTail returns the last n lines of the child mesosd's log, for failure
// messages: most hangs are explained there.
func logTail(n int) string {
	if cluster.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(cluster.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- mesosd log tail ---\n" + strings.Join(lines, "\n") + "\n--- end of log ---\n"
}

// failOnce makes sure the log tail is printed at most once per test, even
// when several helpers fail.
var failOnce sync.Map

// fatalf fails the test with the master's log tail attached.
func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if _, seen := failOnce.LoadOrStore(t.Name(), true); !seen {
		msg += "\n" + logTail(25)
	}
	t.Fatal(msg)
}

// getJSON GETs a master endpoint and decodes its JSON body into v.
func getJSON(addr, path string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// masterState is the part of /master/state these tests look at.
type masterState struct {
	ActivatedSlaves     float64          `json:"activated_slaves"`
	Frameworks          []stateFramework `json:"frameworks"`
	CompletedFrameworks []stateFramework `json:"completed_frameworks"`
	Slaves              []struct {
		ID        string `json:"id"`
		Resources struct {
			CPUs float64 `json:"cpus"`
		} `json:"resources"`
	} `json:"slaves"`
}

type stateFramework struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

func getState(t *testing.T) masterState {
	t.Helper()
	var st masterState
	if err := getJSON(cluster.master, "/master/state", &st); err != nil {
		fatalf(t, "GET /master/state: %v", err)
	}
	return st
}
