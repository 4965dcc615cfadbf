package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// roleMode is how a framework declares its role: MULTI_ROLE with `roles`
// (msh) or the deprecated single `role` (example-scheduler). Offers must
// carry allocation_info only in the first case (client-quirks.md #2).
type roleMode struct {
	name      string
	multiRole bool
}

var roleModes = []roleMode{
	{"multi_role", true},
	{"role_star", false},
}

// TestScheduler drives a mesos-go scheduler through a framework's life:
// subscribe, offers, task launches and status updates, reconciliation, kill,
// decline/revive, teardown and a refused re-subscribe.
func TestScheduler(t *testing.T) {
	needCluster(t)
	for _, cc := range codecCases {
		for _, rm := range roleModes {
			t.Run(cc.name+"/"+rm.name, func(t *testing.T) {
				schedulerScenario(t, cc, rm)
			})
		}
	}
}

func schedulerScenario(t *testing.T, cc codecCase, rm roleMode) {
	name := fmt.Sprintf("compat-%s-%s", cc.name, rm.name)
	f := subscribe(t, cc, frameworkInfo(name, rm.multiRole))
	t.Logf("framework %s subscribed", f.id)

	var offer mesos.Offer
	if !t.Run("offers", func(t *testing.T) {
		offers := f.awaitOffers(t, eventTimeout)
		for _, o := range offers {
			checkOffer(t, f.id, o, rm.multiRole)
		}
		offer = offers[0]
	}) {
		return
	}

	// All launches go into one ACCEPT: one offer, one round of container
	// starts, and the updates of six tasks interleave on the stream.
	echoIDs := []string{"echo-0", "echo-1", "echo-2"}
	const argvID, failID, sleepID = "argv", "exit-1", "sleep"
	agentID := offer.AgentID.Value
	if !t.Run("launch", func(t *testing.T) {
		var tasks []mesos.TaskInfo
		for i, id := range echoIDs {
			tasks = append(tasks, commandTask(id, offer, shellCommand(fmt.Sprintf("echo hi-%d", i))))
		}
		tasks = append(tasks,
			commandTask(argvID, offer, argvCommand("/bin/echo", "hi", "argv")),
			commandTask(failID, offer, shellCommand("exit 1")),
			commandTask(sleepID, offer, shellCommand("sleep 100")))
		// A short filter: the rest of the offer comes back soon for the
		// decline/revive step.
		f.call(t, calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(offer.ID)).
			With(calls.RefuseSeconds(time.Second)))
	}) {
		return
	}

	for _, id := range append(echoIDs, argvID) {
		t.Run("finished/"+id, func(t *testing.T) {
			sts := f.statusesUntilTerminal(t, id)
			checkStates(t, id, sts, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FINISHED)
			checkReliable(t, sts, agentID)
		})
	}
	t.Run("failed/"+failID, func(t *testing.T) {
		sts := f.statusesUntilTerminal(t, failID)
		if got := sts[len(sts)-1].GetState(); got != mesos.TASK_FAILED {
			t.Errorf("task %s (exit 1): states %s, want it to end in TASK_FAILED", failID, statesString(sts))
		}
		checkReliable(t, sts, agentID)
	})
	if !t.Run("running/"+sleepID, func(t *testing.T) {
		e := f.await(t, "TASK_RUNNING for "+sleepID, eventTimeout, func(e *scheduler.Event) bool {
			return updateFor(sleepID)(e) && e.GetUpdate().Status.GetState() == mesos.TASK_RUNNING
		})
		checkReliable(t, []mesos.TaskStatus{e.GetUpdate().GetStatus()}, agentID)
	}) {
		return
	}

	t.Run("reconcile/implicit", func(t *testing.T) {
		f.call(t, calls.Reconcile())
		e := f.await(t, "implicit reconciliation answer for "+sleepID, callTimeout, reconcileAnswerFor(sleepID))
		checkReconcileAnswer(t, e.GetUpdate().GetStatus(), mesos.TASK_RUNNING)
	})
	t.Run("reconcile/explicit", func(t *testing.T) {
		const unknownWithAgent, unknownNoAgent = "no-such-task-1", "no-such-task-2"
		f.call(t, calls.Reconcile(calls.ReconcileTasks(map[string]string{
			sleepID:          agentID,
			unknownWithAgent: agentID,
			unknownNoAgent:   "",
		})))
		e := f.await(t, "explicit reconciliation answer for "+sleepID, callTimeout, reconcileAnswerFor(sleepID))
		checkReconcileAnswer(t, e.GetUpdate().GetStatus(), mesos.TASK_RUNNING)
		// Unknown tasks on a registered (or no) agent: TASK_LOST for a
		// framework without PARTITION_AWARE (mesos-api.md §3.5).
		for _, id := range []string{unknownWithAgent, unknownNoAgent} {
			e := f.await(t, "explicit reconciliation answer for unknown task "+id, callTimeout, reconcileAnswerFor(id))
			checkReconcileAnswer(t, e.GetUpdate().GetStatus(), mesos.TASK_LOST)
		}
	})

	t.Run("kill", func(t *testing.T) {
		f.call(t, calls.Kill(sleepID, agentID))
		sts := f.statusesUntilTerminal(t, sleepID)
		if got := sts[len(sts)-1].GetState(); got != mesos.TASK_KILLED {
			t.Errorf("KILL %s: states after kill %s, want TASK_KILLED", sleepID, statesString(sts))
		}
		for _, st := range sts {
			if st.GetState() == mesos.TASK_KILLING {
				t.Errorf("KILL %s: got TASK_KILLING, but the framework lacks the TASK_KILLING_STATE capability", sleepID)
			}
		}
		checkReliable(t, sts, agentID)
	})

	t.Run("decline_revive", func(t *testing.T) {
		// A DECLINE filter covers only subsets of that one offer's resources
		// (Mesos' RefusedOfferFilter, one per declined offer): resources
		// freed later, or the union of two declined offers, are offered
		// again. So first get one offer holding the agent's whole capacity
		// (all tasks are terminal by now; partial offers are declined
		// without a filter), then decline it for an hour: from then on
		// nothing may be offered until REVIVE.
		total := agentCPUs(t)
		var full *mesos.OfferID
		deadline := time.Now().Add(eventTimeout)
		for full == nil {
			e := f.await(t, fmt.Sprintf("an offer of all %.3f cpus of the agent", total), time.Until(deadline), isType(scheduler.Event_OFFERS))
			var partial []mesos.OfferID
			for _, o := range e.GetOffers().GetOffers() {
				if offerCPUs(o) >= total-1e-6 && full == nil {
					full = &o.ID
				} else {
					partial = append(partial, o.ID)
				}
			}
			if len(partial) > 0 {
				f.call(t, calls.Decline(partial...).With(calls.RefuseSeconds(0)))
			}
		}
		ids := []mesos.OfferID{*full}
		f.call(t, calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
		f.quiet(t, "OFFERS after DECLINE with refuse_seconds=3600", 3*time.Second, isType(scheduler.Event_OFFERS))
		f.call(t, calls.Revive())
		offers := f.awaitOffers(t, eventTimeout)
		for _, o := range offers {
			checkOffer(t, f.id, o, rm.multiRole)
		}
	})

	t.Run("teardown", func(t *testing.T) {
		f.call(t, &scheduler.Call{Type: scheduler.Call_TEARDOWN})
		select {
		case <-f.ended:
		case <-time.After(callTimeout):
			fatalf(t, "TEARDOWN: the subscription stream is still open after %v; Mesos closes it", callTimeout)
		}
		waitFor(t, "framework "+f.id+" in /master/state completed_frameworks", callTimeout, func() (bool, string) {
			st := getState(t)
			active := containsFramework(st.Frameworks, f.id)
			completed := containsFramework(st.CompletedFrameworks, f.id)
			return completed && !active, fmt.Sprintf("in frameworks=%v, in completed_frameworks=%v", active, completed)
		})
		// Re-subscribing with the removed id must be refused in-band: 200,
		// then an ERROR event as the first event.
		fi := frameworkInfo(f.info.GetName(), rm.multiRole)
		fi.ID = &mesos.FrameworkID{Value: f.id}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		resp, err := newCaller(cc).Call(ctx, calls.Subscribe(fi))
		if err != nil {
			fatalf(t, "re-SUBSCRIBE of removed framework %s: %v (want 200 and an ERROR event)", f.id, err)
		}
		defer resp.Close()
		var e scheduler.Event
		if err := resp.Decode(&e); err != nil {
			fatalf(t, "re-SUBSCRIBE of removed framework: reading first event: %v", err)
		}
		if e.GetType() != scheduler.Event_ERROR || !strings.Contains(e.GetError().GetMessage(), "Framework has been removed") {
			t.Errorf("re-SUBSCRIBE of removed framework %s: first event %s, want ERROR \"Framework has been removed\"", f.id, describeEvent(&e))
		}
	})
}

