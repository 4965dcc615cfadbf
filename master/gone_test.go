package master

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func markGone(t *testing.T, tm *testMaster, id string) int {
	t.Helper()
	call := &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(), MarkAgentGone: &masterpb.Call_MarkAgentGone{}}
	if id != "" {
		call.MarkAgentGone.AgentId = &mesos.AgentID{Value: proto.String(id)}
	}
	code, _, _ := operatorCall(t, tm, codec.JSON, call)
	return code
}

// MARK_AGENT_GONE: a connected agent is shut down and removed, its tasks
// and the tasks unreachable on another gone agent end TASK_GONE_BY_OPERATOR,
// the agents can never re-register, and the call is idempotent.
func TestMarkAgentGone(t *testing.T) {
	cfg := testConfig(t)
	cfg.AgentPingTimeout = 20 * time.Millisecond
	cfg.MaxAgentPingTimeouts = 2
	tm := startMaster(t, cfg)
	a := tm.addAgent(agentOpts{hostname: "a.example"})
	s := tm.subscribe(codecJSON, frameworkInfo("pa", pa))
	w := operatorSubscribe(t, tm, codec.JSON)
	w.next("SUBSCRIBED")

	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "on-a", a, "cpus:1"))
	a.runTask("on-a")
	a.sendUpdate(s.fid, "on-a", mesos.TaskState_TASK_RUNNING)
	s.update("on-a", mesos.TaskState_TASK_RUNNING)
	b := tm.addAgent(agentOpts{hostname: "b.example"})
	s.launch([]*mesos.Offer{s.offer(b)}, cmdTask(t, "on-b", b, "cpus:1"))
	b.runTask("on-b")
	// b becomes unreachable: its task is listed as unreachable.
	b.ignorePings.Store(true)
	s.update("on-b", mesos.TaskState_TASK_UNREACHABLE)
	b.events.waitEnd(t, "unreachable agent's stream")

	if code := markGone(t, tm, ""); code != http.StatusBadRequest {
		t.Fatalf("MARK_AGENT_GONE without agent_id: %d, want 400", code)
	}
	if code := markGone(t, tm, "no-such-agent"); code != http.StatusNotFound {
		t.Fatalf("MARK_AGENT_GONE of an unknown agent: %d, want 404", code)
	}

	if code := markGone(t, tm, a.id); code != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE %s: %d", a.id, code)
	}
	st := s.update("on-a", mesos.TaskState_TASK_GONE_BY_OPERATOR)
	if st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
		t.Fatalf("update for a task of a gone agent: %v", st)
	}
	if ev := a.take("SHUTDOWN of the gone agent", pb.AgentEvent_SHUTDOWN, nil); ev.GetShutdown().GetMessage() == "" {
		t.Fatalf("SHUTDOWN without a message: %v", ev)
	}
	w.expect(masterpb.Event_TASK_UPDATED, func(ev *masterpb.Event) bool {
		return ev.GetTaskUpdated().GetState() == mesos.TaskState_TASK_GONE_BY_OPERATOR
	})
	w.expect(masterpb.Event_AGENT_REMOVED, func(ev *masterpb.Event) bool {
		return ev.GetAgentRemoved().GetAgentId().GetValue() == a.id
	})
	if code := markGone(t, tm, a.id); code != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE again: %d, want 200 (idempotent)", code)
	}

	if code := markGone(t, tm, b.id); code != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE of unreachable %s: %d", b.id, code)
	}
	if st := s.update("on-b", mesos.TaskState_TASK_GONE_BY_OPERATOR); st.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Fatalf("update for an unreachable task of a gone agent: %v", st)
	}
	fw, _ := tm.stateFramework(s.fid)
	if ut := jsonList(t, fw, "unreachable_tasks"); len(ut) != 0 {
		t.Fatalf("unreachable_tasks after its agent is gone = %v, want none", ut)
	}
	_, _, r := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	if n := len(r.GetGetAgents().GetAgents()); n != 0 {
		t.Fatalf("GET_AGENTS lists %d agents after both are gone", n)
	}
	_, _, r = operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
	gone := 0
	for _, task := range r.GetGetTasks().GetCompletedTasks() {
		if task.GetState() == mesos.TaskState_TASK_GONE_BY_OPERATOR {
			gone++
		}
	}
	if gone != 2 {
		t.Fatalf("GET_TASKS lists %d completed TASK_GONE_BY_OPERATOR tasks, want 2: %v", gone, r)
	}

	// A gone agent is told to shut down when it tries to come back; the
	// master restarted on the same registry still refuses it.
	for i := 0; i < 2; i++ {
		if i == 1 {
			tm = tm.restart()
		}
		body, err := proto.Marshal(&pb.AgentSubscribe{Info: &mesos.AgentInfo{
			Id: &mesos.AgentID{Value: proto.String(a.id)}, Hostname: proto.String("a.example"),
			Port: proto.Int32(5051), Resources: mustResources(t, agentResources),
		}})
		if err != nil {
			t.Fatal(err)
		}
		code, text := tm.post("/internal/agent/v1/subscribe", map[string]string{"Content-Type": codec.ContentTypeProtobuf}, body)
		if code != http.StatusOK || !strings.Contains(text, "marked gone") {
			t.Fatalf("gone agent re-registering: %d %q; want a SHUTDOWN event", code, text)
		}
	}
}
