package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	sched "github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	"github.com/mesosd/mesosd/proto/recordio"
)

// schedClient is a minimal v1 HTTP scheduler: one SUBSCRIBE stream read by a
// goroutine into an event log, calls on separate connections, and every
// update that carries a uuid acknowledged as it arrives.
type schedClient struct {
	t     testing.TB
	base  string // http://host:port
	codec codec.Codec
	hc    *http.Client

	mu        sync.Mutex
	fwID      string
	streamID  string
	events    []*sched.Event
	changed   chan struct{} // closed and replaced on every change
	offers    map[string]*mesos.Offer
	streamErr error // why the current stream ended; nil while it runs
	cancel    context.CancelFunc
	readerWG  sync.WaitGroup
	ackWG     sync.WaitGroup
	ackErrs   []error
	acked     map[string]bool // status uuids acknowledged
}

func newSchedClient(t testing.TB, masterURL string, c codec.Codec) *schedClient {
	s := &schedClient{
		t: t, base: masterURL, codec: c,
		hc:      &http.Client{},
		changed: make(chan struct{}),
		offers:  map[string]*mesos.Offer{},
		acked:   map[string]bool{},
	}
	t.Cleanup(s.close)
	return s
}

func codecName(c codec.Codec) string {
	if c.ContentType() == codec.ContentTypeJSON {
		return "json"
	}
	return "protobuf"
}

func frameworkInfo(name string, failover float64) *mesos.FrameworkInfo {
	return &mesos.FrameworkInfo{
		User:            proto.String("root"),
		Name:            proto.String(name),
		FailoverTimeout: proto.Float64(failover),
		Checkpoint:      proto.Bool(true),
		Hostname:        proto.String("e2e"),
	}
}

func (s *schedClient) frameworkID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fwID
}

func (s *schedClient) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// subscribe opens the SUBSCRIBE stream (a re-subscribe when info.id is set)
// and waits for SUBSCRIBED. It fails the test on ERROR or a bad answer.
func (s *schedClient) subscribe(info *mesos.FrameworkInfo) {
	s.t.Helper()
	if err := s.trySubscribe(info); err != nil {
		s.t.Fatalf("SUBSCRIBE (%s): %v", codecName(s.codec), err)
	}
}

func (s *schedClient) trySubscribe(info *mesos.FrameworkInfo) error {
	s.stopStream()
	call := &sched.Call{
		Type:      sched.Call_SUBSCRIBE.Enum(),
		Subscribe: &sched.Call_Subscribe{FrameworkInfo: info},
	}
	if info.GetId().GetValue() != "" {
		call.FrameworkId = info.GetId()
	}
	body, err := s.codec.Marshal(call)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/scheduler", bytes.NewReader(body))
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Content-Type", s.codec.ContentType())
	req.Header.Set("Accept", s.codec.ContentType())
	resp, err := s.hc.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != s.codec.ContentType() {
		resp.Body.Close()
		cancel()
		return fmt.Errorf("Content-Type %q, want %q", ct, s.codec.ContentType())
	}
	streamID := resp.Header.Get("Mesos-Stream-Id")
	if streamID == "" {
		resp.Body.Close()
		cancel()
		return errors.New("no Mesos-Stream-Id header")
	}
	s.mu.Lock()
	start := len(s.events)
	s.streamID, s.cancel, s.streamErr = streamID, cancel, nil
	s.offers = map[string]*mesos.Offer{}
	s.mu.Unlock()
	s.readerWG.Add(1)
	go s.read(resp.Body)

	ev, err := s.waitEventFrom(start, 20*time.Second, "SUBSCRIBED or ERROR", func(e *sched.Event) bool {
		return e.GetType() == sched.Event_SUBSCRIBED || e.GetType() == sched.Event_ERROR
	})
	if err != nil {
		return err
	}
	if ev.GetType() == sched.Event_ERROR {
		return fmt.Errorf("ERROR event: %s", ev.GetError().GetMessage())
	}
	id := ev.GetSubscribed().GetFrameworkId().GetValue()
	if id == "" {
		return errors.New("SUBSCRIBED without framework_id")
	}
	if want := info.GetId().GetValue(); want != "" && id != want {
		return fmt.Errorf("re-SUBSCRIBE with framework %q answered SUBSCRIBED with %q", want, id)
	}
	s.mu.Lock()
	s.fwID = id
	s.mu.Unlock()
	return nil
}

