package master

import (
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func TestAgentProtocolErrors(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})

	// A call with a stream the master does not know: 403, re-subscribe.
	stale := &fakeAgent{t: t, tm: tm, id: a.id, streamID: "stale"}
	if code := stale.send(&pb.AgentCall{Type: pb.AgentCall_PONG.Enum()}); code != http.StatusForbidden {
		t.Errorf("agent call on an unknown stream: HTTP %d, want 403", code)
	}
	// Status updates from agents are reliable: they must carry a uuid.
	code := a.send(&pb.AgentCall{Type: pb.AgentCall_STATUS_UPDATE.Enum(), StatusUpdate: &pb.StatusUpdate{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("f")},
		Status:      &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("t")}, State: mesos.TaskState_TASK_RUNNING.Enum()},
		Timestamp:   proto.Float64(1),
	}})
	if code != http.StatusBadRequest {
		t.Errorf("STATUS_UPDATE without uuid: HTTP %d, want 400", code)
	}
	if code := a.send(&pb.AgentCall{Type: pb.AgentCall_STATUS_UPDATE.Enum()}); code != http.StatusBadRequest {
		t.Errorf("STATUS_UPDATE without status_update: HTTP %d, want 400", code)
	}
	// Subscribe preamble.
	if code, _ := tm.post("/internal/agent/v1/subscribe", nil, []byte{}); code != http.StatusBadRequest {
		t.Errorf("agent subscribe without Content-Type: HTTP %d, want 400", code)
	}
	bad, _ := proto.Marshal(&pb.AgentSubscribe{Info: &mesos.AgentInfo{Hostname: proto.String("h"), Resources: []*mesos.Resource{{
		Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(-4)},
	}}}})
	if code, body := tm.post("/internal/agent/v1/subscribe", map[string]string{"Content-Type": codec.ContentTypeProtobuf}, bad); code != http.StatusBadRequest {
		t.Errorf("agent subscribe with negative cpus: HTTP %d (%s), want 400", code, body)
	}
	// The master stays healthy: the agent is still there.
	if m := tm.metrics(); m["master/slaves_active"] != 1 {
		t.Errorf("slaves_active = %v, want 1", m["master/slaves_active"])
	}
}

// An agent marked unreachable comes back with its tasks: the registry marks
// it reachable again and the master rebuilds its tasks.
func TestUnreachableAgentComesBack(t *testing.T) {
	cfg := testConfig(t)
	cfg.AgentPingTimeout = 20 * time.Millisecond
	cfg.MaxAgentPingTimeouts = 2
	tm := startMaster(t, cfg)
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, frameworkInfo("fw", pa))
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
	run := a.runTask("t1")
	a.ignorePings.Store(true)
	s.update("t1", mesos.TaskState_TASK_UNREACHABLE)
	a.events.waitEnd(t, "unreachable agent's stream")

	t1 := &mesos.Task{
		Name: proto.String("task t1"), TaskId: run.GetTask().GetTaskId(), FrameworkId: run.GetFramework().GetId(),
		AgentId: &mesos.AgentID{Value: proto.String(a.id)}, State: mesos.TaskState_TASK_RUNNING.Enum(),
		Resources: run.GetTask().GetResources(),
	}
	a2 := tm.addAgent(agentOpts{id: a.id, tasks: []*mesos.Task{t1}, frameworks: []*mesos.FrameworkInfo{run.GetFramework()}})
	s.waitOffered(a2, "cpus:3")
	agentNoOveroffer(t, tm, a2.id)
	m := tm.metrics()
	if m["master/slaves_unreachable"] != 0 || m["master/slaves_active"] != 1 {
		t.Errorf("after coming back: slaves_unreachable=%v slaves_active=%v, want 0 and 1", m["master/slaves_unreachable"], m["master/slaves_active"])
	}
	if st := tm.stateTask(s.fid, "t1"); st == nil || st["state"] != "TASK_RUNNING" {
		t.Errorf("t1 after the agent came back = %v, want TASK_RUNNING", st)
	}
}

