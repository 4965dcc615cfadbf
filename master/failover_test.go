package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func TestFrameworkFailover(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			fi := frameworkInfo("fw")
			fi.FailoverTimeout = proto.Float64(3600)
			old := tm.subscribe(cc.c, fi)
			old.launch([]*mesos.Offer{old.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
			a.runTask("t1")

			// Re-SUBSCRIBE with the ID on a new connection.
			s := tm.subscribe(cc.c, old.info)
			if s.fid != old.fid {
				t.Fatalf("re-subscribed as %q, want %q", s.fid, old.fid)
			}
			if s.streamID == old.streamID {
				t.Fatalf("re-subscription reused stream ID %q", s.streamID)
			}
			errEv := old.take("ERROR on the old stream", scheduler.Event_ERROR, nil)
			if errEv.GetError().GetMessage() != "Framework failed over" {
				t.Errorf("old stream ERROR %q, want \"Framework failed over\"", errEv.GetError().GetMessage())
			}
			old.events.waitEnd(t, "old subscription stream")

			// The old stream ID is dead, the new one works.
			if code := old.call(&scheduler.Call{Type: scheduler.Call_SUPPRESS.Enum()}); code != 400 {
				t.Errorf("call with the old stream ID: HTTP %d, want 400", code)
			}
			// Offers are regenerated for the new subscription, and the
			// framework's task survived the failover.
			s.offer(a)
			a.update(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
			s.update("t1", mesos.TaskState_TASK_RUNNING)
			if fw, _ := tm.stateFramework(s.fid); fw == nil || fw["connected"] != true || len(jsonList(t, fw, "tasks")) != 1 {
				t.Errorf("framework after failover = %v, want connected with 1 task", fw)
			}
		})
	}
}

func TestFrameworkFailoverTimeoutRemovesIt(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, frameworkInfo("fw")) // failover_timeout 0
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
	a.runTask("t1")

	s.cancel() // the scheduler goes away
	sd := a.take("SHUTDOWN_FRAMEWORK", pb.AgentEvent_SHUTDOWN_FRAMEWORK, nil)
	if sd.GetShutdownFramework().GetFrameworkId().GetValue() != s.fid {
		t.Errorf("SHUTDOWN_FRAMEWORK for %v, want %s", sd.GetShutdownFramework().GetFrameworkId(), s.fid)
	}
	waitUntil(t, "the framework is listed as completed", func() bool {
		_, completed := tm.stateFramework(s.fid)
		return completed
	})
	fw, _ := tm.stateFramework(s.fid)
	if n := len(jsonList(t, fw, "tasks")); n != 0 {
		t.Errorf("completed framework lists %d active tasks, want 0 (they are completed)", n)
	}
	if ct := findByID(jsonList(t, fw, "completed_tasks"), "t1"); ct == nil || ct["state"] != "TASK_KILLED" {
		t.Errorf("completed framework's completed_tasks = %v, want t1 TASK_KILLED", fw["completed_tasks"])
	}
	// Its resources are free: a new framework gets the whole agent.
	s2 := tm.subscribe(codecJSON, frameworkInfo("next"))
	s2.waitOffered(a, agentResources)

	// The agent's late update for the removed framework is acknowledged by
	// the master so the agent stops retrying.
	u := a.update(s.fid, "t1", mesos.TaskState_TASK_KILLED)
	ack := a.take("ACKNOWLEDGE for a removed framework", pb.AgentEvent_ACKNOWLEDGE, nil).GetAcknowledge()
	if string(ack.GetUuid()) != string(u) {
		t.Errorf("ACKNOWLEDGE uuid %x, want %x", ack.GetUuid(), u)
	}

	// And it cannot come back.
	back, code := tm.openStream(codecJSON, func() *mesos.FrameworkInfo {
		fi := frameworkInfo("fw")
		fi.Id = &mesos.FrameworkID{Value: proto.String(s.fid)}
		return fi
	}())
	if code != 200 {
		t.Fatalf("re-SUBSCRIBE of a removed framework: HTTP %d, want 200 + ERROR", code)
	}
	if ev := back.take("ERROR", scheduler.Event_ERROR, nil); ev.GetError().GetMessage() != "Framework has been removed" {
		t.Errorf("ERROR %q, want \"Framework has been removed\"", ev.GetError().GetMessage())
	}
	back.events.waitEnd(t, "removed framework's stream")
}

