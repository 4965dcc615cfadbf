// Package transport carries Raft messages between masters over HTTP, on the
// master's own port. It is the network half of master/replog: replog's
// Process hands it the messages of a Ready (Send), and the master loop feeds
// what arrives back into raft.
//
// # Wire
//
// Every master keeps, for every peer, ONE long-lived HTTP/1.1 POST to
// http://<peer>/internal/raft/v1/stream whose chunked request body is a
// RecordIO stream (package proto/recordio) of marshalled raftpb.Messages.
// The receiver answers 200 at once and then only reads; the sender batches
// whatever is queued into one write (one chunk, one flush). The headers
// Mesosd-Raft-From, Mesosd-Raft-To and Mesosd-Cluster-Id identify the
// sender, the intended receiver and the cluster.
//
// A MsgSnap (a whole snapshot) and any message larger than
// Config.MaxMessageSize go instead over a one-shot
// POST /internal/raft/v1/snapshot with a Content-Length body, so a
// multi-megabyte snapshot never queues heartbeats behind it on the stream.
// The receiver answers 204 once the message is in its Received channel.
//
// # Concurrency contract
//
// The owner is the master loop, the one goroutine that drives replog.Log:
//
//   - Send never blocks on the network or on a peer. It marshals every
//     message before returning (raft's messages share entries with its log,
//     so they must not be read later from another goroutine) and then only
//     does non-blocking channel sends. It is safe to call from any
//     goroutine, but is meant for the loop (replog.Process's send).
//   - The transport never calls raft. What raft must learn is handed to the
//     owner on channels it selects on and feeds to replog on its goroutine:
//     Received (Step), Unreachable (ReportUnreachable) and SnapshotStatus
//     (ReportSnapshot). The channels are never closed; after Close they
//     simply go quiet.
//   - Received and Unreachable are bounded and lossy: if the owner falls
//     behind, messages are dropped and counted. Raft tolerates message loss
//     (it retransmits and probes), and a stalled loop must never make the
//     transport grow without bound.
//   - SnapshotStatus is lossless: every MsgSnap passed to Send produces
//     exactly one report (unless the Transport is closed first), because a
//     follower whose snapshot is never reported stays paused in raft. The
//     goroutine carrying a report waits for the owner to take it.
//   - Per peer, stream messages arrive in the order Send was called.
//     Messages sent on the one-shot path may overtake or be overtaken by
//     stream messages; raft copes with reordering.
//
// The owner's loop, in the shape master/replog documents:
//
//	for {
//		select {
//		case <-ticker.C:
//			log.Tick()
//		case m := <-tr.Received():
//			_ = log.Step(m) // errors mean stale or foreign messages
//		case id := <-tr.Unreachable():
//			log.ReportUnreachable(id)
//		case r := <-tr.SnapshotStatus():
//			st := raft.SnapshotFinish
//			if r.Failed {
//				st = raft.SnapshotFailure
//			}
//			log.ReportSnapshot(r.ID, st)
//		case ... // proposals, API requests
//		}
//		// drain what else is already waiting (Received, proposals),
//		// so one Ready (one fsync) covers all of it, then:
//		for log.HasReady() {
//			st, err := log.Process(tr.Send, fsm.Apply)
//			...
//		}
//	}
//
// # Invariants
//
//   - Each peer has at most one outbound stream, owned by one sender
//     goroutine, and a bounded queue (Config.QueueSize); a full queue drops
//     the message, counts it and reports the peer unreachable, so raft slows
//     down to probing instead of piling up.
//   - While a peer cannot be reached the sender drains and drops its queue
//     (reporting it unreachable) and redials with jittered exponential
//     backoff, so stale messages do not burst out on reconnect.
//   - Inbound requests are refused (403) unless the cluster ID matches, the
//     request is addressed to this master's ID, and the sender is a known
//     peer (or Config.AllowUnknownPeers). Every message must carry the
//     sender's ID as From and ours as To. Records are size-limited
//     (MaxMessageSize on the stream, MaxSnapshotSize on the one-shot path).
//   - Close stops every goroutine the Transport started and ends the
//     inbound handlers it is serving; it waits for all of them.
//
// # Security
//
// The endpoints accept raft traffic from anyone who can reach the port and
// knows the cluster ID: whoever can talk to them can rewrite the registry.
// They must later require mutual TLS (or another authentication) between
// masters; until then masters bind to loopback by default, and operators who
// bind elsewhere must firewall the port. Config.Client is the seam for a TLS
// client.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// HTTP paths and headers of the protocol.
const (
	// PathPrefix is the subtree Handler serves; the master mounts it there.
	PathPrefix   = "/internal/raft/v1/"
	StreamPath   = PathPrefix + "stream"
	SnapshotPath = PathPrefix + "snapshot"

	HeaderFrom      = "Mesosd-Raft-From"
	HeaderTo        = "Mesosd-Raft-To"
	HeaderClusterID = "Mesosd-Cluster-Id"
)

