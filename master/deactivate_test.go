package master

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func activationCall(t *testing.T, tm *testMaster, typ masterpb.Call_Type, id string) int {
	t.Helper()
	aid := &mesos.AgentID{Value: proto.String(id)}
	call := &masterpb.Call{Type: typ.Enum()}
	if typ == masterpb.Call_DEACTIVATE_AGENT {
		call.DeactivateAgent = &masterpb.Call_DeactivateAgent{AgentId: aid}
	} else {
		call.ReactivateAgent = &masterpb.Call_ReactivateAgent{AgentId: aid}
	}
	code, _, _ := operatorCall(t, tm, codec.JSON, call)
	return code
}

// DEACTIVATE_AGENT stops an agent's offers without touching its tasks;
// REACTIVATE_AGENT brings the offers back. Both are replicated.
func TestDeactivateReactivateAgent(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{hostname: "deact.example"})
	s := tm.subscribe(codec.Protobuf, frameworkInfo("deact"))
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1;mem:128"))
	a.runTask("t1")
	a.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_RUNNING)
	held := s.offer(a)

	if code := activationCall(t, tm, masterpb.Call_DEACTIVATE_AGENT, "no-such-agent"); code != http.StatusBadRequest {
		t.Fatalf("DEACTIVATE_AGENT of an unknown agent: %d, want 400", code)
	}
	if code := activationCall(t, tm, masterpb.Call_REACTIVATE_AGENT, a.id); code != http.StatusBadRequest {
		t.Fatalf("REACTIVATE_AGENT of an active agent: %d, want 400", code)
	}
	if code := activationCall(t, tm, masterpb.Call_DEACTIVATE_AGENT, a.id); code != http.StatusOK {
		t.Fatalf("DEACTIVATE_AGENT: %d", code)
	}
	s.take("RESCIND of the deactivated agent's offer", scheduler.Event_RESCIND, func(ev *scheduler.Event) bool {
		return ev.GetRescind().GetOfferId().GetValue() == held.GetId().GetValue()
	})
	tm.forceAllocation()
	s.noOffersFrom(a, "the agent is deactivated")
	if got := a.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_KILL_TASK }); len(got) > 0 {
		t.Fatalf("deactivation killed tasks: %s", describe(got))
	}
	deactivated := func(tm *testMaster) bool {
		_, _, r := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
		agents := r.GetGetAgents().GetAgents()
		if len(agents) != 1 {
			t.Fatalf("GET_AGENTS lists %d agents, want 1", len(agents))
		}
		legacy := jsonList(t, tm.state(), "slaves")
		if len(legacy) != 1 || legacy[0]["deactivated"] != agents[0].GetDeactivated() {
			t.Fatalf("/master/state slaves %v disagree with GET_AGENTS deactivated=%v", legacy, agents[0].GetDeactivated())
		}
		return agents[0].GetDeactivated()
	}
	if !deactivated(tm) {
		t.Fatal("GET_AGENTS: agent not deactivated")
	}

	// Replicated: a restarted master still keeps the agent unoffered.
	tm = tm.restart()
	a = tm.addAgent(agentOpts{id: a.id, hostname: "deact.example"})
	s = tm.subscribe(codec.Protobuf, frameworkInfo("after-restart"))
	tm.forceAllocation()
	s.noOffersFrom(a, "the agent is still deactivated after a master restart")
	if !deactivated(tm) {
		t.Fatal("deactivation lost in the master restart")
	}

	if code := activationCall(t, tm, masterpb.Call_REACTIVATE_AGENT, a.id); code != http.StatusOK {
		t.Fatalf("REACTIVATE_AGENT: %d", code)
	}
	s.offer(a)
	if deactivated(tm) {
		t.Fatal("GET_AGENTS: agent still deactivated after REACTIVATE_AGENT")
	}
}

// DRAIN_AGENT with mark_gone: once the agent's tasks are gone it is DRAINED
// and then marked gone, shut down and never offered again.
func TestDrainAgentMarkGone(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{hostname: "drain-gone.example"})
	s := tm.subscribe(codec.Protobuf, frameworkInfo("drain-gone"))
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1;mem:128"))
	a.runTask("t1")
	a.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_RUNNING)

	code, _, _ := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_DRAIN_AGENT.Enum(), DrainAgent: &masterpb.Call_DrainAgent{
		AgentId: &mesos.AgentID{Value: proto.String(a.id)}, MarkGone: proto.Bool(true),
	}})
	if code != http.StatusOK {
		t.Fatalf("DRAIN_AGENT: %d", code)
	}
	a.take("KILL_TASK t1", pb.AgentEvent_KILL_TASK, nil)
	a.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_KILLED)
	s.update("t1", mesos.TaskState_TASK_KILLED)
	tm.forceAllocation()
	a.take("SHUTDOWN of the drained agent", pb.AgentEvent_SHUTDOWN, nil)
	waitUntil(t, "the drained agent is gone", func() bool {
		var state pb.RegistryAgent_State
		_ = tm.m.do(context.Background(), func() {
			if ra, ok := tm.m.reg.Agent(a.id); ok {
				state = ra.GetState()
			}
		})
		return state == pb.RegistryAgent_GONE
	})
}
