package master

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/registry"
	"github.com/mesosd/mesosd/master/transport"
	"github.com/mesosd/mesosd/master/validation"
	"github.com/mesosd/mesosd/proto/codec"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
	"github.com/mesosd/mesosd/proto/recordio"
)

// Header names of the scheduler API and of our agent protocol.
const (
	headerStreamID      = "Mesos-Stream-Id"
	headerAgentStreamID = "Mesosd-Agent-Stream-Id"
)

// Handler returns the master's HTTP API: the scheduler API, the agent
// protocol, and the read-only state and metrics endpoints.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/api/v1/scheduler", "/master/api/v1/scheduler"} {
		mux.HandleFunc(p, m.handleScheduler)
	}
	for _, p := range []string{"/api/v1", "/master/api/v1"} {
		mux.HandleFunc(p, m.handleOperator)
	}
	if h := m.raftHandler(); h != nil {
		mux.Handle(transport.PathPrefix, h)
	}
	m.registerMaintenanceHandlers(mux)
	mux.HandleFunc(MembersPath, m.handleMembers)
	mux.HandleFunc(MembersPath+"/", m.handleMembers)
	mux.HandleFunc("/internal/agent/v1/subscribe", m.handleAgentSubscribe)
	mux.HandleFunc("/internal/agent/v1/call", m.handleAgentCall)
	m.registerStateHandlers(mux)
	return recoverPanics(m, mux)
}