// offerCPUs is the cpus scalar of an offer.
func offerCPUs(o mesos.Offer) float64 {
	cpus := 0.0
	for _, r := range o.GetResources() {
		if r.GetName() == "cpus" {
			cpus += r.GetScalar().GetValue()
		}
	}
	return cpus
}

// agentCPUs is the total cpus of the (only) agent, from /master/state.
func agentCPUs(t *testing.T) float64 {
	t.Helper()
	st := getState(t)
	if len(st.Slaves) != 1 {
		fatalf(t, "/master/state lists %d agents, want 1", len(st.Slaves))
	}
	return st.Slaves[0].Resources.CPUs
}

// checkOffer checks an offer's identity fields and the allocation_info
// rule: present (role "*") on the offer and every resource for MULTI_ROLE
// frameworks, absent everywhere for the others.
func checkOffer(t *testing.T, frameworkID string, o mesos.Offer, multiRole bool) {
	t.Helper()
	if o.ID.Value == "" || o.AgentID.Value == "" || o.GetHostname() == "" {
		t.Errorf("offer lacks id, agent_id or hostname: %v", o)
	}
	if got := o.FrameworkID.Value; got != frameworkID {
		t.Errorf("offer %s: framework_id %q, want %q", o.ID.Value, got, frameworkID)
	}
	names := map[string]bool{}
	for _, r := range o.GetResources() {
		names[r.GetName()] = true
	}
	if !names["cpus"] || !names["mem"] {
		t.Errorf("offer %s has no cpus or mem: %v", o.ID.Value, o.GetResources())
	}
	if multiRole {
		if got := o.GetAllocationInfo().GetRole(); o.AllocationInfo == nil || got != "*" {
			t.Errorf("offer %s to a MULTI_ROLE framework: allocation_info %v, want {role:\"*\"}", o.ID.Value, o.AllocationInfo)
		}
		for _, r := range o.GetResources() {
			if r.AllocationInfo == nil || r.GetAllocationInfo().GetRole() != "*" {
				t.Errorf("offer %s to a MULTI_ROLE framework: resource %s has allocation_info %v, want {role:\"*\"}", o.ID.Value, r.GetName(), r.AllocationInfo)
			}
		}
		return
	}
	if o.AllocationInfo != nil {
		t.Errorf("offer %s to a non-MULTI_ROLE framework carries allocation_info %v; Mesos strips it", o.ID.Value, o.AllocationInfo)
	}
	for _, r := range o.GetResources() {
		if r.AllocationInfo != nil {
			t.Errorf("offer %s to a non-MULTI_ROLE framework: resource %s carries allocation_info %v; Mesos strips it", o.ID.Value, r.GetName(), r.AllocationInfo)
		}
	}
}

