package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// proc is one mesosd process. Its output goes to a log file that survives
// restarts (each start appends a marker line).
type proc struct {
	name    string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// childEnv is the environment of mesosd children: ours without MESOS_*
// variables, which mesosd would read as flags.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MESOS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *proc) start(t testing.TB, bin string, args ...string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exited() {
		t.Fatalf("%s: already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== e2e: %s start %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.name, bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = filepath.Dir(p.logPath)
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	logf.Close()
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
}

func (p *proc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s (pid %d) did not die after SIGKILL", p.name, cmd.Process.Pid)
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILL. It returns the
// exit error (nil for a clean exit 0) and whether SIGTERM was enough.
func (p *proc) stop(grace time.Duration) (error, bool) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || p.exited() {
		return p.exitErr(), true
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return p.exitErr(), true
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return p.exitErr(), false
	}
}

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// tail returns the last n lines of the log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpLogsOnFailure prints the tail of each log if the test failed. Register
// it before the processes' own cleanups so it runs after them (LIFO) and
// includes their shutdown lines.
func dumpLogsOnFailure(t testing.TB, procs ...*proc) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range procs {
			t.Logf("---- tail of %s log (%s) ----\n%s\n---- end of %s log ----", p.name, p.logPath, p.tail(80), p.name)
		}
	})
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port != 5050 && port != 5051 {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// cluster is one `mesosd master` and one `mesosd agent`, separate processes
// so either can be killed and restarted alone.
type cluster struct {
	t          testing.TB
	bin        string
	sock       string // containerd
	masterPort int
	agentPort  int
	masterDir  string
	agentDir   string
	master     *proc
	agent      *proc
	agentID    string
}

const agentResources = "cpus:2;mem:1024;disk:1024;ports:[31000-31100]"

func newCluster(t testing.TB) *cluster {
	t.Helper()
	bin := requireE2E(t)
	sock := sharedContainerd(t)
	root := t.TempDir()
	c := &cluster{
		t: t, bin: bin, sock: sock,
		masterPort: freePort(t), agentPort: freePort(t),
		masterDir: filepath.Join(root, "master"), agentDir: filepath.Join(root, "agent"),
	}
	for _, d := range []string{c.masterDir, c.agentDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.master = &proc{name: "master", logPath: filepath.Join(root, "master.log")}
	c.agent = &proc{name: "agent", logPath: filepath.Join(root, "agent.log")}
	dumpLogsOnFailure(t, c.master, c.agent)
	t.Cleanup(c.shutdown)
	c.startMaster()
	c.startAgent()
	c.agentID = c.waitAgentActive("", 30*time.Second)
	return c
}

func (c *cluster) startMaster() {
	c.t.Helper()
	c.master.start(c.t, c.bin, "master",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(c.masterPort),
		"--work_dir", c.masterDir, "--allocation_interval", "200ms", "--log_level", "debug")
	c.waitHTTP(c.masterURL()+"/master/health", c.master, 30*time.Second)
}

func (c *cluster) startAgent() {
	c.t.Helper()
	c.agent.start(c.t, c.bin, "agent",
		"--master", fmt.Sprintf("127.0.0.1:%d", c.masterPort),
		"--ip", "127.0.0.1", "--port", strconv.Itoa(c.agentPort), "--hostname", "127.0.0.1",
		"--work_dir", c.agentDir, "--containerd_socket", c.sock,
		"--resources", agentResources, "--log_level", "debug")
	c.waitHTTP(c.agentURL()+"/health", c.agent, 30*time.Second)
}

func (c *cluster) masterURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.masterPort) }
func (c *cluster) agentURL() string  { return fmt.Sprintf("http://127.0.0.1:%d", c.agentPort) }

// waitHTTP polls url until it answers 200, failing early if p exits.
func (c *cluster) waitHTTP(u string, p *proc, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			c.t.Fatalf("%s exited during start-up (%v); log tail:\n%s", p.name, p.exitErr(), p.tail(40))
		}
		code, body, err := httpGet(u)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(string(body)), err)
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("GET %s: not 200 within %s (last: %s)", u, timeout, last)
}

// shutdown stops both processes and removes every container the agent
// started (tasks deliberately outlive the agent).
func (c *cluster) shutdown() {
	for _, p := range []*proc{c.agent, c.master} {
		if p.exited() {
			continue
		}
		if err, clean := p.stop(15 * time.Second); !clean {
			c.t.Errorf("%s did not exit within 15s of SIGTERM (killed)", p.name)
		} else if err != nil {
			c.t.Errorf("%s exit after SIGTERM: %v, want status 0", p.name, err)
		}
	}
	removeContainers(c.t, c.sock, c.containerIDs())
}

