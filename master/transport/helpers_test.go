package transport_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/mesosd/mesosd/master/transport"
)

// testLogger is quiet unless MESOSD_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("MESOSD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// checkLeaks must be the first thing a test calls: its cleanup runs last,
// after every server and transport is closed, and waits (bounded) for the
// goroutine count to return to where it started. There is no goleak here,
// so on failure it dumps the stacks.
func checkLeaks(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// swapHandler lets a server outlive the Transport it serves, as a master's
// HTTP server does across a raft restart; nil answers 503.
type swapHandler struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *swapHandler) set(h http.Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	if h == nil {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// server is one master's HTTP endpoint.
type server struct {
	*httptest.Server
	sw   *swapHandler
	addr string
}

func newServer(t testing.TB) *server {
	t.Helper()
	sw := &swapHandler{}
	mux := http.NewServeMux()
	mux.Handle(transport.PathPrefix, sw)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &server{Server: hs, sw: sw, addr: hs.Listener.Addr().String()}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func fastConfig(id uint64, peers map[uint64]string) transport.Config {
	return transport.Config{
		ID:          id,
		ClusterID:   "test-cluster",
		Peers:       peers,
		Logger:      testLogger(),
		BackoffMin:  10 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
		DialTimeout: time.Second,
	}
}

func newTransport(t testing.TB, cfg transport.Config, srv *server) *transport.Transport {
	t.Helper()
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if srv != nil {
		srv.sw.set(tr.Handler())
	}
	t.Cleanup(func() {
		if srv != nil {
			srv.sw.set(nil)
		}
		_ = tr.Close()
	})
	return tr
}

func msg(typ raftpb.MessageType, from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{Type: typ.Enum(), From: &from, To: &to, Index: &index}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func peersOf(srvs map[uint64]*server) map[uint64]string {
	out := map[uint64]string{}
	for id, s := range srvs {
		out[id] = s.addr
	}
	return out
}

func describe(s transport.Stats) string {
	var b strings.Builder
	for id, p := range s.Peers {
		fmt.Fprintf(&b, "[%d %+v] ", id, p)
	}
	return b.String()
}

// newRawServer serves h directly (no swap), closed at cleanup.
func newRawServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// waitConnected waits until every transport's outbound streams are up:
// messages sent while a peer is being redialed are dropped by design.
func waitConnected(t testing.TB, trs ...*transport.Transport) {
	t.Helper()
	waitFor(t, 5*time.Second, "streams up", func() bool {
		for _, tr := range trs {
			for _, p := range tr.Stats().Peers {
				if p.Addr != "" && !p.Connected {
					return false
				}
			}
		}
		return true
	})
}
