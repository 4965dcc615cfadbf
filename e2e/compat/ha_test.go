package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// TestHALeaderKillUnderLaunchLoad is issue 3's acceptance scenario with a
// scheduler built from mesos-go (httpsched + calls): three replicated
// masters and two agents; the framework (failover_timeout 3600, checkpoint)
// launches 200 small command tasks and the leader is killed with SIGKILL
// while it does. A new leader must serve within seconds, the agents
// re-register, the framework re-subscribes with the same FrameworkID
// through the 307, and after reconciliation every task that was reported
// STARTING/RUNNING is still RUNNING, every task whose launch was lost is
// reported (TASK_LOST / TASK_DROPPED, and relaunched under a new ID), none
// is silently missing, and no task runs twice.
//
// It needs MESOSD_BIN, root, containerd, runc and ctr; it uses the
// containerd at MESOSD_CONTAINERD_SOCKET or starts a private one with
// scripts/containerd-dev.sh.
//
// It runs twice: the kill meets launches in flight (70 of 200 accepted,
// usually none started yet), then status updates in flight (30 tasks
// RUNNING, the others starting).
func TestHALeaderKillUnderLaunchLoad(t *testing.T) {
	t.Run("during-launches", func(t *testing.T) { haLeaderKill(t, haKillAt(70), haKillRunning(0)) })
	t.Run("during-status-updates", func(t *testing.T) { haLeaderKill(t, haKillAt(70), haKillRunning(30)) })
}

