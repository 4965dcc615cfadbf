package agent

import (
	"bytes"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// The task status update manager (Mesos' TaskStatusUpdateManager), run by
// the loop: one FIFO of updates per (framework, task) in the task record,
// checkpointed before anything is sent; only the head is in flight, and it
// is resent with doubling intervals until acknowledged.

type retryDue struct {
	key  taskKey
	uuid []byte
}

// statusUpdate records st as the task's latest state, queues it on the
// task's stream, checkpoints the stream, and sends it if it is the head.
func (a *Agent) statusUpdate(t *task, st *mesos.TaskStatus) {
	if a.fatal != nil {
		return
	}
	t.rec.State = st.State
	if st.GetSource() == mesos.TaskStatus_SOURCE_EXECUTOR {
		a.metrics.validStatusUpdates++
	}
	if isTerminal(st.GetState()) {
		a.metrics.terminal[st.GetState()]++
	}
	recorded := proto.Clone(st).(*mesos.TaskStatus)
	recorded.Data = nil
	// One status per state, the latest (Mesos' Executor::updateTaskState):
	// health updates repeat TASK_RUNNING, and a flapping check must not
	// grow the record without bound.
	if n := len(t.rec.Statuses); n > 0 && t.rec.Statuses[n-1].GetState() == st.GetState() {
		t.rec.Statuses[n-1] = recorded
	} else {
		t.rec.Statuses = append(t.rec.Statuses, recorded)
	}
	t.rec.Pending = append(t.rec.Pending, &mesosdpb.StatusUpdate{
		FrameworkId: proto.Clone(t.rec.GetFrameworkId()).(*mesos.FrameworkID),
		ExecutorId:  st.ExecutorId,
		AgentId:     st.AgentId,
		Status:      st,
		Timestamp:   proto.Float64(st.GetTimestamp()),
	})
	a.checkpointTask(t)
	if a.fatal != nil {
		return
	}
	attrs := []any{"framework_id", t.key().framework, "task_id", t.key().task, "state", st.GetState(), "source", st.GetSource()}
	if st.Reason != nil {
		attrs = append(attrs, "reason", st.GetReason())
	}
	if st.Healthy != nil {
		attrs = append(attrs, "healthy", st.GetHealthy())
	}
	if st.GetReason() == mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED {
		attrs = append(attrs, "check_status", checkStatusString(st.GetCheckStatus()))
	}
	if st.Message != nil {
		attrs = append(attrs, "message", st.GetMessage())
	}
	a.log.Info("status update", attrs...)
	if len(t.rec.Pending) == 1 {
		t.retryEvery = 0
		a.sendHead(t)
	}
}

// sendHead sends the head update (with the current latest_state) and arms
// its retry. While the agent is not registered it only arms nothing: all
// heads are flushed on (re-)registration.
func (a *Agent) sendHead(t *task) {
	t.stopRetry()
	if len(t.rec.GetPending()) == 0 || !a.registered {
		return
	}
	head := proto.Clone(t.rec.Pending[0]).(*mesosdpb.StatusUpdate)
	head.LatestState = t.rec.State
	if head.AgentId == nil || head.GetAgentId().GetValue() == "" {
		// Generated before the agent had an ID (recovery of a fresh
		// checkpoint): stamp it now.
		head.AgentId = &mesos.AgentID{Value: proto.String(a.agentID)}
		head.Status.AgentId = head.AgentId
	}
	if a.send(&mesosdpb.AgentCall{Type: mesosdpb.AgentCall_STATUS_UPDATE.Enum(), StatusUpdate: head}) {
		a.metrics.statusUpdatesSent++
	}
	if t.retryEvery == 0 {
		t.retryEvery = a.cfg.StatusUpdateRetryMin
	} else {
		t.retryEvery = min(2*t.retryEvery, a.cfg.StatusUpdateRetryMax)
	}
	key, id := t.key(), head.GetStatus().GetUuid()
	t.retryTimer = time.AfterFunc(t.retryEvery, func() { a.post(retryDue{key: key, uuid: id}) })
}

func (t *task) stopRetry() {
	if t.retryTimer != nil {
		t.retryTimer.Stop()
		t.retryTimer = nil
	}
}

func (a *Agent) onRetryDue(m retryDue) {
	t := a.tasks[m.key]
	if t == nil || len(t.rec.GetPending()) == 0 || !bytes.Equal(t.rec.Pending[0].GetStatus().GetUuid(), m.uuid) {
		return // acknowledged meanwhile
	}
	if !a.registered {
		return // flushed on re-registration
	}
	a.metrics.statusUpdateRetries++
	a.log.Info("resending unacknowledged status update", "framework_id", m.key.framework, "task_id", m.key.task,
		"state", t.rec.Pending[0].GetStatus().GetState(), "after", t.retryEvery)
	a.sendHead(t)
}

// acknowledge pops the head of a stream if uuid matches it; duplicates and
// unknown acknowledgements are ignored (Mesos logs and drops them).
func (a *Agent) acknowledge(fwID, taskID string, id []byte) {
	t := a.tasks[taskKey{fwID, taskID}]
	if t == nil || len(t.rec.GetPending()) == 0 || !bytes.Equal(t.rec.Pending[0].GetStatus().GetUuid(), id) {
		a.metrics.ignoredAcks++
		a.log.Debug("ignoring acknowledgement that matches no pending update", "framework_id", fwID, "task_id", taskID)
		return
	}
	a.metrics.acknowledgements++
	t.stopRetry()
	head := t.rec.Pending[0]
	t.rec.Pending = t.rec.Pending[1:]
	if len(t.rec.Pending) == 0 && isTerminal(head.GetStatus().GetState()) {
		// The terminal update is acknowledged: the stream is done.
		a.forget(t)
		return
	}
	a.checkpointTask(t)
	t.retryEvery = 0
	a.sendHead(t)
}
