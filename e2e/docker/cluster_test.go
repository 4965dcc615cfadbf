// Package docker runs partition tests of a replicated mesosd master cluster in
// Docker containers (issue 3: "minority leader cannot commit and steps down;
// healed node catches up").
//
// They run only when asked to, as root, with a working Docker engine:
//
//	MESOSD_E2E=1 MESOSD_DOCKER=1 go test -count=1 -v -timeout 10m ./e2e/docker/
//
// No image is pulled. The test builds a static mesosd (CGO_ENABLED=0 go build,
// or takes MESOSD_STATIC_BIN), builds an image FROM scratch holding only that
// binary, and starts three masters in containers. Everything it creates
// (containers, networks, image) carries the name prefix mesosd-e2e-<random>
// and the label mesosd-e2e=<that prefix>, and is removed in t.Cleanup, also on
// failure. On failure the tail of every container's log is printed.
//
// # Networks
//
// Each master container is attached to two user-defined bridge networks with
// private /24 subnets picked at random from 10.0.0.0/8 (retried if Docker
// reports an overlap):
//
//   - the raft network, with fixed IPs: every --master_peers address is on it,
//     so all Raft traffic and the leader address in 307 redirects use it. A
//     partition is `docker network disconnect` from this network, a heal is
//     `docker network connect --ip <same IP>`.
//   - the control network, created with --internal, also with fixed IPs: the
//     test's side channel. The host reaches container IPs on a bridge network
//     directly on Linux (the bridge has the gateway address), so the test
//     talks HTTP to each master through its control IP and can still query a
//     master that is cut off from the raft network. --internal makes Docker
//     drop anything forwarded between the control network and other networks
//     (DOCKER-ISOLATION iptables rules), so a partitioned master cannot reach
//     its peers through its remaining interface (whose default route points
//     at the host).
//
// To be reachable on both, each master listens on 0.0.0.0 (--ip 0.0.0.0
// --insecure) and advertises its raft address (--hostname). Publishing ports
// on 127.0.0.1 would also give a side channel, but it adds docker-proxy/NAT
// in the path and is not needed: the bridge IPs are reachable from the host.
package docker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const masterPort = 5050

// requireDocker skips unless the Docker partition tests were asked for and
// can run here.
func requireDocker(t *testing.T) {
	t.Helper()
	if os.Getenv("MESOSD_E2E") != "1" || os.Getenv("MESOSD_DOCKER") != "1" {
		t.Skip("Docker partition test: set MESOSD_E2E=1 and MESOSD_DOCKER=1 (needs root and a running Docker engine)")
	}
	if os.Geteuid() != 0 {
		t.Skip("Docker partition test needs root (docker network connect/disconnect, reaching bridge IPs)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("Docker partition test needs the docker CLI in PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("Docker partition test: `docker info` failed (is the engine running?): %v: %s", err, strings.TrimSpace(string(out)))
	}
}

// dockerCmd runs the docker CLI with a bounded time and returns its combined
// output.
func dockerCmd(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerCmd(2*time.Minute, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// staticBinary returns a statically linked mesosd: MESOSD_STATIC_BIN, or one
// built once per test binary with CGO_ENABLED=0 into a temporary directory.
func staticBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MESOSD_STATIC_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkStatic(abs); err != nil {
			t.Fatalf("MESOSD_STATIC_BIN=%s: %v (build it with `make static` or `CGO_ENABLED=0 go build -o %s ./cmd/mesosd`)", p, err, p)
		}
		return abs
	}
	binOnce.Do(func() { binPath, binErr = buildStatic(t) })
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func buildStatic(t *testing.T) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if mod := strings.TrimSpace(string(gomod)); err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root with `go env GOMOD` (%v); set MESOSD_STATIC_BIN", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	binDir, err = os.MkdirTemp("", "mesosd-e2e-docker-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "mesosd")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mesosd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go build ./cmd/mesosd: %v\n%s", err, out)
	}
	if err := checkStatic(bin); err != nil {
		return "", fmt.Errorf("built %s: %v", bin, err)
	}
	t.Logf("built static mesosd in %v", time.Since(start).Round(time.Millisecond))
	return bin, nil
}

// checkStatic refuses a dynamically linked binary: a FROM scratch image has
// no loader and no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (has an ELF interpreter); a FROM scratch image needs CGO_ENABLED=0")
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func randInt(n int64) int {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

// hostOverlaps reports whether any address of this host lies in 10.a.b.0/24
// or 10.a.(b+1).0/24.
func hostOverlaps(a, b int) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		ipn, ok := ad.(*net.IPNet)
		if !ok {
			continue
		}
		for _, third := range []int{b, b + 1} {
			_, sub, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", a, third))
			if sub.Contains(ipn.IP) || ipn.Contains(sub.IP) {
				return true
			}
		}
	}
	return false
}