func haLeaderKill(t *testing.T, killAt, killRunning int) {
	c := newHACompatCluster(t)
	cc := codecCases[0] // protobuf: what mesos-go frameworks use in production
	const nTasks = 200

	f := newHAFramework(t, cc, c.masterAddrs())
	go f.run()
	f.waitSubscribed(t, 0, 30*time.Second)
	fwID := f.frameworkID()
	t.Logf("framework %s subscribed through %s", fwID, f.subscribedVia())

	// Launcher: 10 tasks per ACCEPT, as fast as offers come.
	var pending []string
	for i := 0; i < nTasks; i++ {
		pending = append(pending, fmt.Sprintf("t%03d", i))
	}
	l := &launcher{f: f, pending: pending, logical: map[string]string{}, killAt: killAt, killNow: make(chan struct{})}
	for _, id := range pending {
		l.logical[id] = id
	}
	launchCtx, stopLaunch := context.WithCancel(context.Background())
	launchDone := make(chan struct{})
	go func() { defer close(launchDone); l.loop(launchCtx) }()
	t.Cleanup(func() { stopLaunch(); <-launchDone })

	// Kill the leader once a third of the tasks were accepted: the rest of
	// the launches straddle the failover.
	// The kill comes right after an ACCEPT was answered 202, so launches the
	// old leader acknowledged may not have reached an agent.
	select {
	case <-l.killNow:
	case <-time.After(60 * time.Second):
		fatalf(t, "no ACCEPT of the first 70 tasks answered 202 within 60s (%d ACCEPTs failed, last error: %v; the framework posts to %s, "+
			"a follower must forward non-SUBSCRIBE calls to the leader: DESIGN.md Leadership, client-quirks.md #4): %s",
			l.failedAccepts(), l.lastAcceptErr(), f.subscribedVia(), l.describe())
	}
	if k := killRunning; k > 0 {
		waitFor(t, fmt.Sprintf("%d tasks RUNNING before the kill", k), 3*time.Minute, func() (bool, string) {
			n := f.countEver(mesos.TASK_RUNNING)
			return n >= k, fmt.Sprintf("%d running", n)
		})
	}
	leader := c.waitLeader(t, -1, 10*time.Second)
	subsBefore := f.subscriptionCount()
	kill := time.Now()
	c.masters[leader].kill9(t)
	t.Logf("killed leader master%d (pid gone) with %d tasks accepted, %d running", leader+1, l.acceptedCount(), f.countEver(mesos.TASK_RUNNING))
	newLeader := c.waitLeader(t, leader, 30*time.Second)
	failover := time.Since(kill)
	t.Logf("FAILOVER: master%d elected and serving %s after the kill", newLeader+1, failover.Round(time.Millisecond))
	if failover > 10*time.Second {
		t.Errorf("new leader serving %s after the kill; want within a few seconds", failover)
	}
	c.waitAgents(t, 2, 60*time.Second)
	t.Logf("both agents re-registered %s after the kill", time.Since(kill).Round(time.Millisecond))
	f.waitSubscribed(t, subsBefore, 60*time.Second)
	t.Logf("framework re-subscribed %s after the kill, through %s", time.Since(kill).Round(time.Millisecond), f.subscribedVia())
	if ids := f.subscribedIDs(); len(ids) < 2 || ids[len(ids)-1] != fwID {
		t.Fatalf("SUBSCRIBED framework IDs %v: the re-subscription must keep %s", ids, fwID)
	}
	c.restartMaster(t, leader) // back as a follower

	// Reconcile until every task ever handed to ACCEPT has an answer from
	// after the failover; launch replacements for lost ones.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		stable := l.settle(t, kill)
		if stable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks not settled within 3 minutes: %s", l.describe())
		}
		time.Sleep(2 * time.Second)
	}
	stopLaunch()
	<-launchDone
	t.Logf("settled: %s", l.describe())

	// Every task reported STARTING or RUNNING is RUNNING (sleep outlives
	// the test) according to the latest answer; nothing else is LOST.
	wasUp := func(id string) bool {
		return f.everIn(id, mesos.TASK_STARTING) || f.everIn(id, mesos.TASK_RUNNING)
	}
	var lostAfterUp, missing []string
	lost := 0
	for _, id := range l.allLaunched() {
		st, ok := f.latestAfter(id, kill)
		if !ok {
			missing = append(missing, id)
			continue
		}
		switch st.GetState() {
		case mesos.TASK_RUNNING, mesos.TASK_FINISHED:
		case mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_UNKNOWN, mesos.TASK_ERROR:
			if wasUp(id) {
				lostAfterUp = append(lostAfterUp, fmt.Sprintf("%s:%s(%s)", id, st.GetState(), st.GetReason()))
			}
			lost++
		default:
			missing = append(missing, fmt.Sprintf("%s:%s", id, st.GetState()))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d launched tasks without a final answer after the failover (silently missing or stuck): %v", len(missing), missing)
	}
	if len(lostAfterUp) > 0 {
		t.Errorf("%d tasks reported STARTING/RUNNING before the failover are now lost: %v", len(lostAfterUp), lostAfterUp)
	}
	t.Logf("%d launches lost in the failover were reported and relaunched", lost)

	// Each of the 200 logical tasks runs exactly once, and no task ID has
	// more than one container (sandbox runs and live executors).
	runs := c.sandboxRuns(fwID)
	live, err := c.liveExecutors()
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]int{} // logical task -> running incarnations
	for _, id := range l.allLaunched() {
		if n := len(runs[id]); n > 1 {
			t.Errorf("task %s ran %d times (sandbox runs %v)", id, n, runs[id])
		}
		if n := live[id]; n > 1 {
			t.Errorf("task %s has %d live executors on the agents", id, n)
		}
		if st, ok := f.latestAfter(id, kill); ok && st.GetState() == mesos.TASK_RUNNING {
			running[l.logical[id]]++
			if live[id] != 1 {
				t.Errorf("task %s reported RUNNING but has %d live executors on the agents", id, live[id])
			}
		}
	}
	for i := 0; i < nTasks; i++ {
		id := fmt.Sprintf("t%03d", i)
		if running[id] != 1 {
			t.Errorf("logical task %s has %d running incarnations, want exactly 1", id, running[id])
		}
	}
	for id := range live {
		if _, ok := l.logical[id]; !ok {
			t.Errorf("agent runs task %s which the scheduler never launched", id)
		}
	}
	f.checkAcks(t)
	f.teardown(t)
}

// ---- the mesos-go framework ----

// haFramework is a mesos-go scheduler given every master address: it
// subscribes through the first that answers (httpsched follows the 307 of a
// follower to the leader), keeps calling that master (a follower forwards),
// and when the subscription breaks it re-subscribes with its FrameworkID,
// trying the masters in order, building a new httpsched caller for each.
type haFramework struct {
	t     *testing.T
	cc    codecCase
	addrs []string
	info  *mesos.FrameworkInfo

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	changed  chan struct{}
	caller   calls.Caller
	via      string
	ids      []string // framework ID of every SUBSCRIBED
	offers   []mesos.Offer
	statuses map[string][]timedStatus
	ackErrs  []error
	acks     sync.WaitGroup
	ackSem   chan struct{}
}

