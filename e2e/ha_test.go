package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	sched "github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// The replicated-master scenarios of issue 3 with real processes: three
// masters in one Raft group, agents given every master address, the test
// scheduler of client_test.go (which follows the followers' 307 on
// SUBSCRIBE; its other calls are forwarded by followers).

// otherMaster returns a master index that is neither a nor b.
func otherMaster(a, b int) int {
	for i := 0; i < haMasters; i++ {
		if i != a && i != b {
			return i
		}
	}
	return -1
}

// resubscribe re-subscribes s with its framework ID through master i (a
// follower, so SUBSCRIBE goes through the 307 and later calls through the
// follower's forwarding).
func resubscribe(c *haCluster, s *schedClient, info *mesos.FrameworkInfo, i int) {
	c.t.Helper()
	s.close() // no call in flight while base changes
	s.base = c.masterURL(i)
	id := s.frameworkID()
	info.Id = &mesos.FrameworkID{Value: proto.String(id)}
	s.subscribe(info) // fails the test unless SUBSCRIBED carries the same ID
}

func waitStreamEnded(t testing.TB, s *schedClient, what string) {
	t.Helper()
	eventually(t, 15*time.Second, what, func() error {
		if ended, _ := s.streamEnded(); !ended {
			return errNotYet
		}
		return nil
	})
}

