package master

import (
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/recordio"
)

// The operator API's SUBSCRIBE (mesos.v1.master.Call.SUBSCRIBE): a RecordIO
// stream that starts with SUBSCRIBED carrying the whole GET_STATE, then
// carries TASK_ADDED/TASK_UPDATED, AGENT_ADDED/AGENT_REMOVED and
// FRAMEWORK_ADDED/UPDATED/REMOVED as the leader's state changes, and a
// HEARTBEAT every heartbeat interval. Only the leader serves it (followers
// redirect) and a lost leadership ends every stream, as in Mesos.
//
// Invariants: the loop owns opSubs; events are built on the loop from
// copies (the loop mutates its tasks in place) and encoded by each stream's
// goroutine; a subscriber that falls opSubscriberQueueMax events behind is
// cut off instead of growing the master's memory (it re-subscribes and gets
// a fresh SUBSCRIBED state). With no subscriber, publishing costs one map
// length check.

// opSubscriberQueueMax bounds the events queued for one operator stream.
const opSubscriberQueueMax = 50000

type opSubscriber struct {
	id uint64
	q  *queue[*masterpb.Event]
}

func (m *Master) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request, out codec.Codec) {
	if err := m.linearizable(r.Context()); err != nil {
		m.mapError(w, r, err)
		return
	}
	var (
		sub    *opSubscriber
		first  []byte
		encErr error
	)
	if err := m.do(r.Context(), func() {
		if !m.leaderOn {
			return
		}
		// Encoded on the loop: GET_STATE refers to live state.
		first, encErr = out.Marshal(&masterpb.Event{
			Type: masterpb.Event_SUBSCRIBED.Enum(),
			Subscribed: &masterpb.Event_Subscribed{
				GetState:                 m.operatorRead(masterpb.Call_GET_STATE).GetGetState(),
				HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
			},
		})
		if encErr != nil {
			return
		}
		if m.opSubs == nil {
			m.opSubs = map[uint64]*opSubscriber{}
		}
		m.opSubSeq++
		sub = &opSubscriber{id: m.opSubSeq, q: newQueue[*masterpb.Event](opSubscriberQueueMax)}
		m.opSubs[sub.id] = sub
	}); err != nil {
		m.mapError(w, r, err)
		return
	}
	if encErr != nil {
		m.mapError(w, r, fmt.Errorf("encode operator SUBSCRIBED: %w", encErr))
		return
	}
	if sub == nil {
		m.mapError(w, r, ErrNotLeader) // leadership lost since the ReadIndex
		return
	}
	id := sub.id
	defer m.post(func() { m.dropOperatorStream(id) })
	heartbeat, err := out.Marshal(&masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()})
	if err != nil {
		m.mapError(w, r, fmt.Errorf("encode operator HEARTBEAT: %w", err))
		return
	}
	w.Header().Set("Content-Type", out.ContentType())
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	if rw.WriteRecord(first) != nil {
		return
	}
	pump(r.Context(), rw, sub.q, out, heartbeat, m.cfg.HeartbeatInterval, m.log.Warn)
}

func (m *Master) dropOperatorStream(id uint64) {
	if s, ok := m.opSubs[id]; ok {
		delete(m.opSubs, id)
		s.q.close()
	}
}

// closeOperatorStreams ends every operator stream (leadership lost).
func (m *Master) closeOperatorStreams() {
	for id, s := range m.opSubs {
		delete(m.opSubs, id)
		s.q.close()
	}
}

// publishOperator sends the event build returns to every operator stream;
// build runs only if there is one. The op* helpers check for subscribers
// before calling it: their closures escape, and launches and
// re-registration storms call them once per task.
func (m *Master) publishOperator(build func() *masterpb.Event) {
	if len(m.opSubs) == 0 {
		return
	}
	ev := build()
	for id, s := range m.opSubs {
		if !s.q.push(ev) {
			delete(m.opSubs, id)
			m.log.Warn("operator event stream cut off: the subscriber fell too far behind", "queued_max", opSubscriberQueueMax)
		}
	}
}

// opTaskAdded publishes TASK_ADDED for a task the master just learned.
func (m *Master) opTaskAdded(t *task) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_TASK_ADDED.Enum(),
			TaskAdded: &masterpb.Event_TaskAdded{Task: proto.Clone(t.t).(*mesos.Task)}}
	})
}

// opTaskUpdated publishes TASK_UPDATED: st is the status the master just
// processed, state the task's latest state.
func (m *Master) opTaskUpdated(fwID string, st *mesos.TaskStatus, state mesos.TaskState) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_TASK_UPDATED.Enum(),
			TaskUpdated: &masterpb.Event_TaskUpdated{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(fwID)},
				Status:      proto.Clone(st).(*mesos.TaskStatus),
				State:       state.Enum(),
			}}
	})
}

// opTaskStateChanged publishes TASK_UPDATED for a state the master set
// itself (t.setState), with the status it recorded.
func (m *Master) opTaskStateChanged(t *task) {
	if len(m.opSubs) == 0 {
		return
	}
	if sts := t.t.GetStatuses(); len(sts) > 0 {
		m.opTaskUpdated(t.frameworkID(), sts[len(sts)-1], t.state())
	}
}

// opAgentAdded publishes AGENT_ADDED for a registered or re-registered agent.
func (m *Master) opAgentAdded(a *agent) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_AGENT_ADDED.Enum(),
			AgentAdded: &masterpb.Event_AgentAdded{Agent: proto.Clone(m.agentProto(a)).(*masterpb.Response_GetAgents_Agent)}}
	})
}

// opAgentRemoved publishes AGENT_REMOVED (unreachable, gone or shut down).
func (m *Master) opAgentRemoved(id string) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_AGENT_REMOVED.Enum(),
			AgentRemoved: &masterpb.Event_AgentRemoved{AgentId: &mesos.AgentID{Value: proto.String(id)}}}
	})
}

// opFrameworkAdded publishes FRAMEWORK_ADDED for a new framework.
func (m *Master) opFrameworkAdded(f *framework) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_FRAMEWORK_ADDED.Enum(),
			FrameworkAdded: &masterpb.Event_FrameworkAdded{Framework: proto.Clone(m.frameworkProto(f)).(*masterpb.Response_GetFrameworks_Framework)}}
	})
}

// opFrameworkUpdated publishes FRAMEWORK_UPDATED (re-subscribed,
// disconnected, or its FrameworkInfo changed).
func (m *Master) opFrameworkUpdated(f *framework) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_FRAMEWORK_UPDATED.Enum(),
			FrameworkUpdated: &masterpb.Event_FrameworkUpdated{Framework: proto.Clone(m.frameworkProto(f)).(*masterpb.Response_GetFrameworks_Framework)}}
	})
}

// opFrameworkRemoved publishes FRAMEWORK_REMOVED (torn down or failed over
// past its timeout).
func (m *Master) opFrameworkRemoved(info *mesos.FrameworkInfo) {
	if len(m.opSubs) == 0 {
		return
	}
	m.publishOperator(func() *masterpb.Event {
		return &masterpb.Event{Type: masterpb.Event_FRAMEWORK_REMOVED.Enum(),
			FrameworkRemoved: &masterpb.Event_FrameworkRemoved{FrameworkInfo: proto.Clone(info).(*mesos.FrameworkInfo)}}
	})
}