// commandTask is a command task (no executor) of 0.1 cpu and 32 MB. Its
// resources carry the offer's allocation_info, as a MULTI_ROLE framework
// must (for the others the offer has none and none is set).
func commandTask(id string, offer mesos.Offer, cmd *mesos.CommandInfo) mesos.TaskInfo {
	res := mesos.Resources{resources.NewCPUs(0.1).Resource, resources.NewMemory(32).Resource}
	if ai := offer.GetAllocationInfo(); ai != nil {
		for i := range res {
			res[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: ai.Role}
		}
	}
	return mesos.TaskInfo{
		Name:      id,
		TaskID:    mesos.TaskID{Value: id},
		AgentID:   offer.AgentID,
		Resources: res,
		Command:   cmd,
	}
}

// shellCommand runs value with `/bin/sh -c` (CommandInfo.shell defaults to true).
func shellCommand(value string) *mesos.CommandInfo {
	return &mesos.CommandInfo{Value: &value}
}

// argvCommand runs an executable directly: shell=false, value is the
// executable and arguments the full argv including argv[0], as msh sends it.
func argvCommand(argv ...string) *mesos.CommandInfo {
	shell := false
	return &mesos.CommandInfo{Value: &argv[0], Shell: &shell, Arguments: argv}
}

// checkStates asserts the exact state sequence of a task's updates.
func checkStates(t *testing.T, taskID string, sts []mesos.TaskStatus, want ...mesos.TaskState) {
	t.Helper()
	ok := len(sts) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = sts[i].GetState() == want[i]
	}
	if !ok {
		var w []string
		for _, s := range want {
			w = append(w, s.String())
		}
		t.Errorf("task %s: states %s, want %s", taskID, statesString(sts), strings.Join(w, "→"))
	}
}