// read decodes the RecordIO stream until it ends.
func (s *schedClient) read(body io.ReadCloser) {
	defer s.readerWG.Done()
	defer body.Close()
	r := recordio.NewReader(body, 0)
	var err error
	for {
		var rec []byte
		rec, err = r.ReadRecord()
		if err != nil {
			break
		}
		ev := &sched.Event{}
		if err = s.codec.Unmarshal(rec, ev); err != nil {
			err = fmt.Errorf("decode event %q: %w", rec, err)
			break
		}
		s.handle(ev)
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.EOF
	}
	s.mu.Lock()
	s.streamErr = err
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *schedClient) handle(ev *sched.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.GetType() {
	case sched.Event_OFFERS:
		for _, o := range ev.GetOffers().GetOffers() {
			s.offers[o.GetId().GetValue()] = o
		}
	case sched.Event_RESCIND:
		delete(s.offers, ev.GetRescind().GetOfferId().GetValue())
	case sched.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		if len(st.GetUuid()) > 0 {
			s.ackWG.Add(1)
			go s.acknowledge(st)
		}
	}
	s.events = append(s.events, ev)
	s.notifyLocked()
}

func (s *schedClient) acknowledge(st *mesos.TaskStatus) {
	defer s.ackWG.Done()
	err := s.call(&sched.Call{
		Type: sched.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &sched.Call_Acknowledge{
			AgentId: st.GetAgentId(),
			TaskId:  st.GetTaskId(),
			Uuid:    st.GetUuid(),
		},
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.ackErrs = append(s.ackErrs, fmt.Errorf("ACKNOWLEDGE %s %s: %w", st.GetTaskId().GetValue(), st.GetState(), err))
		return
	}
	s.acked[string(st.GetUuid())] = true
}

// stopStream closes the current SUBSCRIBE connection, if any.
func (s *schedClient) stopStream() {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.readerWG.Wait()
}

func (s *schedClient) close() {
	s.stopStream()
	s.ackWG.Wait()
}

// streamEnded reports whether the current stream has ended, and why.
func (s *schedClient) streamEnded() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamErr != nil, s.streamErr
}

// call sends a non-SUBSCRIBE call on its own connection and expects 202.
func (s *schedClient) call(c *sched.Call) error {
	s.mu.Lock()
	if c.FrameworkId == nil && s.fwID != "" {
		c.FrameworkId = &mesos.FrameworkID{Value: proto.String(s.fwID)}
	}
	streamID := s.streamID
	s.mu.Unlock()
	body, err := s.codec.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/scheduler", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", s.codec.ContentType())
	req.Header.Set("Accept", s.codec.ContentType())
	req.Header.Set("Mesos-Stream-Id", streamID)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: status %d: %s", c.GetType(), resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

func (s *schedClient) mustCall(c *sched.Call) {
	s.t.Helper()
	if err := s.call(c); err != nil {
		s.t.Fatalf("%s (%s): %v", c.GetType(), codecName(s.codec), err)
	}
}

// waitEventFrom waits for the first event at index >= from that matches.
func (s *schedClient) waitEventFrom(from int, timeout time.Duration, desc string, match func(*sched.Event) bool) (*sched.Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i := from; i < len(s.events); i++ {
			if match(s.events[i]) {
				ev := s.events[i]
				s.mu.Unlock()
				return ev, nil
			}
		}
		from = len(s.events)
		ch := s.changed
		ended := s.streamErr
		s.mu.Unlock()
		if ended != nil && !errors.Is(ended, context.Canceled) {
			// Events already read are matched above; a dead stream brings
			// no more. Let the caller see why.
			return nil, fmt.Errorf("waiting for %s: subscription stream ended: %v", desc, ended)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil, fmt.Errorf("waiting for %s: nothing within %s", desc, timeout)
		}
	}
}

// eventCount is the current length of the event log, for waitEventFrom.
func (s *schedClient) eventCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// takeOffer waits for an outstanding offer and removes it from the pool.
func (s *schedClient) takeOffer(timeout time.Duration) *mesos.Offer {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		for id, o := range s.offers {
			delete(s.offers, id)
			s.mu.Unlock()
			return o
		}
		ch := s.changed
		ended := s.streamErr
		s.mu.Unlock()
		if ended != nil {
			s.t.Fatalf("waiting for an offer: subscription stream ended: %v", ended)
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("no offer within %s (%s)", timeout, codecName(s.codec))
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

func scalar(name string, v float64) *mesos.Resource {
	return &mesos.Resource{
		Name:   proto.String(name),
		Type:   mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
	}
}

// shellTask is a command task running `/bin/sh -c cmd`.
func shellTask(id, cmd string, cpus, mem float64) *mesos.TaskInfo {
	return &mesos.TaskInfo{
		Name:      proto.String(id),
		TaskId:    &mesos.TaskID{Value: proto.String(id)},
		Resources: []*mesos.Resource{scalar("cpus", cpus), scalar("mem", mem)},
		Command:   &mesos.CommandInfo{Shell: proto.Bool(true), Value: proto.String(cmd)},
	}
}

// launch waits for an offer and launches the tasks on it (ACCEPT with one
// LAUNCH operation). It returns the agent ID.
func (s *schedClient) launch(tasks ...*mesos.TaskInfo) string {
	s.t.Helper()
	o := s.takeOffer(30 * time.Second)
	for _, ti := range tasks {
		ti.AgentId = o.GetAgentId()
	}
	s.mustCall(&sched.Call{
		Type: sched.Call_ACCEPT.Enum(),
		Accept: &sched.Call_Accept{
			OfferIds: []*mesos.OfferID{o.GetId()},
			Operations: []*mesos.Offer_Operation{{
				Type:   mesos.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks},
			}},
			// Short: the rest of the offer comes back soon for the next launch.
			Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0.1)},
		},
	})
	return o.GetAgentId().GetValue()
}