// TestHAFailoverTimeout: failover_timeout keeps counting across master
// failovers. Frameworks A and B (failover_timeout 8 s, a task each) both
// disconnect at t0; the leader is killed at t0+3 s; B re-subscribes through
// a follower at about t0+5 s. The new leader removes A at t0+8 s (not 8 s
// after its election, and not never): A is in completed_frameworks and its
// task is killed on the agent. B survives, and survives a second leader
// kill; A cannot come back after it either.
func TestHAFailoverTimeout(t *testing.T) {
	c := newHACluster(t, haConfig{})
	const timeout = 8.0
	a := newSchedClient(t, c.liveMasterURL(), codec.JSON)
	aInfo := frameworkInfo("e2e-ha-expires", timeout)
	a.subscribe(aInfo)
	aID := a.frameworkID()
	a.launch(shellTask("a-sleep", "sleep 1000", 0.1, 32))
	b := newSchedClient(t, c.liveMasterURL(), codec.Protobuf)
	bInfo := frameworkInfo("e2e-ha-survives", timeout)
	b.subscribe(bInfo)
	bID := b.frameworkID()
	b.launch(shellTask("b-sleep", "sleep 1000", 0.1, 32))
	a.waitUpdate("a-sleep", mesos.TaskState_TASK_RUNNING, taskTimeout)
	b.waitUpdate("b-sleep", mesos.TaskState_TASK_RUNNING, taskTimeout)
	_, aCtr, err := c.liveExecutor("a-sleep")
	if err != nil {
		t.Fatal(err)
	}
	_, bCtr, err := c.liveExecutor("b-sleep")
	if err != nil {
		t.Fatal(err)
	}
	bPID := taskPID(c.sock, bCtr)
	a.checkAcks()
	b.checkAcks()

	// Both schedulers go away at t0.
	a.close()
	b.close()
	t0 := time.Now()
	c.waitState("both frameworks disconnected", 5*time.Second, func(s *masterState) bool {
		fa, fb := s.framework(aID), s.framework(bID)
		return fa != nil && fb != nil && !fa.Connected && !fb.Connected
	})
	time.Sleep(time.Until(t0.Add(3 * time.Second)))

	l1 := c.leader()
	c.masters[l1].kill9(t)
	l2, took := c.waitLeader(l1, 20*time.Second)
	t.Logf("failover 1: killed leader master%d at t0+%s; master%d leads and serves %s later",
		l1+1, (3 * time.Second), l2+1, took.Round(time.Millisecond))
	c.startMaster(l1) // back as a follower: keeps a quorum for the second kill

	resubscribe(c, b, bInfo, otherMaster(l1, l2))
	if d := time.Since(t0); d > 7*time.Second {
		t.Fatalf("B re-subscribed only at t0+%s: too late to test its survival of the %vs failover_timeout", d.Round(time.Millisecond), timeout)
	}
	t.Logf("B re-subscribed with its ID at t0+%s", time.Since(t0).Round(time.Millisecond))

	var removedAt time.Duration
	c.waitState("framework A in completed_frameworks", 30*time.Second, func(s *masterState) bool {
		if s.completedFramework(aID) && s.framework(aID) == nil {
			removedAt = time.Since(t0)
			return true
		}
		return false
	})
	t.Logf("A (failover_timeout %vs, disconnected at t0, leader killed at t0+3s) removed at t0+%s",
		timeout, removedAt.Round(time.Millisecond))
	if removedAt < 7500*time.Millisecond || removedAt > 10500*time.Millisecond {
		t.Errorf("framework A removed at t0+%s after its disconnect; want ~t0+8s (failover_timeout counted from the disconnect across the master failover: "+
			"mesos-api.md §6, DESIGN.md registry 'failover deadline')", removedAt.Round(time.Millisecond))
	}
	eventually(t, 30*time.Second, "A's task a-sleep killed on the agent (container "+aCtr+" gone)", func() error {
		if containerExists(c.sock, aCtr) {
			return fmt.Errorf("container %s still exists: %s", aCtr, ctrList(c.sock, "tasks")[aCtr])
		}
		return nil
	})
	if got := taskPID(c.sock, bCtr); got == 0 || got != bPID {
		t.Errorf("B's task b-sleep: init pid %d, was %d before the failover", got, bPID)
	}

	// Second failover: B's stream breaks, it re-subscribes again with its
	// ID; A stays removed.
	l2 = c.leader()
	c.masters[l2].kill9(t)
	l3, took2 := c.waitLeader(l2, 20*time.Second)
	t.Logf("failover 2: killed leader master%d; master%d leads and serves %s later", l2+1, l3+1, took2.Round(time.Millisecond))
	waitStreamEnded(t, b, "B's subscription stream ends with the killed leader")
	c.startMaster(l2)
	from := b.eventCount()
	resubscribe(c, b, bInfo, otherMaster(l2, l3))

	a.close()
	a.base = c.masterURL(otherMaster(l2, l3))
	aInfo.Id = &mesos.FrameworkID{Value: proto.String(aID)}
	if err := a.trySubscribe(aInfo); err == nil {
		t.Errorf("re-SUBSCRIBE of removed framework A %s after the second failover was accepted; a removed framework must never come back", aID)
	} else {
		t.Logf("re-SUBSCRIBE of removed framework A refused: %v", err)
	}

	st := c.waitState("B active with b-sleep RUNNING after the second failover", 30*time.Second, func(s *masterState) bool {
		f := s.framework(bID)
		return f != nil && f.Active && f.task("b-sleep") != nil && f.task("b-sleep").State == "TASK_RUNNING"
	})
	if !st.completedFramework(aID) || st.framework(aID) != nil {
		t.Errorf("after the second failover framework A %s: completed=%v active entry=%v, want completed only", aID, st.completedFramework(aID), st.framework(aID) != nil)
	}
	b.reconcile(map[string]string{"b-sleep": ""})
	b.waitUpdateFrom(from, "b-sleep", mesos.TaskState_TASK_RUNNING, 30*time.Second)
	if got := taskPID(c.sock, bCtr); got != bPID {
		t.Errorf("B's task b-sleep: init pid %d after two failovers, %d before", got, bPID)
	}
	b.checkAcks()
	b.teardown()
}

// registrySnapshot is what must be identical before and after all masters
// restart.
type registrySnapshot struct {
	agents, frameworks, completed       string // /master/state
	opAgents, opFrameworks, opCompleted string // operator API
}

