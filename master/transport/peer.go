package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mesosd/mesosd/proto/recordio"
)

// maxOneShot bounds concurrent one-shot POSTs per peer. raft keeps at most
// one snapshot in flight per follower; the rest are rare oversized appends.
const maxOneShot = 4

// peer is the outbound side for one remote master: a queue drained by one
// sender goroutine (run) that owns the stream.
type peer struct {
	t      *Transport
	id     uint64
	addr   atomic.Pointer[string]
	queue  chan []byte   // marshalled messages, in Send order
	redial chan struct{} // cap 1: the address changed
	oneSem chan struct{} // cap maxOneShot
	ctx    context.Context
	cancel context.CancelCauseFunc
	st     outCounters
}

// startPeerLocked needs t.mu held for writing.
func (t *Transport) startPeerLocked(id uint64, addr string) {
	p := &peer{
		t:      t,
		id:     id,
		queue:  make(chan []byte, t.cfg.QueueSize),
		redial: make(chan struct{}, 1),
		oneSem: make(chan struct{}, maxOneShot),
	}
	p.addr.Store(&addr)
	p.ctx, p.cancel = context.WithCancelCause(t.ctx)
	t.peers[id] = p
	t.wg.Add(1)
	go p.run()
}

func (p *peer) setAddr(addr string) {
	if old := p.addr.Swap(&addr); *old != addr {
		select {
		case p.redial <- struct{}{}:
		default:
		}
	}
}

func (p *peer) url(path string) string { return "http://" + *p.addr.Load() + path }

func (p *peer) setHeaders(h http.Header) {
	h.Set(HeaderFrom, strconv.FormatUint(p.t.cfg.ID, 10))
	h.Set(HeaderTo, strconv.FormatUint(p.id, 10))
	h.Set(HeaderClusterID, p.t.cfg.ClusterID)
}

// run is the sender: dial, stream until something breaks, back off, redial.
func (p *peer) run() {
	defer p.t.wg.Done()
	log := p.t.log.With("peer", p.id)
	backoff := p.t.cfg.BackoffMin
	down := false // logged as down; log again only on recovery
	for p.ctx.Err() == nil {
		s, err := p.dial()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.st.dialFailures.Add(1)
			p.t.reportUnreachable(p.id)
			if !down {
				down = true
				log.Warn("raft peer unreachable", "addr", *p.addr.Load(), "err", err)
			} else {
				log.Debug("raft peer still unreachable", "addr", *p.addr.Load(), "err", err)
			}
			if !p.dropFor(jitter(backoff)) {
				return
			}
			backoff = min(backoff*2, p.t.cfg.BackoffMax)
			continue
		}
		backoff = p.t.cfg.BackoffMin
		if p.st.connects.Add(1) > 1 {
			p.st.reconnects.Add(1)
		}
		if down {
			down = false
			log.Info("raft peer reachable again", "addr", *p.addr.Load())
		}
		p.st.connected.Store(true)
		err = p.stream(s)
		p.st.connected.Store(false)
		s.close()
		if p.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRedial) {
			continue
		}
		p.t.reportUnreachable(p.id)
		log.Warn("raft stream to peer broke", "addr", *p.addr.Load(), "err", err)
		down = true
		// Do not hammer a peer that accepts and then drops us at once.
		if !p.dropFor(jitter(p.t.cfg.BackoffMin)) {
			return
		}
	}
}

// dropFor waits d while discarding what is queued: those messages could
// not be sent now, and raft will send fresher ones. Each discard is
// reported so raft keeps the peer in probe mode. False on shutdown.
func (p *peer) dropFor(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-p.redial:
			return true
		case <-p.queue:
			p.st.dropped.Add(1)
			p.t.reportUnreachable(p.id)
		}
	}
}

var errRedial = errors.New("transport: peer address changed")

// stream is one open outbound stream.
type stream struct {
	pw     *io.PipeWriter
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{} // closed when the response ends (the peer hung up)
	err    error         // why done was closed; read after done
}

func (s *stream) close() {
	s.cancel()
	_ = s.pw.CloseWithError(errClosed)
	<-s.done
}