// ErrConfig reports an invalid Config or peer.
var ErrConfig = errors.New("transport: invalid config")

// errClosed is the cause of every context canceled by Close.
var errClosed = errors.New("transport: closed")

// Config configures New. Zero durations and sizes take the defaults.
type Config struct {
	// ID is this master's raft ID (non-zero).
	ID uint64
	// ClusterID names the replicated cluster; every master of it must use
	// the same value. It keeps a master of another cluster (a copied
	// config, a reused port) from injecting messages.
	ClusterID string
	// Peers maps raft ID to host:port. An entry for ID itself is ignored,
	// so the master may pass its full membership.
	Peers map[uint64]string
	// AllowUnknownPeers accepts inbound messages from IDs not in Peers.
	// Off by default: a removed or misconfigured master is refused.
	AllowUnknownPeers bool

	// QueueSize bounds each peer's outbound queue, in messages
	// (default 4096: a few heartbeat intervals of a busy leader).
	QueueSize int
	// ReceiveBuffer bounds Received (default 4096).
	ReceiveBuffer int
	// MaxMessageSize bounds one message on the stream (default 16 MiB:
	// raft's MaxSizePerMsg plus a single oversized entry). Larger
	// messages take the one-shot path.
	MaxMessageSize int
	// MaxSnapshotSize bounds a one-shot message (default 1 GiB).
	MaxSnapshotSize int64
	// MaxBatchBytes is how much the sender writes to a stream at once
	// (default 256 KiB).
	MaxBatchBytes int

	// DialTimeout bounds connecting and getting the stream's 200
	// (default 2s). WriteTimeout bounds one batch write; a peer that does
	// not take it in time is dropped and redialed (default 5s).
	// SnapshotTimeout bounds a one-shot POST (default 2m).
	DialTimeout, WriteTimeout, SnapshotTimeout time.Duration
	// DeliverTimeout bounds how long a one-shot handler waits for room in
	// Received before answering 503 (default 5s).
	DeliverTimeout time.Duration
	// BackoffMin and BackoffMax bound the redial backoff (defaults 50ms
	// and 1s).
	BackoffMin, BackoffMax time.Duration

	// Client sends the requests; nil builds a dedicated plain-HTTP client
	// (closed by Close). A TLS client goes here once masters use mTLS.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.ID == 0 {
		return fmt.Errorf("%w: ID must be non-zero", ErrConfig)
	}
	if c.ClusterID == "" {
		return fmt.Errorf("%w: ClusterID is empty", ErrConfig)
	}
	for id, addr := range c.Peers {
		if err := checkPeer(id, addr); err != nil {
			return err
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.QueueSize, 4096)
	def(&c.ReceiveBuffer, 4096)
	def(&c.MaxMessageSize, 16<<20)
	def(&c.MaxBatchBytes, 256<<10)
	if c.MaxSnapshotSize <= 0 {
		c.MaxSnapshotSize = 1 << 30
	}
	defd(&c.DialTimeout, 2*time.Second)
	defd(&c.WriteTimeout, 5*time.Second)
	defd(&c.SnapshotTimeout, 2*time.Minute)
	defd(&c.DeliverTimeout, 5*time.Second)
	defd(&c.BackoffMin, 50*time.Millisecond)
	defd(&c.BackoffMax, time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func checkPeer(id uint64, addr string) error {
	if id == 0 {
		return fmt.Errorf("%w: peer ID 0", ErrConfig)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: peer %d address %q: %w", ErrConfig, id, addr, err)
	}
	return nil
}

// SnapshotReport is the outcome of one MsgSnap handed to Send. The owner
// passes it to replog.Log.ReportSnapshot (raft.SnapshotFailure if Failed,
// else raft.SnapshotFinish).
type SnapshotReport struct {
	ID     uint64 // the peer the snapshot was for
	Failed bool
}

// Transport sends and receives raft messages for one master.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	ownHTTP *http.Transport // non-nil when we built client; closed by Close

	ctx    context.Context // canceled by Close
	cancel context.CancelCauseFunc

	recv        chan *raftpb.Message
	unreachable chan uint64
	snapStatus  chan SnapshotReport

	mu       sync.RWMutex
	closed   bool
	peers    map[uint64]*peer
	inbound  map[uint64]*inCounters // by sender ID
	unknown  counter                // Send to an ID not in peers
	rejected counter                // inbound requests refused
	badMsgs  counter                // Send could not marshal

	wg       sync.WaitGroup // every goroutine we start
	handlers sync.WaitGroup // inbound requests being served

	logLimit rateLimiter
}

// New starts a Transport with a sender for every peer in cfg.Peers. It does
// not listen: the master serves Handler on its own HTTP server.
func New(cfg Config) (*Transport, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "raft-transport", "id", cfg.ID),
		client:      cfg.Client,
		recv:        make(chan *raftpb.Message, cfg.ReceiveBuffer),
		unreachable: make(chan uint64, 256),
		snapStatus:  make(chan SnapshotReport, 16),
		peers:       map[uint64]*peer{},
		inbound:     map[uint64]*inCounters{},
		logLimit:    rateLimiter{every: 10 * time.Second, last: map[string]time.Time{}},
	}
	if t.client == nil {
		t.ownHTTP = &http.Transport{
			DialContext: (&net.Dialer{
				Timeout: cfg.DialTimeout,
				// Keep-alives are what eventually break a stream to a
				// peer that vanished without a RST while we had nothing
				// to send it.
				KeepAlive: 15 * time.Second,
				Control:   userTimeout(cfg.WriteTimeout),
			}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		t.client = &http.Client{Transport: t.ownHTTP}
	}
	t.ctx, t.cancel = context.WithCancelCause(context.Background())
	t.cfg.Peers = nil // the live map is t.peers
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			t.startPeerLocked(id, addr)
		}
	}
	return t, nil
}

