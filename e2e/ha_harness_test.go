package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mesosd/mesosd/proto/codec"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
)

// haCluster is a replicated mesosd: three `mesosd master` processes in one
// Raft group and N agents given every master address. Any process can be
// killed and restarted alone; an agent can run inside a network namespace.
type haCluster struct {
	t    testing.TB
	bin  string
	sock string // containerd
	root string
	ip   string // the masters listen (and peer) on this address

	mPorts     []int
	mDirs      []string
	masters    []*proc
	peers      string
	masterArgs []string

	agents []*haAgent
}

type haAgent struct {
	p     *proc
	dir   string
	port  int
	ip    string
	netns string // run inside this network namespace, if set
}

// haConfig shapes a haCluster. Zero values: masters on 127.0.0.1, two
// agents on loopback, agentResources.
type haConfig struct {
	masterIP   string
	masterArgs []string // extra master flags (ping timeouts)
	agents     []haAgentConfig
	resources  string
}

type haAgentConfig struct {
	ip    string // listen address; 127.0.0.1 if empty
	netns string
}

const haMasters = 3

func newHACluster(t testing.TB, cfg haConfig) *haCluster {
	t.Helper()
	bin := requireE2E(t)
	sock := sharedContainerd(t)
	root := t.TempDir()
	if cfg.masterIP == "" {
		cfg.masterIP = "127.0.0.1"
	}
	if cfg.agents == nil {
		cfg.agents = []haAgentConfig{{}, {}}
	}
	if cfg.resources == "" {
		cfg.resources = agentResources
	}
	c := &haCluster{t: t, bin: bin, sock: sock, root: root, ip: cfg.masterIP, masterArgs: cfg.masterArgs}
	var peers []string
	for i := 0; i < haMasters; i++ {
		port := freePort(t)
		dir := filepath.Join(root, fmt.Sprintf("master%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.mPorts = append(c.mPorts, port)
		c.mDirs = append(c.mDirs, dir)
		c.masters = append(c.masters, &proc{name: fmt.Sprintf("master%d", i+1), logPath: filepath.Join(root, fmt.Sprintf("master%d.log", i+1))})
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, net.JoinHostPort(c.ip, strconv.Itoa(port))))
	}
	c.peers = strings.Join(peers, ",")
	for i, ac := range cfg.agents {
		if ac.ip == "" {
			ac.ip = "127.0.0.1"
		}
		dir := filepath.Join(root, fmt.Sprintf("agent%d", i+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.agents = append(c.agents, &haAgent{
			p:   &proc{name: fmt.Sprintf("agent%d", i+1), logPath: filepath.Join(root, fmt.Sprintf("agent%d.log", i+1))},
			dir: dir, port: freePort(t), ip: ac.ip, netns: ac.netns,
		})
	}
	var all []*proc
	all = append(all, c.masters...)
	for _, a := range c.agents {
		all = append(all, a.p)
	}
	dumpLogsOnFailure(t, all...)
	t.Cleanup(c.shutdown)

	for i := range c.masters {
		c.startMaster(i)
	}
	if _, took := c.waitLeader(-1, 30*time.Second); took > 0 {
		t.Logf("initial leader elected after %s", took.Round(time.Millisecond))
	}
	for i := range c.agents {
		c.startAgent(i, cfg.resources)
	}
	c.waitState(fmt.Sprintf("%d active agents", len(c.agents)), 60*time.Second, func(s *masterState) bool {
		return countActive(s) == len(c.agents)
	})
	return c
}

func countActive(s *masterState) int {
	n := 0
	for _, a := range s.Slaves {
		if a.Active {
			n++
		}
	}
	return n
}

func (c *haCluster) masterAddr(i int) string {
	return net.JoinHostPort(c.ip, strconv.Itoa(c.mPorts[i]))
}
func (c *haCluster) masterURL(i int) string { return "http://" + c.masterAddr(i) }

func (c *haCluster) masterList() string {
	var l []string
	for i := range c.masters {
		l = append(l, c.masterAddr(i))
	}
	return strings.Join(l, ",")
}

func (c *haCluster) agentURL(i int) string {
	return "http://" + net.JoinHostPort(c.agents[i].ip, strconv.Itoa(c.agents[i].port))
}

func (c *haCluster) startMaster(i int) {
	c.t.Helper()
	args := []string{"master",
		"--id", strconv.Itoa(i + 1), "--master_peers", c.peers,
		"--ip", c.ip, "--port", strconv.Itoa(c.mPorts[i]),
		"--work_dir", c.mDirs[i], "--allocation_interval", "200ms", "--log_level", "debug",
		"--agent_reregister_timeout", "10secs"}
	if c.ip != "127.0.0.1" {
		args = append(args, "--insecure")
	}
	args = append(args, c.masterArgs...)
	c.masters[i].start(c.t, c.bin, args...)
	c.waitHTTP(c.masterURL(i)+"/master/health", c.masters[i], 30*time.Second)
}

func (c *haCluster) startAgent(i int, resources string) {
	c.t.Helper()
	a := c.agents[i]
	args := []string{"agent",
		"--master", c.masterList(),
		"--ip", a.ip, "--port", strconv.Itoa(a.port), "--hostname", a.ip,
		"--work_dir", a.dir, "--containerd_socket", c.sock,
		"--resources", resources, "--log_level", "debug"}
	if a.ip != "127.0.0.1" {
		args = append(args, "--insecure")
	}
	bin := c.bin
	if a.netns != "" {
		ipBin, err := exec.LookPath("ip")
		if err != nil {
			c.t.Fatal(err)
		}
		// `ip netns exec` execs the command: the pid is the agent's.
		args = append([]string{"netns", "exec", a.netns, c.bin}, args...)
		bin = ipBin
	}
	a.p.start(c.t, bin, args...)
	c.waitHTTP(c.agentURL(i)+"/health", a.p, 30*time.Second)
}

func (c *haCluster) waitHTTP(u string, p *proc, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			c.t.Fatalf("%s exited during start-up (%v); log tail:\n%s", p.name, p.exitErr(), p.tail(40))
		}
		code, body, err := httpGetNoRedirect(u)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(string(body)), err)
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("GET %s: not 200 within %s (last: %s)", u, timeout, last)
}