// recoverPanics turns a handler panic into a 500 and a log line instead of a
// dropped connection with no trace (net/http would only print a stack).
func recoverPanics(m *Master, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				m.log.Error("panic in HTTP handler", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// redirectToLeader answers for a non-leading master: 307 to the leader with a
// protocol-relative Location, or 503 when no leader is known. It reports
// whether it answered.
func (m *Master) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	if m.IsLeader() {
		return false
	}
	if addr := m.LeaderAddress(); addr != "" {
		w.Header().Set("Location", "//"+addr+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return true
	}
	http.Error(w, "No leader elected", http.StatusServiceUnavailable)
	return true
}

// mapError turns an error category into Mesos' HTTP status.
func (m *Master) mapError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotLeader):
		if !m.redirectToLeader(w, r) {
			http.Error(w, "Master is not the leader", http.StatusServiceUnavailable)
		}
	case errors.Is(err, ErrInvalid), errors.Is(err, validation.ErrInvalid), errors.Is(err, codec.ErrMalformed):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, registry.ErrRejected):
		// The registry refused a change that raced another one (e.g. two
		// agents registering with the same new ID); retrying sees the winner.
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, ErrUnknownFramework):
		http.Error(w, "Framework cannot be found", http.StatusBadRequest)
	case errors.Is(err, ErrNotSubscribed), errors.Is(err, ErrUnknownAgentStream):
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		m.log.Error("request failed", "path", r.URL.Path, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// readCall applies the preamble shared by the Mesos v1 APIs: POST only, a
// supported Content-Type, a bounded body that decodes into msg.
func (m *Master) readCall(w http.ResponseWriter, r *http.Request, msg proto.Message) (codec.Codec, bool) {
	c, _, ok := m.readCallBody(w, r, msg)
	return c, ok
}

// readCallBody is readCall that also returns the raw body (for forwarding).
func (m *Master) readCallBody(w http.ResponseWriter, r *http.Request, msg proto.Message) (codec.Codec, []byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return nil, nil, false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		http.Error(w, "Expecting 'Content-Type' to be present", http.StatusBadRequest)
		return nil, nil, false
	}
	c, ok := codec.ForContentType(ct)
	if !ok {
		http.Error(w, "Expecting 'Content-Type' of application/json or application/x-protobuf", http.StatusUnsupportedMediaType)
		return nil, nil, false
	}
	if c == codec.JSON {
		c = m.json // the configured nesting limit, not the codec default
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes), r.ContentLength, m.cfg.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("Request body exceeds the limit of %d bytes", m.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return nil, nil, false
		}
		http.Error(w, "Failed to read request body: "+err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	if as, ok := msg.(*pb.AgentSubscribe); ok && c == codec.Protobuf {
		// Agent re-registration storms: equal resource lists and IDs
		// across the report are decoded once (agents.go).
		err = unmarshalAgentSubscribe(body, as)
	} else {
		err = c.Unmarshal(body, msg)
	}
	if err != nil {
		http.Error(w, "Failed to parse body into "+string(msg.ProtoReflect().Descriptor().FullName())+": "+err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	return c, body, true
}

// readBody reads a request body into one buffer sized from Content-Length
// when it is known and within the limit (agent re-registration storms post
// thousands of large bodies; io.ReadAll's regrowth was a tenth of what such a
// storm allocates). The limit is still enforced by the MaxBytesReader.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength <= 0 || contentLength > limit {
		return io.ReadAll(r)
	}
	// bytes.Buffer.ReadFrom grows the buffer whenever fewer than MinRead
	// bytes are free, so leave that much room or every body doubles it.
	buf := bytes.NewBuffer(make([]byte, 0, contentLength+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// headerForwarded marks a scheduler call a standby forwarded to the leader,
// so a call that reaches another standby (leadership moved meanwhile) is
// answered 503 instead of bouncing between masters.
const headerForwarded = "Mesosd-Forwarded-By"

// forwardToLeader proxies a non-SUBSCRIBE scheduler call to the leader.
// mesos-go keeps posting calls to the master it was configured with, even
// after following a SUBSCRIBE redirect, and drops its subscription on a 307
// (client-quirks #4); so standbys forward instead of redirecting.
func (m *Master) forwardToLeader(w http.ResponseWriter, r *http.Request, body []byte) {
	addr := m.LeaderAddress()
	if addr == "" || r.Header.Get(headerForwarded) != "" {
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		m.mapError(w, r, fmt.Errorf("%w: forward to leader: %v", ErrUnavailable, err))
		return
	}
	for _, h := range []string{"Content-Type", "Accept", headerStreamID, "Authorization"} {
		for _, v := range r.Header.Values(h) {
			req.Header.Add(h, v)
		}
	}
	req.Header.Set(headerForwarded, m.info.GetId())
	resp, err := m.forwardClient.Do(req)
	if err != nil {
		http.Error(w, "Failed to forward the call to the leading master at "+addr+": "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Location", "Allow"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, m.cfg.MaxBodyBytes))
}

func (m *Master) handleScheduler(w http.ResponseWriter, r *http.Request) {
	var call scheduler.Call
	_, body, ok := m.readCallBody(w, r, &call)
	if !ok {
		return
	}
	if !m.IsLeader() {
		if call.GetType() == scheduler.Call_SUBSCRIBE {
			m.redirectToLeader(w, r) // SUBSCRIBE follows the leader (Mesos contract)
			return
		}
		m.forwardToLeader(w, r, body)
		return
	}
	if call.Type != nil && call.GetType() == scheduler.Call_UNKNOWN {
		http.Error(w, "Received an Unknown call type", http.StatusNotImplemented)
		return
	}
	if err := validation.SchedulerCall(&call); err != nil {
		http.Error(w, "Failed to validate scheduler::Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() == scheduler.Call_SUBSCRIBE {
		m.serveSubscribe(w, r, &call)
		return
	}
	// A missing stream ID is checked on the loop, after the framework
	// lookup (frameworkCall), in Mesos' order: a disconnected framework gets
	// 403 whether or not it sent the header.
	sid := r.Header.Get(headerStreamID)
	if call.GetType() == scheduler.Call_UPDATE_FRAMEWORK {
		m.serveUpdateFramework(w, r, &call, sid)
		return
	}
	var callErr error
	if err := m.do(r.Context(), func() { callErr = m.schedulerCall(&call, sid) }); err != nil {
		m.mapError(w, r, err)
		return
	}
	if callErr != nil {
		m.mapError(w, r, callErr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) serveUpdateFramework(w http.ResponseWriter, r *http.Request, call *scheduler.Call, sid string) {
	res, err := await(r.Context(), m, func(reply func(error)) { m.updateFramework(call, sid, reply) })
	if err == nil {
		err = res
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// serveSubscribe answers SUBSCRIBE with a RecordIO event stream whose first
// event is SUBSCRIBED (or ERROR, then close), and keeps it open with
// heartbeats until the client goes away or the master replaces the stream.
func (m *Master) serveSubscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call) {
	if r.Header.Get(headerStreamID) != "" {
		http.Error(w, "Subscribe calls should not include the 'Mesos-Stream-Id' header", http.StatusBadRequest)
		return
	}
	out, ok := codec.Negotiate(r.Header.Values("Accept"))
	if !ok {
		http.Error(w, "Expecting 'Accept' to allow application/json or application/x-protobuf", http.StatusNotAcceptable)
		return
	}
	res, err := await(r.Context(), m, func(reply func(subscribeResult)) { m.subscribe(call, reply) })
	if err == nil {
		err = res.err
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", out.ContentType())
	// Mesos sets a stream ID on every 200 SUBSCRIBE, also when the stream
	// only carries an ERROR event; mesos-go refuses the response without it
	// and would never read the ERROR.
	streamID := uuid.NewString()
	if res.sub != nil {
		streamID = res.sub.streamID
	}
	w.Header().Set(headerStreamID, streamID)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	if res.errorMessage != "" {
		if b, err := out.Marshal(errorEvent(res.errorMessage)); err == nil {
			_ = rw.WriteRecord(b)
		}
		return
	}
	fid, sid := res.frameworkID, res.sub.streamID
	defer m.post(func() { m.frameworkDisconnected(fid, sid) })
	heartbeat, err := out.Marshal(&scheduler.Event{Type: scheduler.Event_HEARTBEAT.Enum()})
	if err != nil {
		m.log.Error("encode heartbeat", "err", err)
		return
	}
	pump(r.Context(), rw, res.sub.q, out, heartbeat, m.cfg.HeartbeatInterval, m.log.Warn)
}

// await starts an asynchronous loop operation (one that may wait for a Raft
// commit) and waits for its reply. The reply is always delivered, so the
// caller sees the outcome even if its client went away meanwhile and can
// undo what needs undoing.
func await[T any](ctx context.Context, m *Master, start func(reply func(T))) (T, error) {
	resc := make(chan T, 1)
	var zero T
	if err := m.do(ctx, func() { start(func(v T) { resc <- v }) }); err != nil {
		return zero, err
	}
	select {
	case v := <-resc:
		return v, nil
	case <-m.stopc:
		return zero, fmt.Errorf("%w: master stopped", ErrUnavailable)
	}
}

// pump writes a queue's events to a stream until the client leaves, a write
// fails, or the master closes the queue (after writing what was queued, so a
// final ERROR event reaches the client).
func pump[T proto.Message](ctx context.Context, rw *recordio.Writer, q *queue[T], c codec.Codec, heartbeat []byte, every time.Duration, logf func(string, ...any)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	flushAll := func() bool {
		items := q.drain()
		if len(items) == 0 {
			return true
		}
		recs := make([][]byte, 0, len(items))
		for _, ev := range items {
			b, err := c.Marshal(ev)
			if err != nil {
				logf("dropping event that cannot be encoded", "err", err)
				continue
			}
			recs = append(recs, b)
		}
		return rw.WriteRecords(recs...) == nil
	}
	if !flushAll() {
		return
	}
	for {
		select {
		case <-q.notify:
			if !flushAll() {
				return
			}
		case <-tick.C:
			if heartbeat != nil && rw.WriteRecord(heartbeat) != nil {
				return
			}
		case <-q.done:
			flushAll()
			return
		case <-ctx.Done():
			return
		}
	}
}

func (m *Master) handleAgentSubscribe(w http.ResponseWriter, r *http.Request) {
	if m.redirectToLeader(w, r) {
		return
	}
	var req pb.AgentSubscribe
	if _, ok := m.readCall(w, r, &req); !ok {
		return
	}
	res, err := await(r.Context(), m, func(reply func(agentSubscribeResult)) { m.agentSubscribe(&req, reply) })
	if err == nil {
		err = res.err
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", codec.ContentTypeProtobuf)
	if res.conn != nil {
		w.Header().Set(headerAgentStreamID, res.conn.streamID)
	}
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	if res.shutdown != "" {
		b, _ := proto.Marshal(&pb.AgentEvent{Type: pb.AgentEvent_SHUTDOWN.Enum(), Shutdown: &pb.AgentEvent_Shutdown{Message: proto.String(res.shutdown)}})
		_ = rw.WriteRecord(b)
		return
	}
	aid, sid := res.agentID, res.conn.streamID
	defer m.post(func() { m.agentDisconnected(aid, sid) })
	pump(r.Context(), rw, res.conn.q, codec.Protobuf, nil, time.Hour, m.log.Warn)
}

func (m *Master) handleAgentCall(w http.ResponseWriter, r *http.Request) {
	if m.redirectToLeader(w, r) {
		return
	}
	var call pb.AgentCall
	if _, ok := m.readCall(w, r, &call); !ok {
		return
	}
	sid := r.Header.Get(headerAgentStreamID)
	if sid == "" {
		http.Error(w, "Agent calls must include the '"+headerAgentStreamID+"' header", http.StatusBadRequest)
		return
	}
	var callErr error
	if err := m.do(r.Context(), func() { callErr = m.agentCall(sid, &call) }); err != nil {
		m.mapError(w, r, err)
		return
	}
	if callErr != nil {
		m.mapError(w, r, callErr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