type timedStatus struct {
	at time.Time
	st mesos.TaskStatus
}

func newHAFramework(t *testing.T, cc codecCase, addrs []string) *haFramework {
	fi := &mesos.FrameworkInfo{User: "root", Name: "compat-ha-launch-load", Roles: []string{"*"},
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}}
	timeout, checkpoint := 3600.0, true
	fi.FailoverTimeout, fi.Checkpoint = &timeout, &checkpoint
	f := &haFramework{t: t, cc: cc, addrs: addrs, info: fi, done: make(chan struct{}),
		changed: make(chan struct{}), statuses: map[string][]timedStatus{}, ackSem: make(chan struct{}, 8)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { f.cancel(); <-f.done; f.acks.Wait() })
	return f
}

func (f *haFramework) notifyLocked() { close(f.changed); f.changed = make(chan struct{}) }

func (f *haFramework) frameworkID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids) == 0 {
		return ""
	}
	return f.ids[len(f.ids)-1]
}

func (f *haFramework) subscribedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func (f *haFramework) subscriptionCount() int { return len(f.subscribedIDs()) }

func (f *haFramework) subscribedVia() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.via
}

// waitSubscribed waits for more than n SUBSCRIBED events.
func (f *haFramework) waitSubscribed(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, "SUBSCRIBED", timeout, func() (bool, string) {
		k := f.subscriptionCount()
		return k > n, fmt.Sprintf("%d subscriptions", k)
	})
}

// run subscribes and reads events until the test ends, re-subscribing
// whenever the stream breaks.
func (f *haFramework) run() {
	defer close(f.done)
	for f.ctx.Err() == nil {
		resp, caller, via, err := f.subscribeAny()
		if err != nil {
			select {
			case <-f.ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		f.mu.Lock()
		f.caller, f.via = caller, via
		f.mu.Unlock()
		f.read(resp)
		resp.Close()
		f.mu.Lock()
		f.caller = nil
		f.offers = nil
		f.notifyLocked()
		f.mu.Unlock()
	}
}

func (f *haFramework) subscribeAny() (mesos.Response, calls.Caller, string, error) {
	var lastErr error
	for _, addr := range f.addrs {
		caller := httpsched.NewCaller(httpcli.New(
			httpcli.Endpoint("http://"+addr+"/api/v1/scheduler"),
			httpcli.Codec(f.cc.codec),
			httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
		), httpsched.MaxRedirects(2))
		info := *f.info
		if id := f.frameworkID(); id != "" {
			info.ID = &mesos.FrameworkID{Value: id}
		}
		resp, err := caller.Call(f.ctx, calls.Subscribe(&info))
		if err != nil {
			lastErr = err
			continue
		}
		return resp, caller, addr, nil
	}
	return nil, nil, "", lastErr
}

func (f *haFramework) read(resp mesos.Response) {
	for {
		e := new(scheduler.Event)
		if err := resp.Decode(e); err != nil {
			return
		}
		switch e.GetType() {
		case scheduler.Event_SUBSCRIBED:
			id := e.GetSubscribed().GetFrameworkID().GetValue()
			f.mu.Lock()
			f.ids = append(f.ids, id)
			f.notifyLocked()
			f.mu.Unlock()
		case scheduler.Event_OFFERS:
			f.mu.Lock()
			f.offers = append(f.offers, e.GetOffers().GetOffers()...)
			f.notifyLocked()
			f.mu.Unlock()
		case scheduler.Event_RESCIND:
			f.mu.Lock()
			for i, o := range f.offers {
				if o.ID == e.GetRescind().OfferID {
					f.offers = append(f.offers[:i:i], f.offers[i+1:]...)
					break
				}
			}
			f.mu.Unlock()
		case scheduler.Event_UPDATE:
			st := e.GetUpdate().GetStatus()
			f.mu.Lock()
			f.statuses[st.TaskID.Value] = append(f.statuses[st.TaskID.Value], timedStatus{time.Now(), st})
			f.notifyLocked()
			f.mu.Unlock()
			if len(st.GetUUID()) > 0 {
				f.acks.Add(1)
				f.ackSem <- struct{}{}
				go func() {
					defer func() { <-f.ackSem; f.acks.Done() }()
					f.ack(st)
				}()
			}
		case scheduler.Event_ERROR:
			f.mu.Lock()
			f.ackErrs = append(f.ackErrs, fmt.Errorf("ERROR event: %s", e.GetError().GetMessage()))
			f.mu.Unlock()
			return
		}
	}
}

// call sends a non-SUBSCRIBE call on the current subscription.
func (f *haFramework) call(c *scheduler.Call) error {
	f.mu.Lock()
	caller := f.caller
	if len(f.ids) > 0 {
		c.FrameworkID = &mesos.FrameworkID{Value: f.ids[len(f.ids)-1]}
	}
	f.mu.Unlock()
	if caller == nil {
		return fmt.Errorf("not subscribed")
	}
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	return calls.CallNoData(ctx, caller, c)
}

func (f *haFramework) ack(st mesos.TaskStatus) {
	err := f.call(calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.GetUUID()))
	// A failover can break an ACK: the agent resends the update, which is
	// acknowledged then. Only record errors that are not the failover.
	if err != nil && f.ctx.Err() == nil {
		f.mu.Lock()
		f.ackErrs = append(f.ackErrs, fmt.Errorf("ACKNOWLEDGE %s %s: %w", st.TaskID.Value, st.GetState(), err))
		f.mu.Unlock()
	}
}

func (f *haFramework) checkAcks(t *testing.T) {
	t.Helper()
	f.acks.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.ackErrs {
		t.Logf("during the test: %v", err)
	}
}

// takeOffers removes and returns the outstanding offers.
func (f *haFramework) takeOffers() ([]mesos.Offer, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.offers
	f.offers = nil
	return o, f.changed
}

func (f *haFramework) everIn(id string, s mesos.TaskState) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ts := range f.statuses[id] {
		if ts.st.GetState() == s {
			return true
		}
	}
	return false
}