func (s *schedClient) kill(taskID, agentID string) {
	s.t.Helper()
	s.mustCall(&sched.Call{
		Type: sched.Call_KILL.Enum(),
		Kill: &sched.Call_Kill{
			TaskId:  &mesos.TaskID{Value: proto.String(taskID)},
			AgentId: &mesos.AgentID{Value: proto.String(agentID)},
		},
	})
}

func (s *schedClient) reconcile(tasks map[string]string) {
	s.t.Helper()
	r := &sched.Call_Reconcile{}
	for id, agent := range tasks {
		rt := &sched.Call_Reconcile_Task{TaskId: &mesos.TaskID{Value: proto.String(id)}}
		if agent != "" {
			rt.AgentId = &mesos.AgentID{Value: proto.String(agent)}
		}
		r.Tasks = append(r.Tasks, rt)
	}
	s.mustCall(&sched.Call{Type: sched.Call_RECONCILE.Enum(), Reconcile: r})
}

func (s *schedClient) teardown() {
	s.t.Helper()
	s.mustCall(&sched.Call{Type: sched.Call_TEARDOWN.Enum()})
}

func isUpdateFor(taskID string, states ...mesos.TaskState) func(*sched.Event) bool {
	return func(e *sched.Event) bool {
		if e.GetType() != sched.Event_UPDATE {
			return false
		}
		st := e.GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() != taskID {
			return false
		}
		if len(states) == 0 {
			return true
		}
		for _, want := range states {
			if st.GetState() == want {
				return true
			}
		}
		return false
	}
}

// waitUpdate waits for an update of taskID in state (from the start of the
// event log) and returns its status.
func (s *schedClient) waitUpdate(taskID string, state mesos.TaskState, timeout time.Duration) *mesos.TaskStatus {
	s.t.Helper()
	return s.waitUpdateFrom(0, taskID, state, timeout)
}

func (s *schedClient) waitUpdateFrom(from int, taskID string, state mesos.TaskState, timeout time.Duration) *mesos.TaskStatus {
	s.t.Helper()
	ev, err := s.waitEventFrom(from, timeout, fmt.Sprintf("%s of task %s", state, taskID), isUpdateFor(taskID, state))
	if err != nil {
		s.t.Fatalf("%v; updates seen for %s: %s", err, taskID, s.describeUpdates(taskID))
	}
	return ev.GetUpdate().GetStatus()
}

// updates returns the distinct (by uuid; reconciliation answers have none)
// statuses received for taskID, in order.
func (s *schedClient) updates(taskID string) []*mesos.TaskStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []*mesos.TaskStatus
	for _, e := range s.events {
		if !isUpdateFor(taskID)(e) {
			continue
		}
		st := e.GetUpdate().GetStatus()
		if u := string(st.GetUuid()); u != "" {
			if seen[u] {
				continue
			}
			seen[u] = true
		}
		out = append(out, st)
	}
	return out
}

// executorStates lists the states of taskID's reliable (uuid-carrying)
// updates, in order, without duplicates.
func (s *schedClient) reliableStates(taskID string) []string {
	var out []string
	for _, st := range s.updates(taskID) {
		if len(st.GetUuid()) > 0 {
			out = append(out, st.GetState().String())
		}
	}
	return out
}

func (s *schedClient) describeUpdates(taskID string) string {
	var parts []string
	for _, st := range s.updates(taskID) {
		parts = append(parts, fmt.Sprintf("%s(source=%s reason=%s uuid=%v msg=%q)", st.GetState(), st.GetSource(), st.GetReason(), len(st.GetUuid()) > 0, st.GetMessage()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// checkAcks waits until every reliable update seen has been acknowledged
// without error.
func (s *schedClient) checkAcks() {
	s.t.Helper()
	s.ackWG.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.ackErrs {
		s.t.Errorf("%v", err)
	}
	s.ackErrs = nil
}