func TestTeardown(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			fi := frameworkInfo("fw")
			fi.FailoverTimeout = proto.Float64(3600)
			s := tm.subscribe(cc.c, fi)
			s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
			a.runTask("t1")

			s.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN.Enum()})
			a.take("SHUTDOWN_FRAMEWORK", pb.AgentEvent_SHUTDOWN_FRAMEWORK, nil)
			s.events.waitEnd(t, "torn-down framework's stream")
			fw, completed := tm.stateFramework(s.fid)
			if !completed {
				t.Fatalf("framework %s not in completed_frameworks after TEARDOWN (state entry %v)", s.fid, fw)
			}
			if code := s.call(&scheduler.Call{Type: scheduler.Call_SUPPRESS.Enum()}); code != 400 {
				t.Errorf("call after TEARDOWN: HTTP %d, want 400 (framework cannot be found)", code)
			}

			// Re-SUBSCRIBE at once with the old ID: ERROR, never a new
			// framework under the old ID.
			back, code := tm.openStream(cc.c, s.info)
			if code != 200 {
				t.Fatalf("re-SUBSCRIBE after TEARDOWN: HTTP %d, want 200 + ERROR", code)
			}
			if ev := back.take("ERROR", scheduler.Event_ERROR, nil); ev.GetError().GetMessage() != "Framework has been removed" {
				t.Errorf("ERROR %q, want \"Framework has been removed\"", ev.GetError().GetMessage())
			}
			back.events.waitEnd(t, "removed framework's stream")
			if m := tm.metrics(); m["master/frameworks_active"] != 0 {
				t.Errorf("frameworks_active = %v after TEARDOWN, want 0", m["master/frameworks_active"])
			}
		})
	}
}