func (c *haCluster) snapshot(t testing.TB) registrySnapshot {
	t.Helper()
	st, err := c.state()
	if err != nil {
		t.Fatal(err)
	}
	var r registrySnapshot
	var ids []string
	for _, a := range st.Slaves {
		ids = append(ids, fmt.Sprintf("%s(active=%v)", a.ID, a.Active))
	}
	for _, a := range st.RecoveredSlaves {
		ids = append(ids, fmt.Sprintf("%s(recovered)", a.ID))
	}
	r.agents = idSet(ids)
	ids = nil
	for _, f := range st.Frameworks {
		ids = append(ids, f.ID)
	}
	r.frameworks = idSet(ids)
	ids = nil
	for _, f := range st.CompletedFrameworks {
		ids = append(ids, f.ID)
	}
	r.completed = idSet(ids)

	leader := c.leader()
	ga, err := c.operator(otherMaster(leader, -1), masterpb.Call_GET_AGENTS)
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, a := range ga.GetGetAgents().GetAgents() {
		ids = append(ids, fmt.Sprintf("%s(active=%v)", a.GetAgentInfo().GetId().GetValue(), a.GetActive()))
	}
	for _, a := range ga.GetGetAgents().GetRecoveredAgents() {
		ids = append(ids, fmt.Sprintf("%s(recovered)", a.GetId().GetValue()))
	}
	r.opAgents = idSet(ids)
	gf, err := c.operator(otherMaster(leader, -1), masterpb.Call_GET_FRAMEWORKS)
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, f := range gf.GetGetFrameworks().GetFrameworks() {
		ids = append(ids, f.GetFrameworkInfo().GetId().GetValue())
	}
	r.opFrameworks = idSet(ids)
	ids = nil
	for _, f := range gf.GetGetFrameworks().GetCompletedFrameworks() {
		ids = append(ids, f.GetFrameworkInfo().GetId().GetValue())
	}
	r.opCompleted = idSet(ids)
	return r
}

// TestHAAllMastersRestart: kill -9 all three masters while tasks run on two
// agents, restart them: the registry is identical (agents by ID and state,
// frameworks, completed frameworks; in /master/state and the operator API),
// the tasks still run in the same containers, the framework re-subscribes
// with its ID and reconciliation says RUNNING.
func TestHAAllMastersRestart(t *testing.T) {
	c := newHACluster(t, haConfig{})
	s := newSchedClient(t, c.liveMasterURL(), codec.JSON)
	info := frameworkInfo("e2e-ha-all-restart", 3600)
	s.subscribe(info)
	fwID := s.frameworkID()
	tasks := []string{"r1", "r2", "r3"}
	for _, id := range tasks {
		s.launch(shellTask(id, "sleep 1000", 0.1, 32))
	}
	pids := map[string]int{}
	ctrs := map[string]string{}
	for _, id := range tasks {
		s.waitUpdate(id, mesos.TaskState_TASK_RUNNING, taskTimeout)
		_, cid, err := c.liveExecutor(id)
		if err != nil {
			t.Fatal(err)
		}
		ctrs[id], pids[id] = cid, taskPID(c.sock, cid)
	}
	s.checkAcks()
	done := newSchedClient(t, c.liveMasterURL(), codec.Protobuf)
	done.subscribe(frameworkInfo("e2e-ha-torn-down", 60))
	doneID := done.frameworkID()
	done.teardown()
	c.waitState("torn-down framework completed", 20*time.Second, func(st *masterState) bool {
		return st.completedFramework(doneID) && st.framework(fwID) != nil
	})
	before := c.snapshot(t)
	t.Logf("before: %+v", before)

	for i := range c.masters {
		c.masters[i].kill9(t)
	}
	waitStreamEnded(t, s, "subscription stream ends with the masters")
	time.Sleep(2 * time.Second)
	for id, cid := range ctrs {
		if got := taskPID(c.sock, cid); got != pids[id] {
			t.Errorf("task %s: init pid %d while all masters are down, %d before", id, got, pids[id])
		}
	}
	for i := range c.masters {
		c.startMaster(i)
	}
	l, took := c.waitLeader(-1, 30*time.Second)
	t.Logf("all masters restarted: master%d leads and serves %s after the restart", l+1, took.Round(time.Millisecond))

	nAgents := len(c.agents)
	c.waitState("agents re-registered and the framework back", 60*time.Second, func(st *masterState) bool {
		return countActive(st) == nAgents && st.framework(fwID) != nil
	})
	after := c.snapshot(t)
	t.Logf("after: %+v", after)
	if before != after {
		t.Errorf("registry after restarting all masters differs (completed frameworks are in the replicated registry: "+
			"issue 3 part 2, DESIGN.md 'completed IDs'):\n before %+v\n after  %+v", before, after)
	}
	// Whatever the listings say, the torn-down framework must not come back.
	done.close()
	done.base = c.masterURL(otherMaster(l, -1))
	doneInfo := frameworkInfo("e2e-ha-torn-down", 60)
	doneInfo.Id = &mesos.FrameworkID{Value: proto.String(doneID)}
	if err := done.trySubscribe(doneInfo); err == nil {
		t.Errorf("torn-down framework %s re-subscribed after all masters restarted", doneID)
	}

	from := s.eventCount()
	resubscribe(c, s, info, otherMaster(l, -1))
	s.reconcile(nil)
	for _, id := range tasks {
		rs := s.waitUpdateFrom(from, id, mesos.TaskState_TASK_RUNNING, 30*time.Second)
		if rs.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION {
			t.Errorf("reconciliation answer for %s: reason %s", id, rs.GetReason())
		}
		if got := taskPID(c.sock, ctrs[id]); got != pids[id] {
			t.Errorf("task %s: init pid %d after restarting all masters, %d before", id, got, pids[id])
		}
		if _, cid, err := c.liveExecutor(id); err != nil || cid != ctrs[id] {
			t.Errorf("task %s: container %q (%v) after, %q before", id, cid, err, ctrs[id])
		}
	}
	s.checkAcks()
	s.teardown()
}