func (f *haFramework) countEver(s mesos.TaskState) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, sts := range f.statuses {
		for _, ts := range sts {
			if ts.st.GetState() == s {
				n++
				break
			}
		}
	}
	return n
}

// latestAfter returns the latest status of a task received after t.
func (f *haFramework) latestAfter(id string, t time.Time) (mesos.TaskStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sts := f.statuses[id]
	if len(sts) == 0 || sts[len(sts)-1].at.Before(t) {
		return mesos.TaskStatus{}, false
	}
	return sts[len(sts)-1].st, true
}

func (f *haFramework) latest(id string) (mesos.TaskStatus, bool) {
	return f.latestAfter(id, time.Time{})
}

func (f *haFramework) teardown(t *testing.T) {
	t.Helper()
	if err := f.call(&scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		t.Errorf("TEARDOWN: %v", err)
	}
}

// ---- the launcher ----

// launcher launches pending tasks on offers, 10 per ACCEPT; it replaces
// tasks reported lost by a new incarnation "<logical>-rN".
type launcher struct {
	f *haFramework

	mu       sync.Mutex
	pending  []string
	accepted []string          // every task ID put in an ACCEPT (202 or error)
	agentOf  map[string]string // task -> agent it was launched on
	logical  map[string]string // task ID -> logical task
	replaced map[string]bool   // lost task IDs already replaced
	killAt   int               // close killNow when an ACCEPT returns with this many accepted
	killNow  chan struct{}
	killOnce sync.Once
	failed   int
	lastErr  error
}

func (l *launcher) failedAccepts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func (l *launcher) lastAcceptErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *launcher) acceptedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

func (l *launcher) allLaunched() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

func (l *launcher) loop(ctx context.Context) {
	for ctx.Err() == nil {
		offers, changed := l.f.takeOffers()
		if len(offers) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-time.After(time.Second):
			}
			continue
		}
		for _, o := range offers {
			l.launchOn(o)
		}
	}
}

