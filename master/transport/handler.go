package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/recordio"
)

// admit checks an inbound request's method and headers and registers it
// with Close. On success the caller must call done when finished.
func (t *Transport) admit(w http.ResponseWriter, r *http.Request) (from uint64, in *inCounters, done func(), ok bool) {
	refuse := func(code int, format string, args ...any) {
		t.rejected.Add(1)
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "raft transport: POST only")
		return
	}
	if cid := r.Header.Get(HeaderClusterID); cid != t.cfg.ClusterID {
		if t.logLimit.allow("cluster-" + r.RemoteAddr) {
			t.log.Error("message from a master of another cluster: refused; check --cluster_id and the peer list",
				"remote", r.RemoteAddr, "their_cluster", cid, "our_cluster", t.cfg.ClusterID,
				"their_id", r.Header.Get(HeaderFrom))
		}
		refuse(http.StatusForbidden, "raft transport: cluster ID %q is not this cluster's (%q)", cid, t.cfg.ClusterID)
		return
	}
	from, err := strconv.ParseUint(r.Header.Get(HeaderFrom), 10, 64)
	if err != nil || from == 0 {
		refuse(http.StatusBadRequest, "raft transport: bad or missing %s header", HeaderFrom)
		return
	}
	to, err := strconv.ParseUint(r.Header.Get(HeaderTo), 10, 64)
	if err != nil || to != t.cfg.ID {
		// The sender's peer list maps our address to another ID.
		if t.logLimit.allow("to-" + r.RemoteAddr) {
			t.log.Error("raft message addressed to another master ID: refused; the sender's peer list is wrong",
				"remote", r.RemoteAddr, "from", from, "to", r.Header.Get(HeaderTo))
		}
		refuse(http.StatusForbidden, "raft transport: addressed to master %q, this is master %d", r.Header.Get(HeaderTo), t.cfg.ID)
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		refuse(http.StatusServiceUnavailable, "raft transport: shutting down")
		return
	}
	if t.peers[from] == nil && !t.cfg.AllowUnknownPeers {
		t.mu.Unlock()
		if t.logLimit.allow(fmt.Sprint("unknown-", from)) {
			t.log.Warn("raft message from a master not in the peer list: refused", "from", from, "remote", r.RemoteAddr)
		}
		refuse(http.StatusForbidden, "raft transport: master %d is not a peer of master %d", from, t.cfg.ID)
		return
	}
	in = t.inbound[from]
	if in == nil {
		in = &inCounters{}
		t.inbound[from] = in
	}
	t.handlers.Add(1) // under mu, so it cannot race Close's Wait
	t.mu.Unlock()
	return from, in, t.handlers.Done, true
}

// check validates a decoded message against the request it came in.
func (t *Transport) check(m *raftpb.Message, from uint64) error {
	if m.GetFrom() != from || m.GetTo() != t.cfg.ID {
		return fmt.Errorf("message %s from %d to %d on a request from %d to %d",
			m.GetType(), m.GetFrom(), m.GetTo(), from, t.cfg.ID)
	}
	return nil
}

func (t *Transport) serveStream(w http.ResponseWriter, r *http.Request) {
	from, in, done, ok := t.admit(w, r)
	if !ok {
		return
	}
	defer done()
	rc := http.NewResponseController(w)
	// By default an HTTP/1 server drains the request body before the
	// response starts; we answer first and read for the stream's lifetime.
	if err := rc.EnableFullDuplex(); err != nil {
		t.rejected.Add(1)
		http.Error(w, "raft transport: full-duplex HTTP/1.1 needed", http.StatusHTTPVersionNotSupported)
		return
	}
	// The master's server timeouts are for API requests, not a stream
	// meant to live as long as both masters do.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	// Close must end this handler even while it waits for bytes.
	stop := context.AfterFunc(t.ctx, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer stop()

	in.streams.Add(1)
	defer in.streams.Add(^uint64(0))
	rd := recordio.NewReader(r.Body, t.cfg.MaxMessageSize)
	for {
		rec, err := rd.ReadRecord()
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				t.log.Debug("raft stream from peer ended", "from", from, "err", err)
			}
			if errors.Is(err, recordio.ErrRecordTooLarge) {
				in.rejected.Add(1)
				t.log.Warn("raft stream from peer carried an oversized record: closed", "from", from, "err", err)
			}
			return
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(rec, m); err != nil {
			in.rejected.Add(1)
			t.log.Warn("undecodable raft message on stream: closed", "from", from, "err", err)
			return
		}
		if err := t.check(m, from); err != nil {
			in.rejected.Add(1)
			t.log.Warn("raft stream: closed", "err", err)
			return
		}
		select {
		case t.recv <- m:
			in.received.Add(1)
		default:
			in.dropped.Add(1) // the owner is behind; raft retransmits
		}
	}
}

func (t *Transport) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	from, in, done, ok := t.admit(w, r)
	if !ok {
		return
	}
	defer done()
	if r.ContentLength > t.cfg.MaxSnapshotSize {
		in.rejected.Add(1)
		http.Error(w, fmt.Sprintf("raft transport: message of %d bytes exceeds the %d byte limit", r.ContentLength, t.cfg.MaxSnapshotSize), http.StatusRequestEntityTooLarge)
		return
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	body := http.MaxBytesReader(w, r.Body, t.cfg.MaxSnapshotSize)
	if _, err := buf.ReadFrom(body); err != nil {
		in.rejected.Add(1)
		code := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, fmt.Sprintf("raft transport: read message: %v", err), code)
		return
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(buf.Bytes(), m); err != nil {
		in.rejected.Add(1)
		http.Error(w, fmt.Sprintf("raft transport: decode message: %v", err), http.StatusBadRequest)
		return
	}
	if err := t.check(m, from); err != nil {
		in.rejected.Add(1)
		http.Error(w, "raft transport: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Wait for room rather than drop: the sender reports the outcome of a
	// snapshot to raft, and 204 should mean the loop has it.
	timer := time.NewTimer(t.cfg.DeliverTimeout)
	defer timer.Stop()
	select {
	case t.recv <- m:
		in.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	case <-timer.C:
		in.dropped.Add(1)
		http.Error(w, "raft transport: raft loop busy", http.StatusServiceUnavailable)
	case <-t.ctx.Done():
		in.dropped.Add(1)
		http.Error(w, "raft transport: shutting down", http.StatusServiceUnavailable)
	case <-r.Context().Done():
		in.dropped.Add(1)
	}
}