// Received delivers messages from peers, to be passed to replog.Log.Step.
// The messages are owned by the receiver. Bounded: see the package doc.
func (t *Transport) Received() <-chan *raftpb.Message { return t.recv }

// Unreachable delivers IDs of peers a send to failed, to be passed to
// replog.Log.ReportUnreachable. Lossy and possibly repetitive.
func (t *Transport) Unreachable() <-chan uint64 { return t.unreachable }

// SnapshotStatus delivers one report per MsgSnap given to Send, to be
// passed to replog.Log.ReportSnapshot. Lossless: see the package doc.
func (t *Transport) SnapshotStatus() <-chan SnapshotReport { return t.snapStatus }

// Handler serves StreamPath and SnapshotPath; mount it at PathPrefix.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(StreamPath, t.serveStream)
	mux.HandleFunc(SnapshotPath, t.serveSnapshot)
	return mux
}

// Send queues msgs for their peers and returns at once; see the package doc.
func (t *Transport) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		if to == t.cfg.ID || to == 0 {
			continue // raft's local messages never reach the wire in sync mode
		}
		isSnap := m.GetType() == raftpb.MessageType_MsgSnap
		b, err := proto.Marshal(m)
		if err != nil {
			// Cannot happen for a well-formed message; never fatal.
			t.badMsgs.Add(1)
			t.log.Error("cannot marshal raft message", "type", m.GetType(), "to", to, "err", err)
			if isSnap {
				t.reportSnapshotLocked(to, true)
			}
			continue
		}
		p := t.peers[to]
		if p == nil {
			t.unknown.Add(1)
			if t.logLimit.allow(fmt.Sprint("unknown-peer-", to)) {
				t.log.Warn("dropping raft message for a master not in the peer list", "to", to, "type", m.GetType())
			}
			if isSnap {
				t.reportSnapshotLocked(to, true)
			}
			continue
		}
		if isSnap || len(b) > t.cfg.MaxMessageSize {
			p.sendOneShot(b, isSnap)
			continue
		}
		select {
		case p.queue <- b:
		default:
			p.st.dropped.Add(1)
			t.reportUnreachable(to)
		}
	}
}