// The registry survives a master restart on the same work dir; tasks come
// back with the agent's re-registration.
func TestMasterRestartAgentReregisters(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			fi := frameworkInfo("fw")
			fi.FailoverTimeout = proto.Float64(3600)
			s := tm.subscribe(cc.c, fi)
			s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1;mem:128"), cmdTask(t, "t2", a, "cpus:1;mem:128"))
			run1 := a.runTask("t1")
			a.runTask("t2")
			a.update(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
			s.ack(s.update("t1", mesos.TaskState_TASK_RUNNING))
			oldMasterID := tm.m.Info().GetId()

			tm = tm.restart()
			if tm.m.Info().GetId() == oldMasterID {
				t.Errorf("restarted master kept its ID %s; Mesos picks a new one every start", oldMasterID)
			}
			// The registry knows the framework (recovered) and the agent.
			st := tm.state()
			if f := findByID(jsonList(t, st, "frameworks"), s.fid); f == nil || f["recovered"] != true || f["connected"] != false {
				t.Errorf("framework after restart = %v, want recovered and disconnected", f)
			}
			if rs := jsonList(t, st, "recovered_slaves"); len(rs) != 1 {
				t.Errorf("recovered_slaves = %v, want the one agent", rs)
			}

			// The framework re-subscribes; until the agent is back, explicit
			// reconciliation of its task gets no answer (Mesos).
			s2 := tm.subscribe(cc.c, s.info)
			s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{
				{TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: &mesos.AgentID{Value: proto.String(a.id)}},
			}}})

			s2.noUpdate("t1", "explicit reconciliation while the agent is still recovered")

			// The agent re-registers with its ID and reports t1 (t2 is gone
			// with it: a restarted master knows no tasks, so it has nothing
			// to ask the agent about).
			t1 := &mesos.Task{
				Name: proto.String("task t1"), TaskId: run1.GetTask().GetTaskId(), FrameworkId: run1.GetFramework().GetId(),
				AgentId: &mesos.AgentID{Value: proto.String(a.id)}, State: mesos.TaskState_TASK_RUNNING.Enum(),
				Resources: run1.GetTask().GetResources(),
			}
			a.disconnect()
			a2 := tm.addAgent(agentOpts{id: a.id, tasks: []*mesos.Task{t1}, frameworks: []*mesos.FrameworkInfo{run1.GetFramework()}})
			// Now reconciliation answers, explicit and implicit.
			s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{
				{TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: &mesos.AgentID{Value: proto.String(a.id)}},
			}}})
			if st := s2.anyUpdate("t1"); st.GetState() != mesos.TaskState_TASK_RUNNING || st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION {
				t.Errorf("explicit reconciliation after re-registration: %v, want TASK_RUNNING REASON_RECONCILIATION", st)
			}
			s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{}})
			if st := s2.anyUpdate("t1"); st.GetState() != mesos.TaskState_TASK_RUNNING {
				t.Errorf("implicit reconciliation after re-registration: %v, want t1 TASK_RUNNING", st)
			}
			if got := a2.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_RECONCILE_TASKS }); len(got) > 0 {
				t.Errorf("master asked about tasks it cannot know after a restart: %s", describe(got))
			}
			if st := tm.stateTask(s.fid, "t1"); st == nil || st["state"] != "TASK_RUNNING" || st["slave_id"] != a.id {
				t.Errorf("t1 in state = %v, want TASK_RUNNING on %s", st, a.id)
			}
			// t1's resources are in use: offers leave them out.
			offered := sumOffers(t, s2.waitOffered(a2, "cpus:3;mem:896"))
			if offered.Contains(resourcesOf(t, mustResources(t, "cpus:4"))) {
				t.Errorf("offered %v although t1 uses 1 cpu", offered)
			}
			agentNoOveroffer(t, tm, a2.id)
			if m := tm.metrics(); m["master/slave_reregistrations"] != 1 {
				t.Errorf("slave_reregistrations = %v, want 1", m["master/slave_reregistrations"])
			}
		})
	}
}

// Tasks the master knows but the re-registering agent does not report are
// sent back to the agent for reconciliation.
func TestAgentReregistersWithoutKnownTask(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, func() *mesos.FrameworkInfo {
		fi := frameworkInfo("fw")
		fi.FailoverTimeout = proto.Float64(3600)
		return fi
	}())
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"), cmdTask(t, "t2", a, "cpus:1"))
	run1 := a.runTask("t1")
	a.runTask("t2")

	a.disconnect()
	t1 := &mesos.Task{
		Name: proto.String("task t1"), TaskId: run1.GetTask().GetTaskId(), FrameworkId: run1.GetFramework().GetId(),
		AgentId: &mesos.AgentID{Value: proto.String(a.id)}, State: mesos.TaskState_TASK_RUNNING.Enum(),
		Resources: run1.GetTask().GetResources(),
	}
	a2 := tm.addAgent(agentOpts{id: a.id, tasks: []*mesos.Task{t1}, frameworks: []*mesos.FrameworkInfo{run1.GetFramework()}})
	rt := a2.take("RECONCILE_TASKS", pb.AgentEvent_RECONCILE_TASKS, nil).GetReconcileTasks()
	if rt.GetFrameworkId().GetValue() != s.fid || len(rt.GetTaskIds()) != 1 || rt.GetTaskIds()[0].GetValue() != "t2" {
		t.Errorf("RECONCILE_TASKS = %v, want t2 of %s", rt, s.fid)
	}
	// The agent answers with a terminal update; the master forwards it.
	a2.update(s.fid, "t2", mesos.TaskState_TASK_LOST)
	st := s.update("t2", mesos.TaskState_TASK_LOST)
	s.ack(st)
	a2.take("ACKNOWLEDGE t2", pb.AgentEvent_ACKNOWLEDGE, nil)
	fw, _ := tm.stateFramework(s.fid)
	if findByID(jsonList(t, fw, "completed_tasks"), "t2") == nil || findByID(jsonList(t, fw, "tasks"), "t1") == nil {
		t.Errorf("after reconciliation: tasks %v completed %v, want t1 active and t2 completed", fw["tasks"], fw["completed_tasks"])
	}
	// t2's resources came back, t1's are still in use: never offer more
	// than the agent has.
	s.waitOffered(a2, "cpus:3")
	tm.forceAllocation()
	s.barrier()
	agentNoOveroffer(t, tm, a2.id)
}

