package mastersim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// ErrNoMaster is what the in-memory transport answers while no master is
// mounted (between Failover's stop and the new leader): the in-process
// equivalent of "connection refused".
var ErrNoMaster = errors.New("mastersim: no master listening")

// streamKey marks a request whose response is a long-lived stream.
type streamKey struct{}

// WithStreaming marks ctx so that MemTransport serves the request on its own
// goroutine and returns as soon as the handler flushes its headers; without
// it the handler runs on the caller's goroutine and RoundTrip returns when
// the handler does (no goroutine per call).
func WithStreaming(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

func isStreaming(ctx context.Context) bool {
	v, _ := ctx.Value(streamKey{}).(bool)
	return v
}

// MemTransport is an http.RoundTripper that calls an http.Handler in
// process, with no sockets, no HTTP/1.1 framing and no per-connection
// goroutines. The handler sees an ordinary *http.Request (its own context,
// cancelled when the client closes the response body, like a dropped
// connection) and a ResponseWriter that implements http.Flusher, so
// streaming handlers (RecordIO event streams) behave exactly as they do
// behind net/http: bytes reach the client on Flush, the stream ends when the
// handler returns, and a write after the client left fails.
//
// Why not net.Pipe or a custom listener under httptest: those keep net/http's
// server and client, which cost four goroutines and two bufio pairs per open
// stream (server conn + background reader, client readLoop + writeLoop) and
// an HTTP parse per call. With 10k agents that machinery, not the master,
// would dominate the profile. Everything from Master.Handler() down (mux,
// panic recovery, body limits, codecs, the loop, the stream pump) is the
// real code path either way.
type MemTransport struct {
	h atomic.Pointer[handlerBox]
	// wg counts handler goroutines of streaming requests still running.
	wg sync.WaitGroup
}

type handlerBox struct{ h http.Handler }

// SetHandler mounts h (nil unmounts: requests fail with ErrNoMaster).
func (t *MemTransport) SetHandler(h http.Handler) {
	if h == nil {
		t.h.Store(nil)
		return
	}
	t.h.Store(&handlerBox{h})
}

// Wait waits for every streaming handler to return.
func (t *MemTransport) Wait() { t.wg.Wait() }

// RoundTrip implements http.RoundTripper.
func (t *MemTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	box := t.h.Load()
	if box == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrNoMaster
	}
	ctx, cancel := context.WithCancel(req.Context())
	sreq := req.WithContext(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "mastersim:0"
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	w := &memResponse{header: make(http.Header), body: &Pipe{cancel: cancel}, ready: make(chan struct{})}
	serve := func() {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				w.body.closeWrite(errors.New("mastersim: handler panicked"))
			}
			w.markReady()
			w.body.closeWrite(nil)
			if req.Body != nil {
				req.Body.Close()
			}
		}()
		box.h.ServeHTTP(w, sreq)
	}
	if !isStreaming(req.Context()) {
		serve()
	} else {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			serve()
		}()
		select {
		case <-w.ready:
		case <-req.Context().Done():
			cancel()
			return nil, req.Context().Err()
		}
	}
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          w.body,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// memResponse is the handler's side of one exchange.
type memResponse struct {
	header      http.Header
	sent        http.Header // snapshot taken when the headers "go out"
	status      int
	wroteHeader bool
	body        *Pipe
	ready       chan struct{}
	readyOnce   sync.Once
}

func (w *memResponse) Header() http.Header { return w.header }

func (w *memResponse) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
}

func (w *memResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.write(p)
}

// Flush sends the headers (first time) and hands buffered bytes to the
// client, as net/http's chunked writer does.
func (w *memResponse) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.markReady()
	w.body.flush()
}

func (w *memResponse) markReady() {
	w.readyOnce.Do(func() {
		if !w.wroteHeader {
			w.status = http.StatusOK
			w.wroteHeader = true
		}
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

// Pipe is a response body. Bytes written by the handler are delivered on
// Flush (or when the handler returns) either to a blocking Read or, once
// OnData is set, pushed to a callback: that lets one simulator serve
// thousands of streams without a reader goroutine per stream. The callback
// runs on whichever goroutine flushes (usually the master's stream pump),
// is never run concurrently with itself, and receives bytes in order
// followed by exactly one call with a non-nil error (io.EOF on a clean end).
type Pipe struct {
	mu         sync.Mutex
	cond       *sync.Cond
	buf        []byte // written, not yet delivered
	ready      []byte // flushed, waiting for Read (pull mode)
	werr       error  // set when the handler is done
	closed     bool   // the client closed the body
	push       func([]byte, error)
	delivering bool
	eofSent    bool
	cancel     context.CancelFunc
}

func (p *Pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	p.buf = append(p.buf, b...)
	return len(b), nil
}

func (p *Pipe) flush() {
	p.mu.Lock()
	if len(p.ready) == 0 {
		// Hand the buffer over instead of copying it; the writer gets the
		// (empty) ready buffer back for its next writes.
		p.ready, p.buf = p.buf, p.ready[:0]
	} else {
		p.ready = append(p.ready, p.buf...)
		p.buf = p.buf[:0]
	}
	if p.cond != nil {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.deliver()
}

func (p *Pipe) closeWrite(err error) {
	p.mu.Lock()
	if p.werr == nil {
		if err == nil {
			err = io.EOF
		}
		p.werr = err
	}
	p.ready = append(p.ready, p.buf...)
	p.buf = nil
	if p.cond != nil {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.deliver()
}

// OnData switches the pipe to push mode; anything already flushed is
// delivered at once, on the calling goroutine.
func (p *Pipe) OnData(f func(data []byte, err error)) {
	p.mu.Lock()
	p.push = f
	p.mu.Unlock()
	p.deliver()
}

// deliver drains ready bytes to the push callback. Whoever finds nobody
// delivering becomes the deliverer and loops until nothing is left, so
// callbacks never overlap and never reorder.
func (p *Pipe) deliver() {
	p.mu.Lock()
	if p.push == nil || p.delivering {
		p.mu.Unlock()
		return
	}
	p.delivering = true
	for {
		data := p.ready
		p.ready = nil // delivered buffers are not kept: 10k idle streams
		if p.closed {
			data = nil // the client hung up: only the end is still reported
		}
		end := p.werr != nil && !p.eofSent && len(data) == 0
		if len(data) == 0 && !end {
			p.delivering = false
			p.mu.Unlock()
			return
		}
		if end {
			p.eofSent = true
		}
		werr, push := p.werr, p.push
		p.mu.Unlock()
		if end {
			push(nil, werr)
		} else {
			push(data, nil)
		}
		p.mu.Lock()
	}
}

// Read implements io.Reader for pull-mode clients.
func (p *Pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cond == nil {
		p.cond = sync.NewCond(&p.mu)
	}
	for len(p.ready) == 0 && p.werr == nil && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	if len(p.ready) > 0 {
		n := copy(b, p.ready)
		p.ready = p.ready[n:]
		return n, nil
	}
	return 0, p.werr
}

// Close is the client hanging up: the handler's request context is
// cancelled and its later writes fail.
func (p *Pipe) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.cond != nil {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	p.cancel()
	return nil
}