// reportUnreachable never blocks: a missed report is repeated by the next
// failure, and raft only uses it to slow down.
func (t *Transport) reportUnreachable(id uint64) {
	select {
	case t.unreachable <- id:
	default:
	}
}

// reportSnapshotLocked reports from a new goroutine, since the owner may be
// the caller (Send). t.mu must be held (read), so that wg.Add cannot race
// Close's Wait.
func (t *Transport) reportSnapshotLocked(id uint64, failed bool) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.reportSnapshot(id, failed)
	}()
}

// reportSnapshot blocks until the owner takes the report or Close.
func (t *Transport) reportSnapshot(id uint64, failed bool) {
	select {
	case t.snapStatus <- SnapshotReport{ID: id, Failed: failed}:
	case <-t.ctx.Done():
	}
}

// AddPeer starts talking to a new peer (or moves an existing one to addr).
// Adding ID itself is a no-op.
func (t *Transport) AddPeer(id uint64, addr string) error {
	if err := checkPeer(id, addr); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || id == t.cfg.ID {
		return nil
	}
	if p := t.peers[id]; p != nil {
		p.setAddr(addr)
		return nil
	}
	t.startPeerLocked(id, addr)
	return nil
}

// UpdatePeer moves a peer to a new address; its stream is redialed. It is
// AddPeer under the name callers look for.
func (t *Transport) UpdatePeer(id uint64, addr string) error { return t.AddPeer(id, addr) }

// RemovePeer stops sending to id; messages for it are dropped from now on
// and inbound requests from it are refused unless AllowUnknownPeers. It
// does not wait for the peer's goroutines (Close does).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		p.cancel(errors.New("transport: peer removed"))
		delete(t.peers, id)
	}
}

// Peers returns a copy of the current peer map.
func (t *Transport) Peers() map[uint64]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[uint64]string, len(t.peers))
	for id, p := range t.peers {
		out[id] = *p.addr.Load()
	}
	return out
}

// Close stops every sender, ends the inbound streams being served and waits
// for all of it. Send is a no-op afterwards and Handler answers 503.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel(errClosed)
	t.mu.Unlock()
	t.wg.Wait()
	t.handlers.Wait()
	if t.ownHTTP != nil {
		t.ownHTTP.CloseIdleConnections()
	}
	return nil
}

// jitter returns d with ±20% jitter, so masters that lost a peer together
// do not redial in lockstep.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

// rateLimiter keeps repetitive warnings (a peer down, a foreign cluster
// knocking) to one per key per interval.
type rateLimiter struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

func (r *rateLimiter) allow(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if l, ok := r.last[key]; ok && now.Sub(l) < r.every {
		return false
	}
	if len(r.last) > 1024 { // keys come from the network: bound them
		clear(r.last)
	}
	r.last[key] = now
	return true
}