// agentNoOveroffer checks used + offered <= total for an agent's cpus.
func agentNoOveroffer(t *testing.T, tm *testMaster, agentID string) {
	t.Helper()
	ag := findByID(jsonList(t, tm.state(), "slaves"), agentID)
	if ag == nil {
		t.Fatalf("agent %s not in state", agentID)
	}
	cpus := func(k string) float64 { v, _ := ag[k].(map[string]any)["cpus"].(float64); return v }
	if used, offered, total := cpus("used_resources"), cpus("offered_resources"), cpus("resources"); used+offered > total {
		t.Errorf("agent %s: used %v + offered %v cpus > total %v: resources in use were offered again", agentID, used, offered, total)
	}
}

func TestAgentPingTimeout(t *testing.T) {
	for _, partitionAware := range []bool{false, true} {
		t.Run(fmt.Sprintf("partition_aware=%v", partitionAware), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.AgentPingTimeout = 20 * time.Millisecond
			cfg.MaxAgentPingTimeouts = 2
			tm := startMaster(t, cfg)
			healthy := tm.addAgent(agentOpts{hostname: "healthy.example"})
			dead := tm.addAgent(agentOpts{hostname: "dead.example"})
			var caps []mesos.FrameworkInfo_Capability_Type
			want := mesos.TaskState_TASK_LOST
			if partitionAware {
				caps = append(caps, pa)
				want = mesos.TaskState_TASK_UNREACHABLE
			}
			s := tm.subscribe(codecJSON, frameworkInfo("fw", caps...))
			o := s.offer(dead)
			dead.ignorePings.Store(true)
			s.launch([]*mesos.Offer{o}, cmdTask(t, "t1", dead, "cpus:1"))
			dead.runTask("t1")

			st := s.anyUpdate("t1")
			if st.GetState() != want || st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED || st.Uuid != nil || st.GetUnreachableTime() == nil {
				t.Errorf("update for a task on an unreachable agent: %v, want %s REASON_AGENT_REMOVED with unreachable_time, no uuid", st, want)
			}
			dead.events.waitEnd(t, "unreachable agent's stream")
			waitUntil(t, "metrics list the agent as unreachable", func() bool {
				return tm.metrics()["master/slaves_unreachable"] == 1
			})
			m := tm.metrics()
			if m["master/slaves_active"] != 1 {
				t.Errorf("slaves_active = %v, want 1 (the healthy agent answers pings)", m["master/slaves_active"])
			}
			if !partitionAware && m["master/tasks_lost"] != 1 {
				t.Errorf("tasks_lost = %v, want 1", m["master/tasks_lost"])
			}
			if st := tm.state(); st["unreachable_slaves"] != 1.0 {
				t.Errorf("state unreachable_slaves = %v, want 1", st["unreachable_slaves"])
			}
			// Reconciliation now answers from the registry's view.
			s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{
				{TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: &mesos.AgentID{Value: proto.String(dead.id)}},
			}}})
			if st := s.anyUpdate("t1"); st.GetState() != want {
				t.Errorf("reconcile of a task on an unreachable agent: %v, want %s", st, want)
			}
			_ = healthy
		})
	}
}