// checkReliable asserts that executor/agent updates are reliable: a 16-byte
// uuid (which the harness acknowledged) and the task's agent_id.
func checkReliable(t *testing.T, sts []mesos.TaskStatus, agentID string) {
	t.Helper()
	for _, st := range sts {
		if n := len(st.GetUUID()); n != 16 {
			t.Errorf("task %s %s: uuid has %d bytes, want 16 (updates from the agent/executor are reliable)", st.TaskID.Value, st.GetState(), n)
		}
		// Mesos' command executor sets a reason only for special kills
		// (health checks, max_completion_time); a set-but-zero reason shows
		// up as REASON_COMMAND_EXECUTOR_FAILED in every client.
		if st.Reason != nil {
			t.Errorf("task %s %s: reason %s is set; the command executor sends none", st.TaskID.Value, st.GetState(), st.GetReason())
		}
		if got := st.GetAgentID().GetValue(); got != agentID {
			t.Errorf("task %s %s: agent_id %q, want %q", st.TaskID.Value, st.GetState(), got, agentID)
		}
	}
}

// checkReconcileAnswer asserts the shape of a master-generated
// reconciliation update (mesos-api.md §1.8): no uuid, SOURCE_MASTER,
// REASON_RECONCILIATION, the expected state.
func checkReconcileAnswer(t *testing.T, st mesos.TaskStatus, want mesos.TaskState) {
	t.Helper()
	id := st.TaskID.Value
	if st.GetState() != want {
		t.Errorf("reconcile %s: state %s, want %s", id, st.GetState(), want)
	}
	if len(st.GetUUID()) != 0 {
		t.Errorf("reconcile %s: answer carries a uuid; master-generated updates must not (they are not acknowledged)", id)
	}
	if st.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("reconcile %s: source %s, want SOURCE_MASTER", id, st.GetSource())
	}
}

func containsFramework(fws []stateFramework, id string) bool {
	for _, fw := range fws {
		if fw.ID == id {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			fatalf(t, "%s: not true after %v (%s)", what, timeout, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
