package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// codecCase is one of the two wire formats of the scheduler API. Every test
// runs once per codec: mesosd has separate encoders and decoders for them.
type codecCase struct {
	name  string
	codec encoding.Codec
	// marshal and unmarshal use mesos-go's own generated code (gogo protobuf,
	// ffjson), so the bytes are exactly what a mesos-go client sends/expects.
	marshal   func(*scheduler.Call) ([]byte, error)
	unmarshal func([]byte, *scheduler.Event) error
}

func (c codecCase) contentType() string { return c.codec.Type.ContentType() }

var codecCases = []codecCase{
	{
		name:      "protobuf",
		codec:     codecs.ByMediaType[codecs.MediaTypeProtobuf],
		marshal:   func(c *scheduler.Call) ([]byte, error) { return c.Marshal() },
		unmarshal: func(b []byte, e *scheduler.Event) error { return e.Unmarshal(b) },
	},
	{
		name:      "json",
		codec:     codecs.ByMediaType[codecs.MediaTypeJSON],
		marshal:   func(c *scheduler.Call) ([]byte, error) { return json.Marshal(c) },
		unmarshal: func(b []byte, e *scheduler.Event) error { return json.Unmarshal(b, e) },
	},
}

const (
	callTimeout  = 10 * time.Second // one non-SUBSCRIBE call
	eventTimeout = 30 * time.Second // a task state change (container start included)
)

// framework is a scheduler built only from mesos-go pieces: httpcli (wire),
// httpsched (stream id, subscription state) and scheduler/calls (builders).
// A goroutine decodes the event stream, acknowledges every update that
// carries a uuid (as mesos-go's controller.AckStatusUpdates does) and hands
// the events to the test.
type framework struct {
	codec  codecCase
	caller calls.Caller
	id     string
	info   *mesos.FrameworkInfo
	ctx    context.Context
	cancel context.CancelFunc
	resp   mesos.Response

	events  chan *scheduler.Event
	ended   chan struct{} // closed when the event stream ends
	endErr  error         // why it ended; read only after ended is closed
	backlog []*scheduler.Event
	ackMu   sync.Mutex
	ackErrs []error
}

// newCaller builds mesos-go's scheduler client for the master under test.
func newCaller(cc codecCase) calls.Caller {
	return httpsched.NewCaller(httpcli.New(
		httpcli.Endpoint("http://"+cluster.master+"/api/v1/scheduler"),
		httpcli.Codec(cc.codec),
	))
}

// frameworkInfo returns the FrameworkInfo of a test framework. MULTI_ROLE
// frameworks use `roles`, the others the deprecated `role` field, exactly as
// msh and example-scheduler do.
func frameworkInfo(name string, multiRole bool) *mesos.FrameworkInfo {
	fi := &mesos.FrameworkInfo{User: "root", Name: name}
	if multiRole {
		fi.Roles = []string{"*"}
		fi.Capabilities = []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
		}
	} else {
		role := "*"
		fi.Role = &role
	}
	return fi
}