// subscribeOnLoop runs SUBSCRIBE handlers back to back inside one loop turn,
// so that the second starts before the first one's Raft entry applies: the
// interleaving a busy or multi-master cluster produces.
func subscribeOnLoop(t *testing.T, tm *testMaster, before func(), infos ...*mesos.FrameworkInfo) []subscribeResult {
	t.Helper()
	results := make([]chan subscribeResult, len(infos))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := tm.m.do(ctx, func() {
		if before != nil {
			before()
		}
		for i, fi := range infos {
			ch := make(chan subscribeResult, 1)
			results[i] = ch
			call := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE.Enum(), FrameworkId: fi.Id, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: fi}}
			tm.m.subscribe(call, func(r subscribeResult) { ch <- r })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]subscribeResult, len(infos))
	for i, ch := range results {
		select {
		case out[i] = <-ch:
		case <-time.After(waitTimeout):
			t.Fatalf("SUBSCRIBE #%d got no reply", i+1)
		}
		if out[i].sub != nil {
			sub := out[i].sub
			t.Cleanup(sub.close)
		}
	}
	return out
}

func TestSubscribeRacingTeardown(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	s := tm.subscribe(codecJSON, frameworkInfo("fw"))
	res := subscribeOnLoop(t, tm, func() {
		tm.m.removeFramework(tm.m.frameworks[s.fid], "framework teardown")
	}, s.info)
	if res[0].err != nil || res[0].errorMessage != "Framework has been removed" {
		t.Fatalf("SUBSCRIBE racing TEARDOWN: %+v, want ERROR \"Framework has been removed\"", res[0])
	}
}

func TestSubscribeRacingSameUnknownID(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	fi := frameworkInfo("fw")
	fi.Id = &mesos.FrameworkID{Value: proto.String("from-another-cluster-0007")}
	res := subscribeOnLoop(t, tm, nil, fi, fi)
	for i, r := range res {
		if r.err != nil || r.errorMessage != "" || r.sub == nil {
			t.Errorf("SUBSCRIBE #%d with the same unknown ID: %+v, want a subscription", i+1, r)
		}
	}
	// The second one replaced the first, as a failover.
	first := res[0].sub.q.drain()
	if last := first[len(first)-1]; last.GetType() != scheduler.Event_ERROR || last.GetError().GetMessage() != "Framework failed over" {
		t.Errorf("first subscription's last event %v, want ERROR \"Framework failed over\"", last)
	}
}

// A KILL while the task's agent is disconnected is delivered when the agent
// re-registers; the agent's offers are rescinded meanwhile.
func TestKillWhileAgentDisconnected(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, frameworkInfo("fw"))
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
	run := a.runTask("t1")
	o := s.offer(a) // the rest of the agent

	a.disconnect()
	if r := s.take("RESCIND", scheduler.Event_RESCIND, nil); r.GetRescind().GetOfferId().GetValue() != o.GetId().GetValue() {
		t.Errorf("RESCIND %v, want offer %s", r.GetRescind().GetOfferId(), o.GetId().GetValue())
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL.Enum(), Kill: &scheduler.Call_Kill{TaskId: &mesos.TaskID{Value: proto.String("t1")}}})

	t1 := &mesos.Task{
		Name: proto.String("task t1"), TaskId: run.GetTask().GetTaskId(), FrameworkId: run.GetFramework().GetId(),
		AgentId: &mesos.AgentID{Value: proto.String(a.id)}, State: mesos.TaskState_TASK_RUNNING.Enum(),
		Resources: run.GetTask().GetResources(),
	}
	a2 := tm.addAgent(agentOpts{id: a.id, tasks: []*mesos.Task{t1}, frameworks: []*mesos.FrameworkInfo{run.GetFramework()}})
	if k := a2.take("KILL_TASK after re-registration", pb.AgentEvent_KILL_TASK, nil).GetKillTask(); k.GetTaskId().GetValue() != "t1" {
		t.Errorf("KILL_TASK %v, want t1", k)
	}
}