// While an agent is unreachable, a partition-aware framework's task is listed
// under unreachable_tasks and reconciles as TASK_UNREACHABLE; when the agent
// comes back the task is active again, while the task of a framework that
// was told TASK_LOST is killed instead of resurrected (Mesos semantics).
func TestUnreachableTasksAndNonPartitionAwareKill(t *testing.T) {
	cfg := testConfig(t)
	cfg.AgentPingTimeout = 20 * time.Millisecond
	cfg.MaxAgentPingTimeouts = 2
	tm := startMaster(t, cfg)
	a := tm.addAgent(agentOpts{})
	paFw := tm.subscribe(codecJSON, frameworkInfo("pa", pa))
	paFw.launch([]*mesos.Offer{paFw.offer(a)}, cmdTask(t, "p1", a, "cpus:1"))
	runPA := a.runTask("p1")
	paFw.decline(3600, paFw.offer(a)) // leave the rest of the agent to legacy
	legacy := tm.subscribe(codecJSON, frameworkInfo("legacy"))
	legacy.launch([]*mesos.Offer{legacy.offer(a)}, cmdTask(t, "l1", a, "cpus:1"))
	runL := a.runTask("l1")

	a.ignorePings.Store(true)
	paFw.update("p1", mesos.TaskState_TASK_UNREACHABLE)
	legacy.update("l1", mesos.TaskState_TASK_LOST)
	a.events.waitEnd(t, "unreachable agent's stream")

	fw, _ := tm.stateFramework(paFw.fid)
	if ut := jsonList(t, fw, "unreachable_tasks"); len(ut) != 1 || ut[0]["id"] != "p1" {
		t.Fatalf("unreachable_tasks = %v, want p1", ut)
	}
	paFw.mustCall(&scheduler.Call{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(paFw.fid)},
		Type:        scheduler.Call_RECONCILE.Enum(),
		Reconcile:   &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{{TaskId: &mesos.TaskID{Value: proto.String("p1")}}}},
	})
	if st := paFw.update("p1", mesos.TaskState_TASK_UNREACHABLE); st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION || st.UnreachableTime == nil {
		t.Fatalf("reconciliation of an unreachable task: %v", st)
	}

	asTask := func(run *pb.AgentEvent_RunTask) *mesos.Task {
		return &mesos.Task{
			Name: run.GetTask().Name, TaskId: run.GetTask().GetTaskId(), FrameworkId: run.GetFramework().GetId(),
			AgentId: &mesos.AgentID{Value: proto.String(a.id)}, State: mesos.TaskState_TASK_RUNNING.Enum(),
			Resources: run.GetTask().GetResources(),
		}
	}
	a2 := tm.addAgent(agentOpts{id: a.id, tasks: []*mesos.Task{asTask(runPA), asTask(runL)},
		frameworks: []*mesos.FrameworkInfo{runPA.GetFramework(), runL.GetFramework()}})
	kill := a2.take("KILL_TASK for the non-partition-aware task", pb.AgentEvent_KILL_TASK, nil)
	if kill.GetKillTask().GetTaskId().GetValue() != "l1" {
		t.Fatalf("killed %v, want l1", kill.GetKillTask())
	}
	if st := tm.stateTask(paFw.fid, "p1"); st == nil || st["state"] != "TASK_RUNNING" {
		t.Fatalf("p1 after the agent came back = %v, want TASK_RUNNING", st)
	}
	if st := paFw.update("p1", mesos.TaskState_TASK_RUNNING); st.GetReason() != mesos.TaskStatus_REASON_AGENT_REREGISTERED {
		t.Fatalf("update for p1 after its agent came back: %v, want REASON_AGENT_REREGISTERED", st)
	}
	if fw, _ := tm.stateFramework(paFw.fid); len(jsonList(t, fw, "unreachable_tasks")) != 0 {
		t.Fatalf("p1 still listed unreachable after coming back")
	}
	if st := tm.stateTask(legacy.fid, "l1"); st != nil && st["state"] == "TASK_RUNNING" {
		t.Fatalf("l1 was resurrected as running after TASK_LOST: %v", st)
	}
}