func (l *launcher) launchOn(o mesos.Offer) {
	l.mu.Lock()
	n := len(l.pending)
	if n > 10 {
		n = 10
	}
	batch := append([]string(nil), l.pending[:n]...)
	l.pending = l.pending[n:]
	if l.agentOf == nil {
		l.agentOf = map[string]string{}
	}
	for _, id := range batch {
		l.accepted = append(l.accepted, id)
		l.agentOf[id] = o.AgentID.Value
	}
	l.mu.Unlock()
	var tasks []mesos.TaskInfo
	for _, id := range batch {
		res := mesos.Resources{resources.NewCPUs(0.01).Resource, resources.NewMemory(8).Resource}
		if ai := o.GetAllocationInfo(); ai != nil {
			for i := range res {
				res[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: ai.Role}
			}
		}
		tasks = append(tasks, mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: res, Command: shellCommand("sleep 600")})
	}
	call := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(100 * time.Millisecond))
	if len(tasks) == 0 {
		call = calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour))
	}
	// An error leaves the tasks in doubt; reconciliation settles them.
	err := l.f.call(call)
	if err != nil {
		l.mu.Lock()
		l.failed++
		l.lastErr = err
		l.mu.Unlock()
	} else if len(tasks) > 0 && l.acceptedCount() >= l.killAt {
		l.killOnce.Do(func() { close(l.killNow) })
	}
}

// settle reconciles every launched task that has no answer from after
// since (the failover), replaces lost ones, and reports whether every task
// is settled (RUNNING, or lost and replaced) with nothing pending. A task
// that was RUNNING before the failover is asked about too: only an answer
// from the new leader says it survived.
func (l *launcher) settle(t *testing.T, since time.Time) bool {
	l.mu.Lock()
	if l.replaced == nil {
		l.replaced = map[string]bool{}
	}
	ids := append([]string(nil), l.accepted...)
	pendingN := len(l.pending)
	l.mu.Unlock()

	// Ask about every non-settled task, with its agent.
	req := map[string]string{}
	settled := true
	for _, id := range ids {
		st, ok := l.f.latestAfter(id, since)
		if ok && st.GetState() == mesos.TASK_RUNNING {
			continue
		}
		if ok && isTerminal(st.GetState()) {
			l.mu.Lock()
			if !l.replaced[id] {
				l.replaced[id] = true
				next := nextIncarnation(id)
				l.logical[next] = l.logical[id]
				l.pending = append(l.pending, next)
				t.Logf("task %s: %s (%s, %q): relaunching as %s", id, st.GetState(), st.GetReason(), st.GetMessage(), next)
			}
			l.mu.Unlock()
			continue
		}
		settled = false
		l.mu.Lock()
		req[id] = l.agentOf[id]
		l.mu.Unlock()
	}
	if len(req) > 0 {
		if err := l.f.call(calls.Reconcile(calls.ReconcileTasks(req))); err != nil {
			t.Logf("RECONCILE of %d tasks: %v", len(req), err)
		}
	}
	return settled && pendingN == 0
}

func nextIncarnation(id string) string {
	if i := strings.Index(id, "-r"); i >= 0 {
		n, _ := strconv.Atoi(id[i+2:])
		return fmt.Sprintf("%s-r%d", id[:i], n+1)
	}
	return id + "-r1"
}

func (l *launcher) describe() string {
	l.mu.Lock()
	ids := append([]string(nil), l.accepted...)
	pendingN := len(l.pending)
	l.mu.Unlock()
	count := map[string]int{}
	var open []string
	for _, id := range ids {
		st, ok := l.f.latest(id)
		if !ok {
			count["no answer"]++
			open = append(open, id)
			continue
		}
		count[st.GetState().String()]++
		if !isTerminal(st.GetState()) && st.GetState() != mesos.TASK_RUNNING {
			open = append(open, id+":"+st.GetState().String())
		}
	}
	if len(open) > 10 {
		open = append(open[:10], "...")
	}
	return fmt.Sprintf("%d launched, %d pending, latest states %v, unsettled %v", len(ids), pendingN, count, open)
}

// ---- the cluster: 3 masters, 2 agents, containerd ----

type haProc struct {
	name, logPath string
	cmd           *exec.Cmd
	exited        chan struct{}
}

func (p *haProc) start(t *testing.T, bin string, args ...string) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== compat: %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESOS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(cmd, p.exited)
}

func (p *haProc) running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *haProc) kill9(t *testing.T) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not die after SIGKILL", p.name)
	}
}

func (p *haProc) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