func TestOfferTimeoutRescinds(t *testing.T) {
	cfg := testConfig(t)
	cfg.OfferTimeout = 30 * time.Millisecond
	tm := startMaster(t, cfg)
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, frameworkInfo("fw"))
	o := s.offer(a)
	if r := s.take("RESCIND", scheduler.Event_RESCIND, nil); r.GetRescind().GetOfferId().GetValue() != o.GetId().GetValue() {
		t.Errorf("RESCIND %v, want offer %s", r.GetRescind().GetOfferId(), o.GetId().GetValue())
	}
	// The timed-out offer is invalid now; the resources are offered again.
	o2 := s.offer(a)
	if o2.GetId().GetValue() == o.GetId().GetValue() {
		t.Fatalf("re-offer reused offer ID %s", o.GetId().GetValue())
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT.Enum(), Accept: &scheduler.Call_Accept{
		OfferIds: offerIDs(o),
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{
			TaskInfos: []*mesos.TaskInfo{cmdTask(t, "late", a, "cpus:1")},
		}}},
	}})
	if st := s.anyUpdate("late"); st.GetState() != mesos.TaskState_TASK_LOST || st.GetReason() != mesos.TaskStatus_REASON_INVALID_OFFERS {
		t.Errorf("launch on a rescinded offer: %v, want TASK_LOST REASON_INVALID_OFFERS", st)
	}
}

func TestUpdateFramework(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			s := tm.subscribe(cc.c, frameworkInfo("before"))
			upd := proto.Clone(s.info).(*mesos.FrameworkInfo)
			upd.Name = proto.String("after")
			call := func(fi *mesos.FrameworkInfo) int {
				return s.call(&scheduler.Call{Type: scheduler.Call_UPDATE_FRAMEWORK.Enum(), UpdateFramework: &scheduler.Call_UpdateFramework{FrameworkInfo: fi}})
			}
			if code := call(upd); code != 200 {
				t.Fatalf("UPDATE_FRAMEWORK: HTTP %d, want 200", code)
			}
			if fw, _ := tm.stateFramework(s.fid); fw["name"] != "after" {
				t.Errorf("name after UPDATE_FRAMEWORK = %v, want after", fw["name"])
			}
			bad := proto.Clone(upd).(*mesos.FrameworkInfo)
			bad.User = proto.String("someone-else")
			if code := call(bad); code != 400 {
				t.Errorf("UPDATE_FRAMEWORK changing user: HTTP %d, want 400", code)
			}
		})
	}
}

func TestHeartbeats(t *testing.T) {
	cfg := testConfig(t)
	cfg.HeartbeatInterval = 10 * time.Millisecond
	tm := startMaster(t, cfg)
	s := tm.subscribe(codecs[1].c, frameworkInfo("fw"))
	for i := 0; i < 3; i++ {
		s.take("HEARTBEAT", scheduler.Event_HEARTBEAT, nil)
	}
}

func TestRootSubmissions(t *testing.T) {
	tm := startMaster(t, testConfig(t)) // RootSubmissions false
	fi := frameworkInfo("fw")
	fi.User = proto.String("root")
	s, code := tm.openStream(codecJSON, fi)
	if code != 200 {
		t.Fatalf("SUBSCRIBE as root: HTTP %d, want 200 + ERROR", code)
	}
	if ev := s.take("ERROR", scheduler.Event_ERROR, nil); ev.GetError().GetMessage() == "" {
		t.Errorf("ERROR without a message")
	}
	s.events.waitEnd(t, "refused subscription")
}