type master struct {
	id     int
	name   string // container name
	raftIP string // on the raft network: Raft traffic, --master_peers, redirects
	ctlIP  string // on the internal control network: the test's side channel
}

func (m *master) String() string   { return fmt.Sprintf("m%d(%s)", m.id, m.raftIP) }
func (m *master) url() string      { return "http://" + net.JoinHostPort(m.ctlIP, strconv.Itoa(masterPort)) }
func (m *master) raftAddr() string { return net.JoinHostPort(m.raftIP, strconv.Itoa(masterPort)) }

type cluster struct {
	t       *testing.T
	prefix  string
	image   string
	raftNet string
	ctlNet  string
	masters []*master
}

// newCluster builds the image, creates both networks and three master
// containers (started), all removed at cleanup.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	requireDocker(t)
	bin := staticBinary(t)
	c := &cluster{t: t, prefix: "mesosd-e2e-" + randomHex(4)}
	label := "mesosd-e2e=" + c.prefix
	t.Logf("docker objects use the prefix %s", c.prefix)

	// Image FROM scratch: only the binary, and /data as the work dir.
	ctxDir := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "mesosd"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY mesosd /mesosd\nWORKDIR /data\nENTRYPOINT [\"/mesosd\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	c.image = c.prefix + ":latest"
	t.Cleanup(func() {
		if out, err := dockerCmd(time.Minute, "rmi", "-f", c.image); err != nil && !strings.Contains(out, "No such image") {
			t.Logf("cleanup: %v", err)
		}
	})
	start := time.Now()
	mustDocker(t, "build", "-q", "--label", label, "-t", c.image, ctxDir)
	t.Logf("built image %s in %v", c.image, time.Since(start).Round(time.Millisecond))

	// Two /24 networks: 10.a.b.0/24 (raft) and 10.a.(b+1).0/24 (control).
	var a, b int
	for attempt := 0; ; attempt++ {
		a, b = 100+randInt(150), 2*randInt(120)
		if hostOverlaps(a, b) {
			continue
		}
		raft, ctl := c.prefix+"-raft", c.prefix+"-ctl"
		_, err := dockerCmd(time.Minute, "network", "create", "--driver", "bridge", "--label", label,
			"--subnet", fmt.Sprintf("10.%d.%d.0/24", a, b), raft)
		if err == nil {
			c.raftNet = raft
			t.Cleanup(func() { c.rmNetwork(raft) })
			_, err = dockerCmd(time.Minute, "network", "create", "--driver", "bridge", "--internal", "--label", label,
				"--subnet", fmt.Sprintf("10.%d.%d.0/24", a, b+1), ctl)
			if err == nil {
				c.ctlNet = ctl
				t.Cleanup(func() { c.rmNetwork(ctl) })
				break
			}
			c.rmNetwork(raft)
			c.raftNet = ""
		}
		if attempt >= 8 || !strings.Contains(err.Error(), "overlap") {
			t.Fatalf("creating the test networks: %v", err)
		}
	}
	t.Logf("networks: %s 10.%d.%d.0/24 (raft), %s 10.%d.%d.0/24 (control, --internal)", c.raftNet, a, b, c.ctlNet, a, b+1)

	var peers []string
	for i := 1; i <= n; i++ {
		m := &master{
			id:     i,
			name:   fmt.Sprintf("%s-m%d", c.prefix, i),
			raftIP: fmt.Sprintf("10.%d.%d.%d", a, b, 10+i),
			ctlIP:  fmt.Sprintf("10.%d.%d.%d", a, b+1, 10+i),
		}
		c.masters = append(c.masters, m)
		peers = append(peers, fmt.Sprintf("%d=%s", i, m.raftAddr()))
	}
	// Removal of the containers runs before the networks' and the image's
	// (cleanups run last-in first-out); the log dump runs before removal.
	t.Cleanup(func() {
		for _, m := range c.masters {
			if out, err := dockerCmd(time.Minute, "rm", "-f", "-v", m.name); err != nil && !strings.Contains(out, "No such container") {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs(80)
		}
	})
	for _, m := range c.masters {
		mustDocker(t, "create", "--name", m.name, "--label", label,
			"--network", c.raftNet, "--ip", m.raftIP,
			c.image, "master",
			"--id", strconv.Itoa(m.id),
			"--master_peers", strings.Join(peers, ","),
			"--ip", "0.0.0.0", "--hostname", m.raftIP, "--port", strconv.Itoa(masterPort),
			"--work_dir", "/data", "--insecure")
		mustDocker(t, "network", "connect", "--ip", m.ctlIP, c.ctlNet, m.name)
	}
	return c
}

func (c *cluster) rmNetwork(name string) {
	if out, err := dockerCmd(time.Minute, "network", "rm", name); err != nil && !strings.Contains(out, "No such network") && !strings.Contains(out, "not found") {
		c.t.Logf("cleanup: %v", err)
	}
}

func (c *cluster) dumpLogs(lines int) {
	for _, m := range c.masters {
		out, err := dockerCmd(time.Minute, "logs", "--tail", strconv.Itoa(lines), m.name)
		if err != nil {
			c.t.Logf("---- docker logs %s: %v", m.name, err)
			continue
		}
		state, _ := dockerCmd(30*time.Second, "inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}}", m.name)
		c.t.Logf("---- docker logs --tail %d %s (%s, %s):\n%s", lines, m.name, m, state, out)
	}
}

func (c *cluster) start(ms ...*master) {
	c.t.Helper()
	for _, m := range ms {
		mustDocker(c.t, "start", m.name)
	}
}

// pause freezes every process of the container (cgroup freezer): a stall
// like a long GC pause or a stopped VM; resume thaws it.
func (c *cluster) pause(m *master) {
	c.t.Helper()
	mustDocker(c.t, "pause", m.name)
}

func (c *cluster) resume(m *master) {
	c.t.Helper()
	mustDocker(c.t, "unpause", m.name)
}

// kill sends SIGKILL (kill -9 of the process in the container).
func (c *cluster) kill(m *master) {
	c.t.Helper()
	mustDocker(c.t, "kill", m.name)
	mustDocker(c.t, "wait", m.name)
}

// partition cuts m off the raft network; heal puts it back with its IP.
func (c *cluster) partition(m *master) {
	c.t.Helper()
	mustDocker(c.t, "network", "disconnect", c.raftNet, m.name)
}

func (c *cluster) heal(m *master) {
	c.t.Helper()
	mustDocker(c.t, "network", "connect", "--ip", m.raftIP, c.raftNet, m.name)
}

func except(all []*master, drop ...*master) []*master {
	var out []*master
next:
	for _, m := range all {
		for _, d := range drop {
			if m == d {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// ---- HTTP against the masters' control IPs ----

// noRedirect does not follow redirects: the tests look at them.
var noRedirect = &http.Client{
	Timeout:       3 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func metrics(m *master) (map[string]float64, error) {
	resp, err := noRedirect.Get(m.url() + "/metrics/snapshot")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics/snapshot: %s", m, resp.Status)
	}
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s /metrics/snapshot: %v", m, err)
	}
	out := make(map[string]float64, len(raw))
	for k, v := range raw {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out, nil
}

// redirect answers /master/redirect: status and Location.
func redirect(m *master) (int, string, error) {
	resp, err := noRedirect.Get(m.url() + "/master/redirect")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// view is what one master says about leadership.
type view struct {
	elected  float64 // master/elected; -1 when unknown
	code     int     // /master/redirect status; 0 when unreachable
	location string
	err      error
}

func (v view) String() string {
	if v.err != nil {
		return "unreachable: " + v.err.Error()
	}
	return fmt.Sprintf("elected=%v redirect=%d %s", v.elected, v.code, v.location)
}

func look(m *master) view {
	v := view{elected: -1}
	met, err := metrics(m)
	if err != nil {
		v.err = err
		return v
	}
	if e, ok := met["master/elected"]; ok {
		v.elected = e
	}
	v.code, v.location, v.err = redirect(m)
	return v
}

func describe(ms []*master) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\n  %s: %s", m, look(m))
	}
	return b.String()
}

// waitLeader waits until exactly one of ms reports master/elected=1 and every
// one of ms (the leader included) redirects to it, and returns it.
func waitLeader(ms []*master, timeout time.Duration) (*master, error) {
	deadline := time.Now().Add(timeout)
	for {
		var leaders []*master
		views := make(map[*master]view, len(ms))
		for _, m := range ms {
			v := look(m)
			views[m] = v
			if v.err == nil && v.elected == 1 {
				leaders = append(leaders, m)
			}
		}
		if len(leaders) == 1 {
			l, ok := leaders[0], true
			for _, m := range ms {
				v := views[m]
				if v.err != nil || v.code != http.StatusTemporaryRedirect || v.location != "//"+l.raftAddr() {
					ok = false
				}
				if m != l && v.elected != 0 {
					ok = false
				}
			}
			if ok {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no single agreed leader among %v after %v:%s", ms, timeout, describe(ms))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subResult is the outcome of one SUBSCRIBE.
type subResult struct {
	code        int    // HTTP status of the last response (0: no response)
	location    string // Location of a 307
	frameworkID string // set only when a SUBSCRIBED event arrived
	err         error
	elapsed     time.Duration // set by callers that time it
}

func (r subResult) String() string {
	switch {
	case r.frameworkID != "":
		return "SUBSCRIBED " + r.frameworkID
	case r.err != nil:
		return fmt.Sprintf("status %d, %v", r.code, r.err)
	default:
		return fmt.Sprintf("status %d %s", r.code, r.location)
	}
}

// subscribe sends a v1 JSON SUBSCRIBE for a new framework (failover_timeout
// one hour, so it stays registered after the stream closes) and waits up to
// timeout for the first event, which must be SUBSCRIBED. With follow it
// follows the Mesos 307 (protocol-relative Location) like a scheduler does.
func subscribe(base, name string, timeout time.Duration, follow bool) subResult {
	body := fmt.Sprintf(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":%q,"hostname":"e2e-docker","failover_timeout":3600,"checkpoint":true}}}`, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{}
	if !follow {
		client.CheckRedirect = noRedirect.CheckRedirect
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/scheduler", bytes.NewReader([]byte(body)))
	if err != nil {
		return subResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return subResult{err: err}
	}
	defer resp.Body.Close()
	r := subResult{code: resp.StatusCode, location: resp.Header.Get("Location")}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusServiceUnavailable {
			r.err = fmt.Errorf("unexpected status %s: %s", resp.Status, strings.TrimSpace(string(msg)))
		}
		return r
	}
	// RecordIO: "<length>\n<JSON event>".
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil {
		r.err = fmt.Errorf("reading the first RecordIO header: %w", err)
		return r
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n <= 0 || n > 1<<20 {
		r.err = fmt.Errorf("bad RecordIO header %q", line)
		return r
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(br, rec); err != nil {
		r.err = fmt.Errorf("reading the first event: %w", err)
		return r
	}
	var ev struct {
		Type       string `json:"type"`
		Subscribed struct {
			FrameworkID struct {
				Value string `json:"value"`
			} `json:"framework_id"`
		} `json:"subscribed"`
	}
	if err := json.Unmarshal(rec, &ev); err != nil {
		r.err = fmt.Errorf("first event: %v: %s", err, rec)
		return r
	}
	if ev.Type != "SUBSCRIBED" || ev.Subscribed.FrameworkID.Value == "" {
		r.err = fmt.Errorf("first event is not SUBSCRIBED: %s", rec)
		return r
	}
	r.frameworkID = ev.Subscribed.FrameworkID.Value
	return r
}

// frameworkEntry is a framework as /master/state lists it.
type frameworkEntry struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Active    bool   `json:"active"`
	Recovered bool   `json:"recovered"`
}

type masterState struct {
	Leader              string           `json:"leader"`
	Frameworks          []frameworkEntry `json:"frameworks"`
	CompletedFrameworks []frameworkEntry `json:"completed_frameworks"`
}

// state fetches /master/state; status is returned for non-200 answers.
func state(m *master) (*masterState, int, error) {
	resp, err := noRedirect.Get(m.url() + "/master/state")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode, nil
	}
	var s masterState
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, resp.StatusCode, err
	}
	return &s, resp.StatusCode, nil
}

// peerCounters returns m's master/raft_transport/peer/<id>/<name> counters.
func peerCounters(met map[string]float64, id int) map[string]float64 {
	prefix := fmt.Sprintf("master/raft_transport/peer/%d/", id)
	out := map[string]float64{}
	for k, v := range met {
		if strings.HasPrefix(k, prefix) {
			out[strings.TrimPrefix(k, prefix)] = v
		}
	}
	return out
}

// timings collects measured durations for a summary line at the end.
type timings struct {
	mu    sync.Mutex
	lines []string
}

func (tm *timings) add(t *testing.T, what string, d time.Duration) {
	t.Helper()
	tm.mu.Lock()
	defer tm.mu.Unlock()
	s := fmt.Sprintf("%s: %v", what, d.Round(time.Millisecond))
	tm.lines = append(tm.lines, s)
	t.Logf("TIMING %s", s)
}
