package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
	"github.com/mesosd/mesosd/proto/recordio"
)

// Agent protocol endpoints and header (see proto/mesosd/v1/mesosd.proto).
const (
	SubscribePath  = "/internal/agent/v1/subscribe"
	CallPath       = "/internal/agent/v1/call"
	StreamIDHeader = "Mesosd-Agent-Stream-Id"
	protobufType   = "application/x-protobuf"
	maxEventSize   = 64 << 20
	maxRedirects   = 3
)

// conn is one subscription attempt and, once open, its event stream.
type conn struct {
	gen      uint64
	cancel   context.CancelFunc
	ctx      context.Context
	master   string // host:port answering the stream
	streamID string
	out      chan *mesosdpb.AgentCall
	opened   time.Time
}

// Loop messages from the connection goroutines. gen ties each to the
// connection it belongs to; messages of older connections are ignored.
type (
	streamOpened struct {
		gen      uint64
		master   string
		streamID string
	}
	streamEvent struct {
		gen uint64
		ev  *mesosdpb.AgentEvent
	}
	streamClosed struct {
		gen uint64
		err error
	}
	callRejected struct {
		gen    uint64
		reason string
	}
	reconnectNow struct{ gen uint64 }
)

// startAttempt subscribes with the current full state on a new goroutine.
func (a *Agent) startAttempt() {
	a.connGen++
	ctx, cancel := context.WithCancel(a.loopCtx)
	c := &conn{gen: a.connGen, cancel: cancel, ctx: ctx}
	a.conn = c
	body, err := proto.Marshal(a.subscribeMessage())
	if err != nil {
		panic(fmt.Sprintf("agent: marshal AgentSubscribe: %v", err)) // generated types always marshal
	}
	masters := a.masterOrder()
	a.goLoop(func() { a.runConn(ctx, c.gen, masters, body) })
}

// masterOrder is the leader hint first, then every configured master.
func (a *Agent) masterOrder() []string {
	out := make([]string, 0, len(a.cfg.Masters)+1)
	if a.leaderHint != "" {
		out = append(out, a.leaderHint)
	}
	for _, m := range a.cfg.Masters {
		if m != a.leaderHint {
			out = append(out, m)
		}
	}
	return out
}

// dropConnection ends the current stream (if any) and schedules a new
// subscription after a jittered, doubling backoff.
func (a *Agent) dropConnection(reason string) {
	if a.conn == nil {
		return
	}
	a.conn.cancel()
	a.conn = nil
	if a.registered {
		a.metrics.masterDisconnections++
		a.log.Warn("disconnected from master; will re-register", "reason", reason)
	} else {
		a.log.Warn("could not register with master; will retry", "reason", reason, "retry_in", a.backoff)
	}
	a.registered = false
	delay := a.backoff/2 + rand.N(a.backoff/2+1)
	a.backoff = min(2*a.backoff, a.cfg.RegistrationBackoffMax)
	gen := a.connGen
	if a.retryConn != nil {
		a.retryConn.Stop()
	}
	a.retryConn = time.AfterFunc(delay, func() { a.post(reconnectNow{gen: gen}) })
}

func (a *Agent) subscribeMessage() *mesosdpb.AgentSubscribe {
	msg := &mesosdpb.AgentSubscribe{
		Info:                  a.agentInfo(),
		Version:               proto.String(a.cfg.Version),
		SessionId:             proto.String(a.session),
		CheckpointedResources: a.checkpointed.ToProto(),
	}
	fws := map[string]bool{}
	for _, k := range a.sortedKeys() {
		t := a.tasks[k]
		if t.rec.GetTask() == nil {
			continue
		}
		msg.Tasks = append(msg.Tasks, a.taskProto(t))
		if fw := a.frameworks[k.framework]; fw != nil && !fws[k.framework] {
			fws[k.framework] = true
			msg.Frameworks = append(msg.Frameworks, fw.info)
		}
	}
	return msg
}

// runConn subscribes to the first master that accepts, then reads its event
// stream until it breaks or ctx ends.
func (a *Agent) runConn(ctx context.Context, gen uint64, masters []string, body []byte) {
	var errs []string
	for _, m := range masters {
		resp, master, err := a.subscribe(ctx, m, body)
		if err != nil {
			errs = append(errs, err.Error())
			if ctx.Err() != nil {
				return
			}
			continue
		}
		a.post(streamOpened{gen: gen, master: master, streamID: resp.Header.Get(StreamIDHeader)})
		err = a.readStream(ctx, gen, resp.Body)
		resp.Body.Close()
		a.post(streamClosed{gen: gen, err: fmt.Errorf("event stream from master %s ended: %w", master, err)})
		return
	}
	a.post(streamClosed{gen: gen, err: fmt.Errorf("no master accepted the subscription (%s)", strings.Join(errs, "; "))})
}