// containerIDs lists the containers the agent created, from its sandbox
// directories (<work_dir>/slaves/*/frameworks/*/executors/*/runs/<id>).
func (c *cluster) containerIDs() []string {
	dirs, _ := filepath.Glob(filepath.Join(c.agentDir, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "*"))
	var ids []string
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue // the "latest" symlink
		}
		ids = append(ids, filepath.Base(d))
	}
	return ids
}

// removeContainers kills and deletes containers by ID in the mesosd
// namespace; missing ones are fine.
func removeContainers(t testing.TB, sock string, ids []string) {
	for _, id := range ids {
		if !containerExists(sock, id) {
			continue
		}
		_, _ = ctr(sock, "tasks", "kill", "--signal", "SIGKILL", id)
		for i := 0; i < 50; i++ {
			if _, err := ctr(sock, "tasks", "rm", "--force", id); err == nil || !taskExists(sock, id) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, err := ctr(sock, "containers", "rm", id); err != nil {
			t.Logf("cleanup: ctr containers rm %s: %v: %s", id, err, out)
		}
	}
}

func ctr(sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"--address", sock, "--namespace", "mesosd"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	return string(out), err
}

// ctrList returns the first column of `ctr <kind> ls` (containers or tasks).
func ctrList(sock, kind string) map[string]string {
	out, err := ctr(sock, kind, "ls")
	if err != nil {
		return nil
	}
	res := map[string]string{}
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		res[f[0]] = line
	}
	return res
}

func containerExists(sock, id string) bool { _, ok := ctrList(sock, "containers")[id]; return ok }
func taskExists(sock, id string) bool      { _, ok := ctrList(sock, "tasks")[id]; return ok }

// taskPID returns the PID of a container's init as containerd reports it.
func taskPID(sock, id string) int {
	line, ok := ctrList(sock, "tasks")[id]
	if !ok {
		return 0
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	pid, _ := strconv.Atoi(f[1])
	return pid
}

func httpGet(u string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// jsonID decodes an ID written either as a string (legacy state model) or
// as {"value": "..."} (v1 protobuf JSON).
type jsonID string

func (id *jsonID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*id = jsonID(s)
		return nil
	}
	var o struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*id = jsonID(o.Value)
	return nil
}

// masterState is the part of /master/state the tests read.
type masterState struct {
	ID     string `json:"id"`
	Slaves []struct {
		ID     string `json:"id"`
		Active bool   `json:"active"`
	} `json:"slaves"`
	RecoveredSlaves []struct {
		ID jsonID `json:"id"`
	} `json:"recovered_slaves"`
	Frameworks          []stateFramework `json:"frameworks"`
	CompletedFrameworks []stateFramework `json:"completed_frameworks"`
}

func (s *masterState) completedFramework(id string) bool {
	for _, f := range s.CompletedFrameworks {
		if f.ID == id {
			return true
		}
	}
	return false
}

type stateFramework struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Active         bool        `json:"active"`
	Connected      bool        `json:"connected"`
	Recovered      bool        `json:"recovered"`
	Tasks          []stateTask `json:"tasks"`
	CompletedTasks []stateTask `json:"completed_tasks"`
}

type stateTask struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	SlaveID string `json:"slave_id"`
}

func (s *masterState) framework(id string) *stateFramework {
	for i := range s.Frameworks {
		if s.Frameworks[i].ID == id {
			return &s.Frameworks[i]
		}
	}
	return nil
}

func (f *stateFramework) task(id string) *stateTask {
	for i := range f.Tasks {
		if f.Tasks[i].ID == id {
			return &f.Tasks[i]
		}
	}
	return nil
}

func (s *masterState) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func getMasterState(masterURL string) (*masterState, error) {
	code, body, err := httpGet(masterURL + "/master/state")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /master/state: %d %s", code, bytes.TrimSpace(body))
	}
	var s masterState
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("GET /master/state: %v", err)
	}
	return &s, nil
}

func (c *cluster) state() (*masterState, error) { return getMasterState(c.masterURL()) }

// waitState polls /master/state until cond holds.
func (c *cluster) waitState(desc string, timeout time.Duration, cond func(*masterState) bool) *masterState {
	c.t.Helper()
	return waitMasterState(c.t, c.masterURL(), desc, timeout, c.master, cond)
}

func waitMasterState(t testing.TB, masterURL, desc string, timeout time.Duration, p *proc, cond func(*masterState) bool) *masterState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *masterState
	var lastErr error
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			t.Fatalf("waiting for %s: %s exited (%v)", desc, p.name, p.exitErr())
		}
		s, err := getMasterState(masterURL)
		if err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: not true within %s; last /master/state: %v (err %v)", desc, timeout, last, lastErr)
	return nil
}