func (p *haProc) tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type haCompatCluster struct {
	bin, sock, root string
	mPorts          []int
	masters         []*haProc
	peers           string
	agentDirs       []string
	agentPorts      []int
	agents          []*haProc
}

func newHACompatCluster(t *testing.T) *haCompatCluster {
	t.Helper()
	bin := os.Getenv("MESOSD_BIN")
	if bin == "" {
		t.Skip("HA test: set MESOSD_BIN to a built mesosd (it starts 3 masters and 2 agents)")
	}
	if os.Geteuid() != 0 {
		t.Skip("HA test needs root (containerd, runc and cgroups)")
	}
	for _, tool := range []string{"containerd", "runc", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("HA test needs %s in PATH", tool)
		}
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	c := &haCompatCluster{bin: bin, root: t.TempDir()}
	c.sock = haContainerd(t)
	var peers []string
	for i := 0; i < 3; i++ {
		port := freePort()
		c.mPorts = append(c.mPorts, port)
		c.masters = append(c.masters, &haProc{name: fmt.Sprintf("master%d", i+1), logPath: filepath.Join(c.root, fmt.Sprintf("master%d.log", i+1))})
		peers = append(peers, fmt.Sprintf("%d=127.0.0.1:%d", i+1, port))
	}
	c.peers = strings.Join(peers, ",")
	for i := 0; i < 2; i++ {
		c.agentPorts = append(c.agentPorts, freePort())
		c.agentDirs = append(c.agentDirs, filepath.Join(c.root, fmt.Sprintf("agent%d", i+1)))
		c.agents = append(c.agents, &haProc{name: fmt.Sprintf("agent%d", i+1), logPath: filepath.Join(c.root, fmt.Sprintf("agent%d.log", i+1))})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(append([]*haProc(nil), c.masters...), c.agents...) {
				t.Logf("---- tail of %s log ----\n%s", p.name, p.tail(40))
			}
		}
		for _, p := range c.agents {
			p.stop()
		}
		for _, p := range c.masters {
			p.stop()
		}
		c.removeContainers(t)
	})
	for i := range c.masters {
		c.restartMaster(t, i)
	}
	c.waitLeader(t, -1, 30*time.Second)
	for i := range c.agents {
		c.agents[i].start(t, c.bin, "agent",
			"--master", strings.Join(c.masterAddrs(), ","),
			"--ip", "127.0.0.1", "--port", strconv.Itoa(c.agentPorts[i]), "--hostname", "127.0.0.1",
			"--work_dir", c.agentDirs[i], "--containerd_socket", c.sock,
			"--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31100]")
	}
	c.waitAgents(t, 2, 60*time.Second)
	return c
}