// vethNetns makes a network namespace joined to the host by a veth pair in
// a private /24 and returns the namespace, its interface and the host and
// namespace addresses. Everything is removed in t.Cleanup.
func vethNetns(t testing.TB) (ns, nsIf, hostIP, nsIP string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("partition test needs iproute2 (ip)")
	}
	n := os.Getpid() % 200
	ns = fmt.Sprintf("mesosd-ha-%d", os.Getpid())
	hostIf, nsIf := fmt.Sprintf("mhah%d", os.Getpid()%100000), fmt.Sprintf("mhan%d", os.Getpid()%100000)
	hostIP, nsIP = fmt.Sprintf("10.213.%d.1", n+20), fmt.Sprintf("10.213.%d.2", n+20)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Logf("cleanup: ip netns del %s: %v: %s", ns, err, out)
		}
	})
	run("netns", "add", ns)
	run("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run("link", "set", nsIf, "netns", ns)
	run("addr", "add", hostIP+"/24", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("netns", "exec", ns, "ip", "addr", "add", nsIP+"/24", "dev", nsIf)
	run("netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run("netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns, nsIf, hostIP, nsIP
}

func partitionAware(info *mesos.FrameworkInfo) *mesos.FrameworkInfo {
	info.Capabilities = append(info.Capabilities, &mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE.Enum()})
	return info
}

// TestHAAgentPartition: an agent in its own network namespace, masters on
// the host side of a veth pair, agent_ping_timeout 1s x 3. Cutting the
// link makes the agent unreachable: the PARTITION_AWARE framework gets
// TASK_UNREACHABLE, the other TASK_LOST. Restoring it, the agent
// re-registers with the same ID and its tasks come back: /master/state and
// reconciliation say RUNNING, in the same containers.
func TestHAAgentPartition(t *testing.T) {
	requireE2E(t)
	ns, nsIf, hostIP, nsIP := vethNetns(t)
	c := newHACluster(t, haConfig{
		masterIP:   hostIP,
		masterArgs: []string{"--agent_ping_timeout", "1secs", "--max_agent_ping_timeouts", "3"},
		agents:     []haAgentConfig{{ip: nsIP, netns: ns}},
	})
	pa := newSchedClient(t, c.liveMasterURL(), codec.JSON)
	pa.subscribe(partitionAware(frameworkInfo("e2e-ha-partition-aware", 3600)))
	np := newSchedClient(t, c.liveMasterURL(), codec.Protobuf)
	np.subscribe(frameworkInfo("e2e-ha-not-partition-aware", 3600))
	agentID := pa.launch(shellTask("pa-task", "sleep 1000", 0.1, 32))
	np.launch(shellTask("np-task", "sleep 1000", 0.1, 32))
	pa.waitUpdate("pa-task", mesos.TaskState_TASK_RUNNING, taskTimeout)
	np.waitUpdate("np-task", mesos.TaskState_TASK_RUNNING, taskTimeout)
	ctrs, pids := map[string]string{}, map[string]int{}
	for _, id := range []string{"pa-task", "np-task"} {
		_, cid, err := c.liveExecutor(id)
		if err != nil {
			t.Fatal(err)
		}
		ctrs[id], pids[id] = cid, taskPID(c.sock, cid)
	}
	pa.checkAcks()
	np.checkAcks()

	// Cut on the namespace side: the host side keeps its address (the
	// masters peer over it).
	fromPA, fromNP := pa.eventCount(), np.eventCount()
	tCut := time.Now()
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "down").CombinedOutput(); err != nil {
		t.Fatalf("cut link: %v: %s", err, out)
	}
	st := pa.waitUpdateFrom(fromPA, "pa-task", mesos.TaskState_TASK_UNREACHABLE, 30*time.Second)
	t.Logf("PARTITION_AWARE framework: TASK_UNREACHABLE %s after the cut (reason %s, unreachable_time %v)",
		time.Since(tCut).Round(time.Millisecond), st.GetReason(), st.GetUnreachableTime() != nil)
	if st.GetUnreachableTime() == nil {
		t.Errorf("TASK_UNREACHABLE without unreachable_time (mesos-api.md §3.5)")
	}
	lst := np.waitUpdateFrom(fromNP, "np-task", mesos.TaskState_TASK_LOST, 30*time.Second)
	t.Logf("non-PARTITION_AWARE framework: TASK_LOST %s after the cut (reason %s)", time.Since(tCut).Round(time.Millisecond), lst.GetReason())
	for _, s := range []*mesos.TaskStatus{st, lst} {
		if s.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED {
			t.Errorf("%s of %s: reason %s, want REASON_AGENT_REMOVED (REASON_SLAVE_REMOVED)", s.GetState(), s.GetTaskId().GetValue(), s.GetReason())
		}
	}
	c.waitState("agent no longer active", 10*time.Second, func(s *masterState) bool { return countActive(s) == 0 })
	for id, cid := range ctrs {
		if got := taskPID(c.sock, cid); got != pids[id] {
			t.Errorf("task %s: init pid %d while partitioned, %d before", id, got, pids[id])
		}
	}

	fromPA, fromNP = pa.eventCount(), np.eventCount()
	tHeal := time.Now()
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up").CombinedOutput(); err != nil {
		t.Fatalf("restore link: %v: %s", err, out)
	}
	// Mesos semantics on re-registration after unreachability: the
	// partition-aware task comes back; the other framework was told
	// TASK_LOST, so its task is killed rather than resurrected.
	c.waitState("agent re-registered with the same ID, pa-task RUNNING", 60*time.Second, func(s *masterState) bool {
		if len(s.Slaves) != 1 || s.Slaves[0].ID != agentID || !s.Slaves[0].Active {
			return false
		}
		for _, f := range s.Frameworks {
			for _, tk := range f.Tasks {
				if tk.ID == "pa-task" && tk.State == "TASK_RUNNING" {
					return true
				}
			}
		}
		return false
	})
	t.Logf("agent %s re-registered, pa-task RUNNING in /master/state %s after the heal", agentID, time.Since(tHeal).Round(time.Millisecond))
	pa.reconcile(map[string]string{"pa-task": agentID})
	pa.waitUpdateFrom(fromPA, "pa-task", mesos.TaskState_TASK_RUNNING, 30*time.Second)
	np.waitUpdateFrom(fromNP, "np-task", mesos.TaskState_TASK_KILLED, 30*time.Second)
	t.Logf("after the heal: pa-task %s; np-task %s", pa.describeUpdates("pa-task"), np.describeUpdates("np-task"))
	if got := taskPID(c.sock, ctrs["pa-task"]); got != pids["pa-task"] {
		t.Errorf("pa-task: init pid %d after the heal, %d before", got, pids["pa-task"])
	}
	pa.checkAcks()
	np.checkAcks()
	pa.teardown()
	np.teardown()
}