// subscribe POSTs to one master, following up to maxRedirects redirects to
// the leader. On success the response body is the event stream.
func (a *Agent) subscribe(ctx context.Context, master string, body []byte) (*http.Response, string, error) {
	for range maxRedirects + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+master+SubscribePath, bytes.NewReader(body))
		if err != nil {
			return nil, master, fmt.Errorf("master %q: %w", master, err)
		}
		req.Header.Set("Content-Type", protobufType)
		req.Header.Set("Accept", protobufType)
		resp, err := a.http.Do(req)
		if err != nil {
			return nil, master, fmt.Errorf("subscribe to %s: %w", master, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return resp, master, nil
		case http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound, http.StatusSeeOther:
			loc := resp.Header.Get("Location")
			drain(resp)
			u, err := url.Parse(loc)
			if err != nil || u.Host == "" {
				return nil, master, fmt.Errorf("subscribe to %s: redirect with unusable Location %q", master, loc)
			}
			a.log.Info("master redirected to leader", "from", master, "to", u.Host)
			master = u.Host
		default:
			msg := drain(resp)
			return nil, master, fmt.Errorf("subscribe to %s: %s: %s", master, resp.Status, msg)
		}
	}
	return nil, master, fmt.Errorf("subscribe: more than %d redirects, last to %s", maxRedirects, master)
}

func drain(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	return strings.TrimSpace(string(b))
}

func (a *Agent) readStream(ctx context.Context, gen uint64, body io.Reader) error {
	r := recordio.NewReader(body, maxEventSize)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		ev := &mesosdpb.AgentEvent{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return fmt.Errorf("decode AgentEvent: %w", err)
		}
		a.post(streamEvent{gen: gen, ev: ev})
	}
}

func (a *Agent) onStreamOpened(m streamOpened) {
	c := a.conn
	if c == nil || c.gen != m.gen {
		return
	}
	c.master, c.streamID, c.opened = m.master, m.streamID, time.Now()
	a.leaderHint = m.master
	// Until REGISTERED arrives, the stream's age counts as ping silence.
	a.lastPing = c.opened
	c.out = make(chan *mesosdpb.AgentCall, 1024)
	a.goLoop(func() { a.sendCalls(c) })
}

// send queues a call on the current stream. It never blocks the loop: if
// the queue is full the call is dropped, and the update retry or the next
// PING covers it.
func (a *Agent) send(call *mesosdpb.AgentCall) bool {
	c := a.conn
	if c == nil || c.out == nil || !a.registered {
		return false
	}
	call.AgentId = &mesos.AgentID{Value: proto.String(a.agentID)}
	select {
	case c.out <- call:
		return true
	default:
		a.log.Warn("outgoing call queue full; dropping call (it will be retried)", "type", call.GetType())
		return false
	}
}

// sendCalls posts queued calls to the stream's master, in order.
func (a *Agent) sendCalls(c *conn) {
	for {
		select {
		case <-c.ctx.Done():
			return
		case call := <-c.out:
			if err := a.postCall(c, call); err != nil {
				var rej *rejectedError
				if errors.As(err, &rej) {
					a.post(callRejected{gen: c.gen, reason: err.Error()})
					return
				}
				if c.ctx.Err() == nil {
					a.log.Warn("call to master failed", "type", call.GetType(), "err", err)
				}
			}
		}
	}
}

type rejectedError struct{ msg string }

func (e *rejectedError) Error() string { return e.msg }

func (a *Agent) postCall(c *conn, call *mesosdpb.AgentCall) error {
	body, err := proto.Marshal(call)
	if err != nil {
		return fmt.Errorf("marshal AgentCall: %w", err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, a.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.master+CallPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", protobufType)
	req.Header.Set(StreamIDHeader, c.streamID)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s call to %s: %w", call.GetType(), c.master, err)
	}
	msg := drain(resp)
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusForbidden, resp.StatusCode == http.StatusServiceUnavailable,
		resp.StatusCode == http.StatusTemporaryRedirect:
		// Stale stream or no longer the leader: re-subscribe.
		return &rejectedError{fmt.Sprintf("master %s rejected %s call: %s: %s", c.master, call.GetType(), resp.Status, msg)}
	default:
		return fmt.Errorf("%s call to %s: %s: %s", call.GetType(), c.master, resp.Status, msg)
	}
}

// checkPing re-subscribes when the master has been silent for
// MaxPingTimeouts ping intervals.
func (a *Agent) checkPing() {
	if a.conn == nil || a.conn.out == nil {
		return
	}
	limit := time.Duration(a.cfg.MaxPingTimeouts) * a.pingCheckInterval()
	if silent := time.Since(a.lastPing); silent > limit {
		a.dropConnection(fmt.Sprintf("no PING from master %s for %s (limit %s)", a.conn.master, silent.Round(time.Millisecond), limit))
	}
}