// dial opens the stream and waits for the peer's 200, so a refusal (wrong
// cluster, unknown sender) is seen now and not as a silent black hole.
func (p *peer) dial() (*stream, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url(StreamPath), pr)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("stream request: %w", err)
	}
	p.setHeaders(req.Header)
	req.Header.Set("Content-Type", "application/recordio")
	s := &stream{pw: pw, pr: pr, cancel: cancel, done: make(chan struct{})}
	accepted := make(chan error, 1)
	p.t.wg.Add(1)
	go func() {
		defer p.t.wg.Done()
		defer close(s.done)
		resp, err := p.t.client.Do(req)
		if err != nil {
			s.err = err
			accepted <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			s.err = fmt.Errorf("peer refused stream: %s: %s", resp.Status, bytes.TrimSpace(msg))
			accepted <- s.err
			return
		}
		accepted <- nil
		// The peer never writes a body: this returns when it hangs up or
		// the connection dies, which is how the sender learns of it while
		// idle.
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil {
			err = io.EOF
		}
		s.err = fmt.Errorf("peer ended stream: %w", err)
	}()
	timer := time.NewTimer(p.t.cfg.DialTimeout)
	defer timer.Stop()
	select {
	case err := <-accepted:
		if err != nil {
			s.close()
			return nil, err
		}
		return s, nil
	case <-timer.C:
		s.close()
		return nil, fmt.Errorf("stream to %s: no answer within %v", *p.addr.Load(), p.t.cfg.DialTimeout)
	case <-p.ctx.Done():
		s.close()
		return nil, context.Cause(p.ctx)
	}
}

// stream writes queued messages in batches until the stream breaks, the
// address changes or the peer is stopped.
func (p *peer) stream(s *stream) error {
	w := recordio.NewWriter(s.pw)
	// A write the peer does not take within WriteTimeout (TCP buffers full
	// because it is gone or stuck) aborts the stream; closing the pipe's
	// read side is what unblocks the write.
	stuck := time.AfterFunc(time.Hour, func() {
		s.cancel()
		_ = s.pr.CloseWithError(fmt.Errorf("write to peer %d timed out after %v", p.id, p.t.cfg.WriteTimeout))
	})
	stuck.Stop()
	defer stuck.Stop()
	for {
		var b []byte
		select {
		case <-p.ctx.Done():
			return context.Cause(p.ctx)
		case <-p.redial:
			return errRedial
		case <-s.done:
			return s.err
		case b = <-p.queue:
		}
		n := 1
		_ = w.Append(b) // never empty: a marshalled message has a type
	batch:
		for w.Buffered() < p.t.cfg.MaxBatchBytes {
			select {
			case b = <-p.queue:
				_ = w.Append(b)
				n++
			default:
				break batch
			}
		}
		stuck.Reset(p.t.cfg.WriteTimeout)
		err := w.Flush()
		if !stuck.Stop() && err == nil {
			err = errors.New("write timed out")
		}
		if err != nil {
			p.st.dropped.Add(uint64(n))
			return fmt.Errorf("write %d messages: %w", n, err)
		}
		p.st.sent.Add(uint64(n))
	}
}

// sendOneShot posts b on its own request. Called by Send with t.mu held
// (read), so the wg.Add cannot race Close.
func (p *peer) sendOneShot(b []byte, isSnap bool) {
	select {
	case p.oneSem <- struct{}{}:
	default:
		p.st.dropped.Add(1)
		if isSnap {
			p.st.snapFailed.Add(1)
			p.t.reportSnapshotLocked(p.id, true)
		}
		return
	}
	p.t.wg.Add(1)
	go func() {
		defer p.t.wg.Done()
		err := p.post(b)
		<-p.oneSem
		if err != nil {
			p.st.dropped.Add(1)
			p.t.reportUnreachable(p.id)
			if p.ctx.Err() == nil {
				p.t.log.Warn("raft one-shot message to peer failed", "peer", p.id, "bytes", len(b), "snapshot", isSnap, "err", err)
			}
		} else {
			p.st.sent.Add(1)
		}
		if isSnap {
			if err != nil {
				p.st.snapFailed.Add(1)
			} else {
				p.st.snapSent.Add(1)
			}
			p.t.reportSnapshot(p.id, err != nil)
		}
	}()
}

func (p *peer) post(b []byte) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.t.cfg.SnapshotTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url(SnapshotPath), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("one-shot request: %w", err)
	}
	p.setHeaders(req.Header)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := p.t.client.Do(req)
	if err != nil {
		return fmt.Errorf("one-shot post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("one-shot post: peer answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
