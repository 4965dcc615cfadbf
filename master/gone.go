package master

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// The operator's MARK_AGENT_GONE: the operator declares that an agent (its
// machine) will never come back, so its tasks are gone for good. Once the
// registry has recorded the agent as GONE (replicated: a new leader refuses
// it too), the master shuts the agent down if it is connected, removes it,
// and reports every task it had, and every unreachable task of it, as
// TASK_GONE_BY_OPERATOR with REASON_AGENT_REMOVED_BY_OPERATOR. Marking a gone
// agent again answers 200 (idempotent); an unknown agent is a 404.

// ErrNotFound: the call names something the master does not know (404).
var ErrNotFound = errors.New("not found")

func (m *Master) serveMarkAgentGone(w http.ResponseWriter, r *http.Request, call *masterpb.Call) {
	id := call.GetMarkAgentGone().GetAgentId().GetValue()
	if id == "" {
		http.Error(w, "Failed to validate master::Call: Expecting 'mark_agent_gone.agent_id' to be present", http.StatusBadRequest)
		return
	}
	err, werr := await(r.Context(), m, func(reply func(error)) { m.markAgentGone(id, reply) })
	if werr != nil {
		err = werr
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK) // no body, so no Content-Type
}

func (m *Master) markAgentGone(id string, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	ra, ok := m.reg.Agent(id)
	switch {
	case ok && ra.GetState() == pb.RegistryAgent_GONE:
		reply(nil)
		return
	case !ok:
		reply(fmt.Errorf("%w: agent %q is neither registered nor unreachable", ErrNotFound, id))
		return
	}
	m.log.Warn("marking agent gone on the operator's request", "agent", id)
	m.propose(&pb.Command{Kind: &pb.Command_MarkAgentGone{MarkAgentGone: &pb.MarkAgentGone{
		AgentId: &mesos.AgentID{Value: proto.String(id)},
	}}}, func(err error) {
		if err != nil {
			reply(fmt.Errorf("record agent %q as gone: %w", id, err))
			return
		}
		m.removeGoneAgent(id)
		reply(nil)
	})
}

// removeGoneAgent applies a committed MarkAgentGone to the loop's state.
func (m *Master) removeGoneAgent(id string) {
	const msg = "Agent has been marked gone by the operator"
	if a, ok := m.agents[id]; ok {
		a.sendEvent(&pb.AgentEvent{Type: pb.AgentEvent_SHUTDOWN.Enum(), Shutdown: &pb.AgentEvent_Shutdown{Message: proto.String(msg)}})
		if a.conn != nil {
			a.conn.close() // after the SHUTDOWN: a closed queue still flushes
			a.conn = nil
		}
		for _, o := range a.offers {
			m.removeOffer(o, true, 0)
		}
		if !a.recovered {
			m.allocErr(m.alloc.RemoveAgent(id))
		}
		delete(m.agents, id)
		for key, t := range a.tasks {
			f := m.frameworks[key.framework]
			if f == nil {
				continue
			}
			if !isTerminal(t.state()) {
				m.goneByOperator(f, t, msg)
			}
			m.removeTask(f, t)
		}
		m.opAgentRemoved(id)
	}
	// Tasks that were unreachable on it are gone too.
	for _, f := range m.sortedFrameworks() {
		for _, t := range f.unreachableTasks() {
			if t.GetAgentId().GetValue() != id {
				continue
			}
			delete(f.unreachable, t.GetTaskId().GetValue())
			gone := &task{t: proto.Clone(t).(*mesos.Task)}
			m.goneByOperator(f, gone, msg)
			f.addCompleted(gone.t)
		}
	}
	m.metrics.inc("master/slave_removals")
	m.markAllDirty()
	m.version++
}

// goneByOperator moves t to TASK_GONE_BY_OPERATOR and tells its framework
// and the operator streams.
func (m *Master) goneByOperator(f *framework, t *task, msg string) {
	t.setState(mesos.TaskState_TASK_GONE_BY_OPERATOR, mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR.Enum(), msg)
	m.countState(mesos.TaskState_TASK_GONE_BY_OPERATOR)
	sts := t.t.GetStatuses()
	f.send(&scheduler.Event{Type: scheduler.Event_UPDATE.Enum(), Update: &scheduler.Event_Update{Status: proto.Clone(sts[len(sts)-1]).(*mesos.TaskStatus)}})
	m.opTaskStateChanged(t)
}