func (c *haCompatCluster) masterAddrs() []string {
	var out []string
	for _, p := range c.mPorts {
		out = append(out, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	return out
}

func (c *haCompatCluster) restartMaster(t *testing.T, i int) {
	t.Helper()
	dir := filepath.Join(c.root, fmt.Sprintf("master%d", i+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.masters[i].start(t, c.bin, "master", "--id", strconv.Itoa(i+1), "--master_peers", c.peers,
		"--ip", "127.0.0.1", "--port", strconv.Itoa(c.mPorts[i]), "--work_dir", dir,
		"--allocation_interval", "200ms", "--agent_reregister_timeout", "10secs")
}

var haNoRedirect = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// waitLeader waits for exactly one serving leader other than not.
func (c *haCompatCluster) waitLeader(t *testing.T, not int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var leaders []int
		for i, addr := range c.masterAddrs() {
			if !c.masters[i].running() {
				continue
			}
			var m map[string]float64
			resp, err := haNoRedirect.Get("http://" + addr + "/metrics/snapshot")
			if err != nil {
				continue
			}
			err = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if err != nil || m["master/elected"] != 1 {
				continue
			}
			resp, err = haNoRedirect.Get("http://" + addr + "/master/state")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				leaders = append(leaders, i)
			}
		}
		if len(leaders) == 1 && leaders[0] != not {
			return leaders[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no single serving leader (other than master%d) within %s", not+1, timeout)
	return -1
}

// waitAgents waits until the leader lists n active agents.
func (c *haCompatCluster) waitAgents(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d active agents", n), timeout, func() (bool, string) {
		for i, addr := range c.masterAddrs() {
			if !c.masters[i].running() {
				continue
			}
			var st struct {
				Slaves []struct {
					ID     string `json:"id"`
					Active bool   `json:"active"`
				} `json:"slaves"`
			}
			if err := getJSON(addr, "/master/state", &st); err != nil {
				continue
			}
			k := 0
			for _, s := range st.Slaves {
				if s.Active {
					k++
				}
			}
			return k == n, fmt.Sprintf("%d active agents", k)
		}
		return false, "no master answers"
	})
}

// sandboxRuns maps task ID -> container run directories of the framework
// on both agents (one per launch).
func (c *haCompatCluster) sandboxRuns(fwID string) map[string][]string {
	out := map[string][]string{}
	for _, d := range c.agentDirs {
		dirs, _ := filepath.Glob(filepath.Join(d, "slaves", "*", "frameworks", fwID, "executors", "*", "runs", "*"))
		for _, r := range dirs {
			if fi, err := os.Lstat(r); err == nil && fi.IsDir() {
				task := filepath.Base(filepath.Dir(filepath.Dir(r)))
				out[task] = append(out[task], filepath.Base(r))
			}
		}
	}
	return out
}

// liveExecutors counts, per task ID, the live executors in the agents' /state.
func (c *haCompatCluster) liveExecutors() (map[string]int, error) {
	out := map[string]int{}
	for _, p := range c.agentPorts {
		var st struct {
			Frameworks []struct {
				Executors []struct {
					ID string `json:"id"`
				} `json:"executors"`
			} `json:"frameworks"`
		}
		if err := getJSON(net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), "/state", &st); err != nil {
			return nil, err
		}
		for _, f := range st.Frameworks {
			for _, e := range f.Executors {
				out[e.ID]++
			}
		}
	}
	return out, nil
}

// removeContainers deletes every container the agents created.
func (c *haCompatCluster) removeContainers(t *testing.T) {
	var ids []string
	for _, d := range c.agentDirs {
		dirs, _ := filepath.Glob(filepath.Join(d, "slaves", "*", "frameworks", "*", "executors", "*", "runs", "*"))
		for _, r := range dirs {
			if fi, err := os.Lstat(r); err == nil && fi.IsDir() {
				ids = append(ids, filepath.Base(r))
			}
		}
	}
	sort.Strings(ids)
	ctr := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", "mesosd"}, args...)...).Run()
	}
	for _, id := range ids {
		_ = ctr("tasks", "kill", "--signal", "SIGKILL", id)
		for i := 0; i < 30; i++ {
			if ctr("tasks", "rm", "--force", id) == nil || ctr("tasks", "ps", id) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = ctr("containers", "rm", id)
	}
}

// haContainerd returns the containerd socket: MESOSD_CONTAINERD_SOCKET if
// it answers, else a private one started for this test and stopped after.
func haContainerd(t *testing.T) string {
	t.Helper()
	answers := func(sock string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "ctr", "--address", sock, "--timeout", "3s", "version").Run() == nil
	}
	if s := os.Getenv("MESOSD_CONTAINERD_SOCKET"); s != "" && answers(s) {
		return s
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "containerd-dev.sh"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "mesosd-compat-ha-ctrd-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	// Registered first: runs after the cluster's cleanup (LIFO).
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Logf("stopping private containerd: %v: %s", err, out)
		}
		_ = os.RemoveAll(dir)
	})
	out, err := exec.Command(script, "start", dir).Output()
	if err != nil {
		t.Fatalf("%s start %s: %v", script, dir, err)
	}
	return strings.TrimSpace(string(out))
}

// haKillAt is how many tasks must be accepted before the leader is killed:
// def unless MESOSD_HA_KILL_AT says otherwise, to explore other phases of
// the launch load by hand.
func haKillAt(def int) int {
	if n, err := strconv.Atoi(os.Getenv("MESOSD_HA_KILL_AT")); err == nil && n > 0 {
		return n
	}
	return def
}

// haKillRunning delays the kill until that many tasks were reported
// RUNNING (0: do not wait), so the failover meets status updates in flight
// instead of launches; MESOSD_HA_KILL_RUNNING overrides def.
func haKillRunning(def int) int {
	if n, err := strconv.Atoi(os.Getenv("MESOSD_HA_KILL_RUNNING")); err == nil && n >= 0 {
		return n
	}
	return def
}