// After a master restart, an agent that never re-registers becomes
// unreachable after agent_reregister_timeout; until then reconciliation of
// its tasks is (rightly) not answered, afterwards it is.
func TestRecoveredAgentReregisterTimeout(t *testing.T) {
	for _, partitionAware := range []bool{false, true} {
		t.Run(fmt.Sprintf("partition_aware=%v", partitionAware), func(t *testing.T) {
			cfg := testConfig(t)
			tm := startMaster(t, cfg)
			a := tm.addAgent(agentOpts{})
			var caps []mesos.FrameworkInfo_Capability_Type
			want := mesos.TaskState_TASK_LOST
			if partitionAware {
				caps = append(caps, pa)
				want = mesos.TaskState_TASK_UNREACHABLE
			}
			fi := frameworkInfo("fw", caps...)
			fi.FailoverTimeout = proto.Float64(3600)
			s := tm.subscribe(codecJSON, fi)
			s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
			a.runTask("t1")

			tm.stop()
			cfg.AgentReregisterTimeout = 50 * time.Millisecond
			tm = startMaster(t, cfg)
			s2 := tm.subscribe(codecJSON, s.info)
			waitUntil(t, "the agent that did not come back is unreachable", func() bool {
				return tm.metrics()["master/slaves_unreachable"] == 1
			})
			if rs := jsonList(t, tm.state(), "recovered_slaves"); len(rs) != 0 {
				t.Errorf("recovered_slaves = %v after the timeout, want none", rs)
			}
			s2.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{
				{TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: &mesos.AgentID{Value: proto.String(a.id)}},
			}}})
			if st := s2.anyUpdate("t1"); st.GetState() != want {
				t.Errorf("reconcile of a task on an agent that never came back: %v, want %s", st, want)
			}
		})
	}
}

// The registry comes back from a Raft snapshot too, and ID counters keep
// counting across restarts (a restarted master never reuses a sequence
// number, though its master ID prefix is new).
func TestRestartFromSnapshot(t *testing.T) {
	for _, every := range []uint64{1, 3, 10000} {
		t.Run(fmt.Sprintf("snapshot_every=%d", every), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.SnapshotEvery = every
			tm := startMaster(t, cfg)
			a := tm.addAgent(agentOpts{})
			fi := frameworkInfo("fw")
			fi.FailoverTimeout = proto.Float64(3600)
			s := tm.subscribe(codecJSON, fi)
			gone := tm.subscribe(codecJSON, frameworkInfo("gone"))
			gone.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN.Enum()})
			gone.events.waitEnd(t, "torn-down stream")

			for i := 0; i < 2; i++ {
				tm = tm.restart()
				st := tm.state()
				if f := findByID(jsonList(t, st, "frameworks"), s.fid); f == nil || f["recovered"] != true {
					t.Fatalf("restart %d: framework %s not recovered: %v", i+1, s.fid, st["frameworks"])
				}
				if rs := jsonList(t, st, "recovered_slaves"); len(rs) != 1 {
					t.Fatalf("restart %d: recovered_slaves = %v, want the agent", i+1, rs)
				}
				back, _ := tm.openStream(codecJSON, gone.info)
				if ev := back.take("ERROR", scheduler.Event_ERROR, nil); ev.GetError().GetMessage() != "Framework has been removed" {
					t.Errorf("restart %d: removed framework re-subscribing: ERROR %q", i+1, ev.GetError().GetMessage())
				}
			}
			n := tm.subscribe(codecJSON, frameworkInfo("new"))
			if want := tm.m.Info().GetId() + "-0002"; n.fid != want {
				t.Errorf("framework after restarts = %q, want %q (sequence continues)", n.fid, want)
			}
			a2 := tm.addAgent(agentOpts{hostname: "other.example"})
			if want := tm.m.Info().GetId() + "-S1"; a2.id != want {
				t.Errorf("agent after restarts = %q, want %q (sequence continues)", a2.id, want)
			}
			_ = a
		})
	}
}