// onEvent handles one master event.
func (a *Agent) onEvent(ev *mesosdpb.AgentEvent) {
	if ev.GetType() != mesosdpb.AgentEvent_REGISTERED && !a.registered {
		a.metrics.invalidMasterEvents++
		a.log.Warn("ignoring master event before REGISTERED", "type", ev.GetType())
		return
	}
	switch ev.GetType() {
	case mesosdpb.AgentEvent_REGISTERED:
		a.onRegistered(ev.GetRegistered())
	case mesosdpb.AgentEvent_PING:
		a.lastPing = time.Now()
		a.send(&mesosdpb.AgentCall{
			Type: mesosdpb.AgentCall_PONG.Enum(),
			Pong: &mesosdpb.AgentCall_Pong{Seq: proto.Uint64(ev.GetPing().GetSeq())},
		})
	case mesosdpb.AgentEvent_RUN_TASK:
		a.runTask(ev.GetRunTask())
	case mesosdpb.AgentEvent_KILL_TASK:
		a.killTask(ev.GetKillTask())
	case mesosdpb.AgentEvent_ACKNOWLEDGE:
		ack := ev.GetAcknowledge()
		a.acknowledge(ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), ack.GetUuid())
	case mesosdpb.AgentEvent_SHUTDOWN_FRAMEWORK:
		a.shutdownFramework(ev.GetShutdownFramework().GetFrameworkId().GetValue())
	case mesosdpb.AgentEvent_RECONCILE_TASKS:
		a.reconcileTasks(ev.GetReconcileTasks())
	case mesosdpb.AgentEvent_SHUTDOWN:
		a.shutdown(ev.GetShutdown().GetMessage())
	case mesosdpb.AgentEvent_CHECKPOINT_RESOURCES:
		a.onCheckpointResources(ev.GetCheckpointResources())
	default:
		a.metrics.invalidMasterEvents++
		a.log.Warn("ignoring unknown master event", "type", ev.GetType())
	}
}

func (a *Agent) onRegistered(r *mesosdpb.AgentEvent_Registered) {
	id := r.GetAgentId().GetValue()
	if id == "" {
		a.metrics.invalidMasterEvents++
		a.dropConnection("REGISTERED without an agent ID")
		return
	}
	if a.agentID != "" && id != a.agentID {
		a.log.Warn("master assigned a different agent ID than the checkpointed one", "checkpointed", a.agentID, "assigned", id)
	}
	if id != a.agentID {
		a.agentID = id
		if err := a.db.PutAgentInfo(a.agentInfo()); err != nil {
			a.metrics.checkpointErrors++
			a.fatal = fmt.Errorf("agent: checkpoint agent ID %q: %w", id, err)
			return
		}
	}
	a.registered = true
	a.masterInfo = r.GetMasterInfo()
	a.metrics.registrations++
	a.backoff = a.cfg.RegistrationBackoffMin
	a.pingEvery = a.cfg.DefaultPingInterval
	if s := r.GetPingIntervalSeconds(); s > 0 {
		a.pingEvery = time.Duration(s * float64(time.Second))
	}
	a.lastPing = time.Now()
	a.log.Info("registered with master", "agent_id", id, "master", a.conn.master, "ping_interval", a.pingEvery)
	// Resend every pending head at once (Mesos: on re-registration the
	// status update manager flushes all streams).
	for _, k := range a.sortedKeys() {
		t := a.tasks[k]
		if len(t.rec.GetPending()) > 0 {
			t.retryEvery = 0
			a.sendHead(t)
		}
	}
}

// shutdown: the master removed this agent. Kill everything, forget the
// agent ID and register again as a new agent.
func (a *Agent) shutdown(msg string) {
	a.log.Warn("master asked the agent to shut down; killing all tasks and registering as a new agent", "message", msg)
	for _, t := range a.tasks {
		t.stopRetry()
		t.stopCheckers()
		if cid := t.rec.GetContainerId(); cid != "" && t.rec.GetTask() != nil && !isTerminal(t.rec.GetState()) {
			a.destroyContainer(cid)
		}
	}
	a.tasks = map[taskKey]*task{}
	a.frameworks = map[string]*framework{}
	a.agentID = ""
	// A new agent starts without reservations (the volumes' data stays on
	// disk, as in Mesos).
	a.checkpointed = resources.Resources{}
	if err := os.Remove(resourcesCheckpointPath(a.cfg.WorkDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("remove checkpointed resources", "err", err)
	}
	if err := a.db.Reset(); err != nil {
		a.metrics.checkpointErrors++
		a.fatal = err
		return
	}
	a.dropConnection("agent shut down by master")
}