// TestHAFollowerRedirectAndForward: the follower contract of DESIGN.md
// (Leadership) and client-quirks.md #4. A follower answers SUBSCRIBE with
// 307 and `Location: //leader/api/v1/scheduler`, /master/redirect points
// at the leader, master/elected is 1 on the leader only, and a follower
// forwards the other scheduler calls (with their Mesos-Stream-Id) to the
// leader: 202, as from the leader itself.
func TestHAFollowerRedirectAndForward(t *testing.T) {
	c := newHACluster(t, haConfig{agents: []haAgentConfig{}})
	l := c.leader()
	f := otherMaster(l, -1)
	leaderAddr := c.masterAddr(l)
	for i := range c.masters {
		if got, want := c.elected(i), i == l; got != want {
			t.Errorf("master%d: elected=%v, want %v (leader master%d)", i+1, got, want, l+1)
		}
	}

	code, _, err := httpGetNoRedirect(c.masterURL(f) + "/master/redirect")
	resp, rerr := noRedirect.Get(c.masterURL(f) + "/master/redirect")
	if err != nil || rerr != nil {
		t.Fatalf("GET follower /master/redirect: %v %v", err, rerr)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); code != 307 || !strings.Contains(loc, "//"+leaderAddr) {
		t.Errorf("follower /master/redirect: %d Location %q, want 307 to //%s", code, loc, leaderAddr)
	}

	body, err := codec.JSON.Marshal(&sched.Call{
		Type:      sched.Call_SUBSCRIBE.Enum(),
		Subscribe: &sched.Call_Subscribe{FrameworkInfo: frameworkInfo("e2e-ha-follower", 60)},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.masterURL(f)+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ContentTypeJSON)
	req.Header.Set("Accept", codec.ContentTypeJSON)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "//" + leaderAddr + "/api/v1/scheduler"; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Errorf("SUBSCRIBE to follower master%d: %d Location %q, want 307 %q", f+1, resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// A client that follows the 307 subscribes at the leader, then keeps
	// posting to the follower it was given.
	s := newSchedClient(t, c.masterURL(f), codec.Protobuf)
	s.subscribe(frameworkInfo("e2e-ha-follower", 60))
	if err := s.call(&sched.Call{Type: sched.Call_RECONCILE.Enum(), Reconcile: &sched.Call_Reconcile{}}); err != nil {
		t.Fatalf("RECONCILE posted to follower master%d (leader master%d): %v; a follower must forward non-SUBSCRIBE scheduler calls to the leader "+
			"and relay its 202 (DESIGN.md Leadership, client-quirks.md #4: mesos-go keeps posting to the master it was given)", f+1, l+1, err)
	}
	if err := s.call(&sched.Call{Type: sched.Call_TEARDOWN.Enum()}); err != nil {
		t.Fatalf("TEARDOWN posted to follower master%d: %v", f+1, err)
	}
	c.waitState("framework torn down through the follower", 10*time.Second, func(st *masterState) bool {
		return st.completedFramework(s.frameworkID())
	})
}