// waitAgentActive waits until /master/state lists exactly one active agent
// (with ID want, if given) and returns its ID.
func (c *cluster) waitAgentActive(want string, timeout time.Duration) string {
	c.t.Helper()
	s := c.waitState("one active agent "+want, timeout, func(s *masterState) bool {
		return len(s.Slaves) == 1 && s.Slaves[0].Active && (want == "" || s.Slaves[0].ID == want)
	})
	return s.Slaves[0].ID
}

// agentState is the part of the agent's /state the tests read.
type agentState struct {
	ID         string `json:"id"`
	Frameworks []struct {
		ID                 string          `json:"id"`
		Executors          []agentExecutor `json:"executors"`
		CompletedExecutors []agentExecutor `json:"completed_executors"`
	} `json:"frameworks"`
	CompletedFrameworks []struct {
		ID                 string          `json:"id"`
		CompletedExecutors []agentExecutor `json:"completed_executors"`
	} `json:"completed_frameworks"`
	CompletedTasks []struct {
		ID string `json:"id"`
	} `json:"completed_tasks"`
}

func (s *agentState) hasCompletedTask(id string) bool {
	for _, t := range s.CompletedTasks {
		if t.ID == id {
			return true
		}
	}
	return false
}

// completedExecutor finds executor id among fwID's completed executors.
func (s *agentState) completedExecutor(fwID, id string) *agentExecutor {
	for _, f := range s.Frameworks {
		if f.ID != fwID {
			continue
		}
		for i := range f.CompletedExecutors {
			if f.CompletedExecutors[i].ID == id {
				return &f.CompletedExecutors[i]
			}
		}
	}
	for _, f := range s.CompletedFrameworks {
		if f.ID != fwID {
			continue
		}
		for i := range f.CompletedExecutors {
			if f.CompletedExecutors[i].ID == id {
				return &f.CompletedExecutors[i]
			}
		}
	}
	return nil
}

func (s *agentState) executorIDs() string {
	var parts []string
	for _, f := range s.Frameworks {
		var ex, done []string
		for _, e := range f.Executors {
			ex = append(ex, e.ID)
		}
		for _, e := range f.CompletedExecutors {
			done = append(done, e.ID)
		}
		parts = append(parts, fmt.Sprintf("framework %s: executors %v completed_executors %v", f.ID, ex, done))
	}
	return strings.Join(parts, "; ")
}

func (c *cluster) agentState() (*agentState, error) {
	code, body, err := httpGet(c.agentURL() + "/state")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET agent /state: %d %s", code, bytes.TrimSpace(body))
	}
	var s agentState
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("GET agent /state: %v", err)
	}
	return &s, nil
}

type agentExecutor struct {
	ID        string `json:"id"`
	Container string `json:"container"`
	Directory string `json:"directory"`
}

// executor finds the executor (command task) taskID in the agent's /state.
func (c *cluster) executor(taskID string) (*agentExecutor, error) {
	s, err := c.agentState()
	if err != nil {
		return nil, err
	}
	for _, f := range s.Frameworks {
		for _, list := range [][]agentExecutor{f.Executors, f.CompletedExecutors} {
			for i := range list {
				if list[i].ID == taskID {
					return &list[i], nil
				}
			}
		}
	}
	return nil, fmt.Errorf("executor %q not in agent /state: %+v", taskID, s.Frameworks)
}

// sandboxRuns lists the run directories of a task's sandbox in the Mesos
// layout <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<container>.
func sandboxRuns(agentDir, agentID, fwID, taskID string) []string {
	dirs, _ := filepath.Glob(filepath.Join(agentDir, "slaves", agentID, "frameworks", fwID, "executors", taskID, "runs", "*"))
	var out []string
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// readFileEndpoint reads a whole file through the agent's /files/read.
func readFileEndpoint(agentURL, path string) (string, error) {
	q := url.Values{"path": {path}, "offset": {"0"}}
	code, body, err := httpGet(agentURL + "/files/read?" + q.Encode())
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET /files/read?%s: %d %s", q.Encode(), code, bytes.TrimSpace(body))
	}
	var r struct {
		Data   *string `json:"data"`
		Offset *int64  `json:"offset"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("GET /files/read: %v: %s", err, body)
	}
	if r.Data == nil || r.Offset == nil {
		return "", fmt.Errorf("GET /files/read: want {data, offset}, got %s", body)
	}
	return *r.Data, nil
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, desc string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", desc, timeout, err)
}

var errNotYet = errors.New("not yet")