// subscribe subscribes a new framework and waits for SUBSCRIBED.
func subscribe(t *testing.T, cc codecCase, fi *mesos.FrameworkInfo) *framework {
	t.Helper()
	f := &framework{
		codec:  cc,
		caller: newCaller(cc),
		info:   fi,
		events: make(chan *scheduler.Event, 1024),
		ended:  make(chan struct{}),
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	t.Cleanup(f.close)

	// The call's context must outlive the call: httpsched ties the stream to
	// it. mesos-go's transport bounds the wait for response headers (15s).
	resp, err := f.caller.Call(f.ctx, calls.Subscribe(fi))
	if err != nil {
		fatalf(t, "SUBSCRIBE (%s): %v", cc.name, err)
	}
	f.resp = resp
	go f.readEvents()

	e := f.await(t, "SUBSCRIBED", callTimeout, func(e *scheduler.Event) bool {
		return e.GetType() == scheduler.Event_SUBSCRIBED || e.GetType() == scheduler.Event_ERROR
	})
	if e.GetType() == scheduler.Event_ERROR {
		fatalf(t, "SUBSCRIBE answered with ERROR event %q, want SUBSCRIBED", e.GetError().GetMessage())
	}
	f.id = e.GetSubscribed().GetFrameworkID().GetValue()
	if f.id == "" {
		fatalf(t, "SUBSCRIBED without framework_id: %v", e)
	}
	if hb := e.GetSubscribed().GetHeartbeatIntervalSeconds(); hb != 15 {
		t.Errorf("SUBSCRIBED.heartbeat_interval_seconds = %v, want 15 (Mesos' fixed interval)", hb)
	}
	if e.GetSubscribed().GetMasterInfo() == nil {
		t.Errorf("SUBSCRIBED.master_info missing (sent by Mesos since 1.1)")
	}
	return f
}

// readEvents decodes the subscription stream until it ends.
func (f *framework) readEvents() {
	defer close(f.ended)
	for {
		e := new(scheduler.Event)
		if err := f.resp.Decode(e); err != nil {
			f.endErr = err
			return
		}
		if e.GetType() == scheduler.Event_HEARTBEAT {
			continue
		}
		if st := e.GetUpdate().GetStatus(); e.GetType() == scheduler.Event_UPDATE && len(st.GetUUID()) > 0 {
			f.ack(st)
		}
		f.events <- e
	}
}

// ack acknowledges a reliable status update.
func (f *framework) ack(st mesos.TaskStatus) {
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	call := calls.Acknowledge(st.GetAgentID().GetValue(), st.TaskID.Value, st.GetUUID())
	call.FrameworkID = &mesos.FrameworkID{Value: f.id}
	err := calls.CallNoData(ctx, f.caller, call)
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	if err != nil && f.ctx.Err() == nil {
		f.ackErrs = append(f.ackErrs, fmt.Errorf("ACKNOWLEDGE %s %s: %w", st.TaskID.Value, st.GetState(), err))
	}
}

func (f *framework) close() {
	f.cancel()
	if f.resp != nil {
		f.resp.Close()
	}
}

// call sends a non-SUBSCRIBE call for this framework and expects 202.
func (f *framework) call(t *testing.T, c *scheduler.Call) {
	t.Helper()
	c.FrameworkID = &mesos.FrameworkID{Value: f.id}
	ctx, cancel := context.WithTimeout(f.ctx, callTimeout)
	defer cancel()
	if err := calls.CallNoData(ctx, f.caller, c); err != nil {
		fatalf(t, "%s call: %v", c.GetType(), err)
	}
}

// await returns the first event (oldest first, from the backlog, then from
// the stream) for which match is true. Events that do not match are kept in
// the backlog for later awaits.
func (f *framework) await(t *testing.T, what string, timeout time.Duration, match func(*scheduler.Event) bool) *scheduler.Event {
	t.Helper()
	f.checkAcks(t)
	for i, e := range f.backlog {
		if match(e) {
			f.backlog = append(f.backlog[:i:i], f.backlog[i+1:]...)
			return e
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case e := <-f.events:
			if match(e) {
				return e
			}
			f.backlog = append(f.backlog, e)
		case <-f.ended:
			// Drain what was decoded before the end.
			select {
			case e := <-f.events:
				if match(e) {
					return e
				}
				f.backlog = append(f.backlog, e)
				continue
			default:
			}
			fatalf(t, "event stream ended (%v) while waiting for %s; unconsumed events: %s", f.endErr, what, f.describeBacklog())
		case <-timer.C:
			fatalf(t, "no %s within %v; unconsumed events: %s", what, timeout, f.describeBacklog())
		}
	}
}

// quiet asserts that no event matching match arrives within d.
func (f *framework) quiet(t *testing.T, what string, d time.Duration, match func(*scheduler.Event) bool) {
	t.Helper()
	for _, e := range f.backlog {
		if match(e) {
			t.Errorf("unexpected %s (already received): %v", what, e)
			return
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e := <-f.events:
			f.backlog = append(f.backlog, e)
			if match(e) {
				t.Errorf("unexpected %s within %v: %s", what, d, describeEvent(e))
				return
			}
		case <-timer.C:
			return
		case <-f.ended:
			fatalf(t, "event stream ended (%v) while checking that no %s arrives", f.endErr, what)
		}
	}
}

// takeBacklog removes and returns every backlogged event matching match.
func (f *framework) takeBacklog(match func(*scheduler.Event) bool) []*scheduler.Event {
	var taken, kept []*scheduler.Event
	for _, e := range f.backlog {
		if match(e) {
			taken = append(taken, e)
		} else {
			kept = append(kept, e)
		}
	}
	f.backlog = kept
	return taken
}

func (f *framework) checkAcks(t *testing.T) {
	t.Helper()
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	for _, err := range f.ackErrs {
		t.Errorf("%v", err)
	}
	f.ackErrs = nil
}

func (f *framework) describeBacklog() string {
	if len(f.backlog) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, e := range f.backlog {
		b.WriteString("\n  ")
		b.WriteString(describeEvent(e))
	}
	return b.String()
}

// describeEvent is a one-line summary; full protos are unreadable in logs.
func describeEvent(e *scheduler.Event) string {
	switch e.GetType() {
	case scheduler.Event_UPDATE:
		st := e.GetUpdate().GetStatus()
		return fmt.Sprintf("UPDATE task=%s state=%s reason=%s source=%s uuid=%d bytes msg=%q",
			st.TaskID.Value, st.GetState(), st.GetReason(), st.GetSource(), len(st.GetUUID()), st.GetMessage())
	case scheduler.Event_OFFERS:
		var ids []string
		for _, o := range e.GetOffers().GetOffers() {
			ids = append(ids, o.ID.Value)
		}
		return "OFFERS " + strings.Join(ids, ",")
	case scheduler.Event_ERROR:
		return fmt.Sprintf("ERROR %q", e.GetError().GetMessage())
	default:
		return e.GetType().String()
	}
}

// awaitOffers waits for the next OFFERS event.
func (f *framework) awaitOffers(t *testing.T, timeout time.Duration) []mesos.Offer {
	t.Helper()
	e := f.await(t, "OFFERS", timeout, isType(scheduler.Event_OFFERS))
	return e.GetOffers().GetOffers()
}

func isType(typ scheduler.Event_Type) func(*scheduler.Event) bool {
	return func(e *scheduler.Event) bool { return e.GetType() == typ }
}

// updateFor matches status updates of one task (any reason).
func updateFor(taskID string) func(*scheduler.Event) bool {
	return func(e *scheduler.Event) bool {
		return e.GetType() == scheduler.Event_UPDATE && e.GetUpdate().GetStatus().TaskID.Value == taskID
	}
}

// reconcileAnswerFor matches reconciliation answers for one task.
func reconcileAnswerFor(taskID string) func(*scheduler.Event) bool {
	return func(e *scheduler.Event) bool {
		st := e.GetUpdate().GetStatus()
		return updateFor(taskID)(e) && st.GetReason() == mesos.REASON_RECONCILIATION
	}
}

// isTerminal reports the terminal task states of the Mesos task life cycle.
func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// statusesUntilTerminal collects a task's non-reconciliation updates until
// a terminal state.
func (f *framework) statusesUntilTerminal(t *testing.T, taskID string) []mesos.TaskStatus {
	t.Helper()
	var out []mesos.TaskStatus
	match := func(e *scheduler.Event) bool {
		return updateFor(taskID)(e) && e.GetUpdate().Status.GetReason() != mesos.REASON_RECONCILIATION
	}
	for {
		e := f.await(t, "update for task "+taskID+" (after "+statesString(out)+")", eventTimeout, match)
		st := e.GetUpdate().GetStatus()
		out = append(out, st)
		if isTerminal(st.GetState()) {
			return out
		}
	}
}

func statesString(sts []mesos.TaskStatus) string {
	if len(sts) == 0 {
		return "nothing"
	}
	var s []string
	for _, st := range sts {
		s = append(s, st.GetState().String())
	}
	return strings.Join(s, "→")
}