var noRedirect = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func httpGetNoRedirect(u string) (int, []byte, error) {
	resp, err := noRedirect.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// elected reports whether master i says it leads (metric master/elected)
// and serves /master/state itself (no redirect).
func (c *haCluster) elected(i int) bool {
	if c.masters[i].exited() {
		return false
	}
	code, body, err := httpGetNoRedirect(c.masterURL(i) + "/metrics/snapshot")
	if err != nil || code != http.StatusOK {
		return false
	}
	var m map[string]float64
	if json.Unmarshal(body, &m) != nil || m["master/elected"] != 1 {
		return false
	}
	code, _, err = httpGetNoRedirect(c.masterURL(i) + "/master/state")
	return err == nil && code == http.StatusOK
}

// waitLeader waits until exactly one live master other than not (-1: any)
// leads and serves, and returns it with the time it took.
func (c *haCluster) waitLeader(not int, timeout time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		var leaders []int
		for i := range c.masters {
			if c.elected(i) {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 && leaders[0] != not {
			return leaders[0], time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no single serving leader (other than master%d) within %s", not+1, timeout)
	return -1, 0
}

// leader returns the current leader, waiting up to 30s for one.
func (c *haCluster) leader() int {
	c.t.Helper()
	i, _ := c.waitLeader(-1, 30*time.Second)
	return i
}

// liveMasterURL returns the URL of a running master (any: followers
// redirect SUBSCRIBE and forward the other calls).
func (c *haCluster) liveMasterURL() string {
	for i, m := range c.masters {
		if !m.exited() {
			return c.masterURL(i)
		}
	}
	c.t.Fatal("no master running")
	return ""
}

// state reads /master/state from whichever master answers (following the
// followers' 307 to the leader).
func (c *haCluster) state() (*masterState, error) {
	var lastErr error
	for i, m := range c.masters {
		if m.exited() {
			continue
		}
		s, err := getMasterState(c.masterURL(i))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no master running")
	}
	return nil, lastErr
}

func (c *haCluster) waitState(desc string, timeout time.Duration, cond func(*masterState) bool) *masterState {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *masterState
	var lastErr error
	for time.Now().Before(deadline) {
		s, err := c.state()
		if err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("waiting for %s: not true within %s; last /master/state: %v (err %v)", desc, timeout, last, lastErr)
	return nil
}

// operator sends one operator API call (JSON) to master i, following a 307
// to the leader, and decodes the answer.
func (c *haCluster) operator(i int, typ masterpb.Call_Type) (*masterpb.Response, error) {
	body, err := codec.JSON.Marshal(&masterpb.Call{Type: typ.Enum()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.masterURL(i)+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.ContentTypeJSON)
	req.Header.Set("Accept", codec.ContentTypeJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", typ, resp.StatusCode, bytes.TrimSpace(b))
	}
	var r masterpb.Response
	if err := codec.JSON.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", typ, err, b)
	}
	return &r, nil
}

// agentStateOf reads agent i's /state.
func (c *haCluster) agentStateOf(i int) (*agentState, error) {
	code, body, err := httpGet(c.agentURL(i) + "/state")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET agent%d /state: %d %s", i+1, code, bytes.TrimSpace(body))
	}
	var s agentState
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// liveExecutor finds the running executor (command task) taskID on any
// agent and returns the agent index and its container.
func (c *haCluster) liveExecutor(taskID string) (int, string, error) {
	for i := range c.agents {
		s, err := c.agentStateOf(i)
		if err != nil {
			return -1, "", err
		}
		for _, f := range s.Frameworks {
			for _, e := range f.Executors {
				if e.ID == taskID {
					return i, e.Container, nil
				}
			}
		}
	}
	return -1, "", fmt.Errorf("task %s has no live executor on any agent", taskID)
}

// allContainerIDs lists every container the agents created (sandbox runs).
func (c *haCluster) allContainerIDs() []string {
	var ids []string
	for _, a := range c.agents {
		dirs, _ := filepath.Glob(filepath.Join(a.dir, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "*"))
		for _, d := range dirs {
			if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
				ids = append(ids, filepath.Base(d))
			}
		}
	}
	return ids
}

func (c *haCluster) shutdown() {
	var ps []*proc
	for _, a := range c.agents {
		ps = append(ps, a.p)
	}
	ps = append(ps, c.masters...)
	for _, p := range ps {
		if p.exited() {
			continue
		}
		if err, clean := p.stop(15 * time.Second); !clean {
			c.t.Logf("%s did not exit within 15s of SIGTERM (killed)", p.name)
		} else if err != nil {
			c.t.Logf("%s exit after SIGTERM: %v", p.name, err)
		}
	}
	removeContainers(c.t, c.sock, c.allContainerIDs())
}

// idSet is a sorted, comparable view of a set of IDs.
func idSet(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return strings.Join(s, ",")
}
