// Package master is the Mesos-compatible master: the registry replicated with
// Raft, the scheduler API, the agent protocol, offers, tasks and the allocator.
//
// Concurrency model (the invariant everything else relies on): one goroutine,
// Run's loop, owns all master state — the Raft node, the registry, agents,
// frameworks, offers, tasks and the allocator. HTTP handlers, agent streams
// and timers never touch that state; they send closures to the loop (do /
// post) and wait for replies on their own channels. The loop never blocks on
// the network: events for frameworks and agents go into unbounded per-stream
// queues drained by the streams' own goroutines.
//
// Replication: everything that must survive failover is a registry command
// proposed through Raft and acted upon only once applied. Tasks are not
// replicated; as in Mesos, agents are the source of truth for what runs.
package master

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/master/registry"
	"github.com/mesosd/mesosd/master/replog"
	"github.com/mesosd/mesosd/master/transport"
	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// Version is the Mesos version mesosd reports, so tools that gate on a
// minimum Mesos version work.
const Version = "1.11.0"

// Config configures a master. Durations of zero take the Mesos default.
type Config struct {
	// ID is this master's Raft node ID (1 for a single master).
	ID uint64
	// Peers are the Raft voters used when the store is empty (nil: just ID).
	Peers []uint64
	// PeerAddrs maps every master's Raft ID to its "host:port" (the master
	// HTTP port, which also carries Raft traffic). Empty for a single master.
	// Followers redirect and forward to the leader's address from here.
	PeerAddrs map[uint64]string
	// Join starts a master with an empty store that waits to be added to
	// an existing cluster (POST /mesosd/v1/masters on the leader) instead of
	// bootstrapping one.
	Join bool
	// ClusterID guards against masters of different clusters talking Raft
	// to each other; all masters of a cluster must share it.
	ClusterID string
	// WorkDir holds the Raft log and snapshots.
	WorkDir string
	// Hostname and IP/Port are advertised in MasterInfo and redirects.
	Hostname string
	IP       string
	Port     int

	AllocationInterval   time.Duration // --allocation_interval (1s)
	OfferTimeout         time.Duration // --offer_timeout (0: offers never time out)
	AgentPingTimeout     time.Duration // --agent_ping_timeout (15s)
	MaxAgentPingTimeouts int           // --max_agent_ping_timeouts (5)
	// AgentReregisterTimeout is how long a new leader waits for the agents
	// in its registry to re-register before marking them unreachable
	// (--agent_reregister_timeout, 10m).
	AgentReregisterTimeout time.Duration
	HeartbeatInterval      time.Duration // scheduler HEARTBEAT interval (15s)
	RootSubmissions        bool          // --root_submissions
	MaxBodyBytes           int64         // request body limit (4 MiB)
	MaxJSONDepth           int           // JSON nesting limit (200)
	TickInterval           time.Duration // Raft tick (100ms)
	SnapshotEvery          uint64        // applied entries between registry snapshots (10000)
	MaxCompletedTasks      int           // per framework, kept for state endpoints (1000)
	// AgentRemovalRateLimit bounds how fast agents become unreachable
	// (--agent_removal_rate_limit; zero: no limit).
	AgentRemovalRateLimit RateLimit
	// Registry GC of unreachable/gone agents (Mesos' --registry_gc_interval
	// 15mins, --registry_max_agent_age 2weeks, --registry_max_agent_count 102400).
	RegistryGCInterval    time.Duration
	RegistryMaxAgentAge   time.Duration
	RegistryMaxAgentCount int
	// MinAllocatable (--min_allocatable_resources, e.g. "cpus:0.01|mem:32"):
	// an agent is offered only if what is left on it covers one of these.
	// Empty: the allocator's default (Mesos' cpus:0.01|mem:32).
	MinAllocatable string
	// Roles (--roles, deprecated in Mesos) whitelists the roles frameworks
	// may use; empty allows any valid role.
	Roles []string
	// InitialWeights (--weights) are applied when the registry holds no
	// weights yet; afterwards UPDATE_WEIGHTS owns them (as in Mesos).
	InitialWeights map[string]float64
	// Flags are reported by /master/flags and GET_FLAGS.
	Flags  map[string]string
	Logger *slog.Logger
	// LogLevel, if set, is the level Logger's handler reads: operator
	// SET_LOGGING_LEVEL raises it for a while (nil: that call answers 501).
	LogLevel *slog.LevelVar
}

func (c *Config) setDefaults() {
	if c.ID == 0 {
		c.ID = 1
	}
	if len(c.Peers) == 0 {
		for id := range c.PeerAddrs {
			c.Peers = append(c.Peers, id)
		}
		sort.Slice(c.Peers, func(i, j int) bool { return c.Peers[i] < c.Peers[j] })
	}
	if len(c.Peers) == 0 {
		c.Peers = []uint64{c.ID}
	}
	if c.ClusterID == "" {
		c.ClusterID = "mesosd"
	}
	if c.AllocationInterval <= 0 {
		c.AllocationInterval = time.Second
	}
	if c.AgentPingTimeout <= 0 {
		c.AgentPingTimeout = 15 * time.Second
	}
	if c.MaxAgentPingTimeouts <= 0 {
		c.MaxAgentPingTimeouts = 5
	}
	if c.RegistryGCInterval <= 0 {
		c.RegistryGCInterval = 15 * time.Minute
	}
	if c.RegistryMaxAgentAge <= 0 {
		c.RegistryMaxAgentAge = 14 * 24 * time.Hour
	}
	if c.RegistryMaxAgentCount <= 0 {
		c.RegistryMaxAgentCount = 102400
	}
	if c.AgentReregisterTimeout <= 0 {
		c.AgentReregisterTimeout = 10 * time.Minute
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.MaxJSONDepth <= 0 {
		c.MaxJSONDepth = 200
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 10000
	}
	if c.MaxCompletedTasks <= 0 {
		c.MaxCompletedTasks = 1000
	}
	if c.Hostname == "" {
		c.Hostname = c.IP
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Master is one master process. Create with New, then call Run.
type Master struct {
	cfg  Config
	log  *slog.Logger
	json codec.Codec       // request decoder honouring cfg.MaxJSONDepth
	info *mesos.MasterInfo // this master's identity (new ID every start, like Mesos)

	// forwardClient carries scheduler calls a standby forwards to the leader.
	forwardClient *http.Client

	reqc  chan func()
	stopc chan struct{} // closed when Run returns
	// leaderAddr is read by HTTP handlers without going through the loop so a
	// follower can redirect even when its loop is busy.
	leaderAddr atomic.Pointer[string]
	leading    atomic.Bool
	startTime  time.Time

	// ---- owned by the loop goroutine ----
	rl *replog.Log
	tr *transport.Transport // nil for a single master
	// peers are the masters' addresses by Raft ID: the bootstrap set from
	// flags, updated by membership changes as they apply.
	peers          map[uint64]string
	minAllocatable []resources.Quantities
	// maintSt is the leader's maintenance runtime state (maintenance.go).
	maintSt *maintState
	// ReadIndex requests waiting for a quorum (see readindex.go).
	readWaiters map[string]*readWaiter
	nextReadID  uint64
	// pendingMember waits for a proposed membership change of a raft ID.
	pendingMember map[uint64]func(error)
	reg           *registry.Registry
	alloc         *allocator.Allocator
	nextReqID     uint64
	pending       map[uint64]func(error)
	raftLead      uint64
	elected       time.Time
	// leaderOn: leader-only subsystems are running (the barrier applied).
	leaderOn       bool
	barrierPending bool
	// leaderEpoch counts establishLeadership calls, so timers armed in one
	// term of leadership do nothing in a later one.
	leaderEpoch uint64

	frameworks  map[string]*framework
	agents      map[string]*agent
	offers      map[string]*offer
	nextOffer   uint64
	dirtyAll    bool
	dirtyAgent  map[string]struct{}
	metrics     counters
	snapCache   *stateSnapshot
	version     uint64 // bumped on every state change readers can see
	lastSnapAt  uint64
	snapshotDue bool

	fwSeqReserved       uint64
	agentSeqReserved    uint64
	completedFrameworks []*framework

	// opSubs are the operator API event streams (operator SUBSCRIBE),
	// leader-only: closed when leadership is lost (operator_events.go).
	opSubs   map[uint64]*opSubscriber
	opSubSeq uint64

	// logMu guards the temporary log level of SET_LOGGING_LEVEL (served off
	// the loop, like GET_LOGGING_LEVEL, by any master).
	logMu        sync.Mutex
	baseLogLevel slog.Level
	logReset     *time.Timer
	// wasUnreachable marks agents re-registering after being unreachable,
	// between MarkAgentReachable committing and their tasks being merged.
	wasUnreachable map[string]bool
	// reregTimer marks still-recovered agents unreachable after a failover.
	reregTimer *time.Timer
	// Agents waiting to be marked unreachable (rate limit), oldest first.
	unreachableQueue map[string]string
	unreachableOrder []string
	recentRemovals   []time.Time
	unreachableTimer *time.Timer
}

// New opens the master's Raft log and restores the registry. It does not
// start serving; call Run.
func New(cfg Config) (*Master, error) {
	cfg.setDefaults()
	m := &Master{
		cfg:              cfg,
		log:              cfg.Logger.With("component", "master"),
		baseLogLevel:     logLevelOf(cfg.LogLevel),
		reqc:             make(chan func(), 256),
		stopc:            make(chan struct{}),
		pending:          make(map[uint64]func(error)),
		frameworks:       make(map[string]*framework),
		agents:           make(map[string]*agent),
		offers:           make(map[string]*offer),
		dirtyAgent:       make(map[string]struct{}),
		wasUnreachable:   make(map[string]bool),
		unreachableQueue: make(map[string]string),
		startTime:        time.Now(),
		json:             codec.NewJSON(codec.JSONOptions{MaxDepth: cfg.MaxJSONDepth}),
		forwardClient: &http.Client{
			Timeout: 30 * time.Second,
			// A redirect from the "leader" means leadership moved; let the
			// client see it rather than chasing it here.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("master: seed request IDs: %w", err)
	}
	// Request IDs only need to be unique among this process's pending
	// proposals, but a random base keeps them from matching another leader's.
	m.nextReqID = binary.BigEndian.Uint64(seed[:]) &^ (1 << 63)
	m.info = masterInfo(cfg)
	if cfg.MinAllocatable != "" {
		q, err := allocator.ParseMinAllocatable(cfg.MinAllocatable)
		if err != nil {
			return nil, fmt.Errorf("master: --min_allocatable_resources: %w", err)
		}
		m.minAllocatable = q
	}

	voters := cfg.Peers
	if cfg.Join {
		voters = nil // wait for the leader to add us and send a snapshot
	}
	m.pendingMember = make(map[uint64]func(error))
	m.readWaiters = make(map[string]*readWaiter)
	rl, err := replog.Open(replog.Config{
		Dir:           cfg.WorkDir,
		ID:            cfg.ID,
		Peers:         voters,
		ElectionTick:  10,
		HeartbeatTick: 1,
		Logger:        raftLogger{cfg.Logger.With("component", "raft")},
		Restore:       m.restoreRegistry,
	})
	if err != nil {
		return nil, fmt.Errorf("master: open replicated log in %q: %w", cfg.WorkDir, err)
	}
	m.rl = rl
	m.reg = registry.New()
	if idx, data := rl.SnapshotData(); len(data) > 0 {
		reg, err := registry.Restore(idx, data)
		if err != nil {
			rl.Close()
			return nil, fmt.Errorf("master: restore registry snapshot at index %d: %w", idx, err)
		}
		m.reg = reg
		m.lastSnapAt = idx
	}
	// Peers: the bootstrap set from flags, corrected by membership changes
	// recorded in the snapshot (later ones apply as the log replays).
	m.peers = m.reg.MasterPeers(cfg.PeerAddrs)
	if len(cfg.PeerAddrs) > 1 || cfg.Join {
		tr, err := transport.New(transport.Config{
			ID:        cfg.ID,
			ClusterID: cfg.ClusterID,
			Peers:     m.peers,
			Logger:    cfg.Logger.With("component", "raft-transport"),
		})
		if err != nil {
			rl.Close()
			return nil, fmt.Errorf("master: raft transport: %w", err)
		}
		m.tr = tr
	}
	m.alloc = allocator.New(allocator.Options{MinAllocatable: m.minAllocatable})
	return m, nil
}

func masterInfo(cfg Config) *mesos.MasterInfo {
	ip := net.ParseIP(cfg.IP).To4()
	var ipNum uint32
	if ip != nil {
		// MasterInfo.ip is "network byte order": the four address bytes as
		// they sit in memory, read as a little-endian integer (MESOS-1201).
		ipNum = binary.LittleEndian.Uint32(ip)
	}
	id := uuid.NewString()
	return &mesos.MasterInfo{
		Id:       proto.String(id),
		Ip:       proto.Uint32(ipNum),
		Port:     proto.Uint32(uint32(cfg.Port)),
		Pid:      proto.String("master@" + net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))),
		Hostname: proto.String(cfg.Hostname),
		Version:  proto.String(Version),
		Address: &mesos.Address{
			Hostname: proto.String(cfg.Hostname),
			Ip:       proto.String(cfg.IP),
			Port:     proto.Int32(int32(cfg.Port)),
		},
	}
}

// restoreRegistry replaces the registry with a snapshot sent by the leader.
func (m *Master) restoreRegistry(index uint64, data []byte) error {
	reg, err := registry.Restore(index, data)
	if err != nil {
		return err
	}
	m.reg = reg
	m.lastSnapAt = index
	m.version++
	if m.peers != nil {
		m.syncPeers(m.reg.MasterPeers(m.cfg.PeerAddrs))
	}
	return nil
}

// reserveSeq returns the next free ID sequence number: the registry's
// counter, or past the last one handed out by this leader if proposals that
// use it are still in flight.
func reserveSeq(fromRegistry uint64, reserved *uint64) uint64 {
	seq := max(fromRegistry, *reserved)
	*reserved = seq + 1
	return seq
}

// allocErr logs allocator bookkeeping errors: they mean the master and the
// allocator disagree about what exists, which is a bug worth seeing but not
// worth stopping the master for.
func (m *Master) allocErr(err error) {
	if err != nil {
		m.log.Warn("allocator bookkeeping error", "err", err)
	}
}

// Info returns this master's MasterInfo.
func (m *Master) Info() *mesos.MasterInfo { return m.info }

// Run drives the master until ctx is cancelled or the replicated log fails.
func (m *Master) Run(ctx context.Context) error {
	defer close(m.stopc)
	defer m.stopLogReset()
	defer m.rl.Close()
	// Inbound Raft traffic; nil channels (single master) are never ready.
	var (
		received    <-chan *raftMessage
		unreachable <-chan uint64
		snapStatus  <-chan transport.SnapshotReport
	)
	if m.tr != nil {
		defer m.tr.Close() // before the log closes (defers run last-in first-out)
		received, unreachable, snapStatus = m.tr.Received(), m.tr.Unreachable(), m.tr.SnapshotStatus()
	}
	raftTick := time.NewTicker(m.cfg.TickInterval)
	defer raftTick.Stop()
	allocTick := time.NewTicker(m.cfg.AllocationInterval)
	defer allocTick.Stop()
	pingTick := time.NewTicker(m.cfg.AgentPingTimeout)
	defer pingTick.Stop()
	gcTick := time.NewTicker(m.cfg.RegistryGCInterval)
	defer gcTick.Stop()

	if len(m.cfg.Peers) == 1 {
		// A single voter need not wait for an election timeout.
		if err := m.rl.Campaign(); err != nil {
			return fmt.Errorf("master: campaign: %w", err)
		}
	}
	if err := m.processReady(); err != nil {
		return err
	}
	m.log.Info("master started", "id", m.info.GetId(), "address", net.JoinHostPort(m.cfg.IP, strconv.Itoa(m.cfg.Port)))
	for {
		select {
		case <-ctx.Done():
			m.revokeLeadership("master stopping")
			return nil
		case f := <-m.reqc:
			f()
			// Drain what is already queued so that a burst of calls turns
			// into one Raft Ready and one allocation run.
			for i := 0; i < 128; i++ {
				select {
				case f := <-m.reqc:
					f()
					continue
				default:
				}
				break
			}
		case msg := <-received:
			// Errors only mean stale or foreign messages; Raft copes.
			_ = m.rl.Step(msg)
			for i := 0; i < 256; i++ { // group what already arrived into one Ready
				select {
				case msg := <-received:
					_ = m.rl.Step(msg)
					continue
				default:
				}
				break
			}
		case id := <-unreachable:
			m.rl.ReportUnreachable(id)
		case r := <-snapStatus:
			status := raft.SnapshotFinish
			if r.Failed {
				status = raft.SnapshotFailure
			}
			m.rl.ReportSnapshot(r.ID, status)
		case <-raftTick.C:
			m.rl.Tick()
		case <-allocTick.C:
			if m.leaderOn {
				m.dirtyAll = true
			}
		case <-pingTick.C:
			if m.leaderOn {
				m.pingAgents()
			}
		case <-gcTick.C:
			if m.leaderOn {
				m.collectRegistryGarbage(time.Now())
			}
		}
		if err := m.processReady(); err != nil {
			m.revokeLeadership("replicated log failed")
			return err
		}
		if m.leaderOn {
			m.runAllocation(time.Now())
		}
	}
}

// do runs f on the loop goroutine and waits for it to finish.
func (m *Master) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case m.reqc <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopc:
		return fmt.Errorf("%w: master stopped", ErrUnavailable)
	}
	select {
	case <-done:
		return nil
	case <-m.stopc:
		return fmt.Errorf("%w: master stopped", ErrUnavailable)
	}
}

// post queues f for the loop without waiting (used by timers and stream
// goroutines that must not block on a busy loop forever).
func (m *Master) post(f func()) {
	go func() {
		select {
		case m.reqc <- f:
		case <-m.stopc:
		}
	}()
}

// after runs f on the loop after d.
func (m *Master) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { m.post(f) })
}

// propose stamps cmd with a request ID and the leader's clock, proposes it,
// and calls done on the loop once it is applied (nil) or cannot be (error).
func (m *Master) propose(cmd *pb.Command, done func(error)) {
	if !m.leaderOn && cmd.GetBarrier() == nil {
		if done != nil {
			done(fmt.Errorf("%w", ErrNotLeader))
		}
		return
	}
	m.nextReqID++
	id := m.nextReqID
	cmd.RequestId = proto.Uint64(id)
	cmd.TimeNs = proto.Int64(time.Now().UnixNano())
	data, err := proto.Marshal(cmd)
	if err != nil {
		if done != nil {
			done(fmt.Errorf("master: encode command: %w", err))
		}
		return
	}
	if err := m.rl.Propose(data); err != nil {
		if done != nil {
			done(fmt.Errorf("%w: propose: %v", ErrUnavailable, err))
		}
		return
	}
	if done != nil {
		m.pending[id] = done
	}
}

// processReady persists, sends and applies whatever Raft has ready, and
// reacts to leadership changes.
func (m *Master) processReady() error {
	for m.rl.HasReady() {
		st, err := m.rl.Process(m.sendRaft, m.applyEntries)
		if err != nil {
			return fmt.Errorf("master: replicated log: %w", err)
		}
		m.onRaftStatus(st)
		if len(m.readWaiters) > 0 {
			m.onReadStates(st.ReadStates)
		}
		if st.SnapshotNeeded {
			// A follower needs a snapshot that lists it as a member: the
			// stored one predates its addition.
			m.snapshotDue = true
		}
	}
	if m.snapshotDue || m.reg.AppliedIndex() >= m.lastSnapAt+m.cfg.SnapshotEvery {
		m.snapshotDue = false
		if m.reg.AppliedIndex() <= m.lastSnapAt {
			return nil
		}
		data, err := m.reg.Snapshot()
		if err != nil {
			return err
		}
		if err := m.rl.Snapshot(m.reg.AppliedIndex(), data); err != nil {
			if errors.Is(err, raft.ErrSnapOutOfDate) || errors.Is(err, replog.ErrNotApplied) {
				// Refused, not failed: a newer snapshot exists (e.g. one
				// received from the leader) or apply is behind; the next
				// round takes one. Storage failures stay fatal.
				m.log.Debug("registry snapshot skipped", "index", m.reg.AppliedIndex(), "err", err)
				return nil
			}
			return fmt.Errorf("master: store registry snapshot: %w", err)
		}
		m.lastSnapAt = m.reg.AppliedIndex()
	}
	return nil
}

// sendRaft hands Raft messages to the peer transport (never blocks). A
// single master has no peers and so no messages.
func (m *Master) sendRaft(msgs []*raftMessage) {
	if m.tr != nil {
		m.tr.Send(msgs)
	}
}

// RaftHandler serves Raft traffic from the other masters (nil for a single
// master); mount it at transport.PathPrefix.
func (m *Master) raftHandler() http.Handler {
	if m.tr == nil {
		return nil
	}
	return m.tr.Handler()
}

func (m *Master) applyEntries(ents []*raftEntry) error {
	for _, e := range ents {
		if e.GetType() == raftpb.EntryConfChange {
			m.applyMemberChange(e)
			continue
		}
		if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 {
			// Empty entries are what a new leader appends.
			continue
		}
		var cmd pb.Command
		if err := proto.Unmarshal(e.GetData(), &cmd); err != nil {
			// Every replica would fail the same way; there is no safe way
			// to continue past an entry we cannot read.
			return fmt.Errorf("master: decode command at index %d: %w", e.GetIndex(), err)
		}
		err := m.reg.Apply(e.GetIndex(), &cmd)
		if err != nil && !errors.Is(err, registry.ErrRejected) {
			return err
		}
		m.version++
		if done, ok := m.pending[cmd.GetRequestId()]; ok {
			delete(m.pending, cmd.GetRequestId())
			done(err)
		}
	}
	return nil
}

func (m *Master) onRaftStatus(st replog.Status) {
	if st.Leader != m.raftLead {
		m.raftLead = st.Leader
		m.log.Info("raft leader changed", "leader", st.Leader, "self", m.cfg.ID)
	}
	isLeader := st.IsLeader()
	switch {
	case isLeader && !m.leaderOn && !m.barrierPending:
		// Leader-only subsystems turn on only after a barrier entry of our
		// own term applies: then the registry reflects every earlier entry.
		m.barrierPending = true
		m.proposeBarrier()
	case !isLeader && (m.leaderOn || m.barrierPending):
		m.barrierPending = false
		m.revokeLeadership("lost leadership")
	}
	m.updateLeaderAddr()
}

func (m *Master) proposeBarrier() {
	cmd := &pb.Command{Kind: &pb.Command_Barrier{Barrier: &pb.Barrier{MasterId: proto.String(m.info.GetId())}}}
	m.nextReqID++
	id := m.nextReqID
	cmd.RequestId = proto.Uint64(id)
	cmd.TimeNs = proto.Int64(time.Now().UnixNano())
	data, _ := proto.Marshal(cmd)
	if err := m.rl.Propose(data); err != nil {
		m.log.Warn("barrier proposal failed; will retry on next leadership change", "err", err)
		m.barrierPending = false
		return
	}
	m.pending[id] = func(err error) {
		m.barrierPending = false
		if err != nil || m.raftLead != m.cfg.ID {
			return
		}
		m.establishLeadership()
	}
}

func (m *Master) updateLeaderAddr() {
	if m.leaderOn {
		s := net.JoinHostPort(m.cfg.Hostname, strconv.Itoa(m.cfg.Port))
		m.leaderAddr.Store(&s)
		m.leading.Store(true)
		return
	}
	m.leading.Store(false)
	if addr, ok := m.peers[m.raftLead]; ok && m.raftLead != m.cfg.ID {
		m.leaderAddr.Store(&addr)
		return
	}
	if lm := m.reg.Master(); lm != nil && m.raftLead != 0 && m.raftLead != m.cfg.ID {
		s := net.JoinHostPort(lm.GetHostname(), strconv.Itoa(int(lm.GetPort())))
		m.leaderAddr.Store(&s)
		return
	}
	m.leaderAddr.Store(nil)
}

// establishLeadership turns on the leader-only subsystems together.
func (m *Master) establishLeadership() {
	m.leaderOn = true
	m.elected = time.Now()
	m.propose(&pb.Command{Kind: &pb.Command_SetMasterInfo{SetMasterInfo: &pb.SetMasterInfo{Info: m.info}}}, nil)
	m.alloc = allocator.New(allocator.Options{MinAllocatable: m.minAllocatable})
	m.syncPolicy()
	if len(m.cfg.InitialWeights) > 0 && len(m.reg.Weights()) == 0 {
		var infos []*mesos.WeightInfo
		for role, w := range m.cfg.InitialWeights {
			infos = append(infos, &mesos.WeightInfo{Role: proto.String(role), Weight: proto.Float64(w)})
		}
		sort.Slice(infos, func(i, j int) bool { return infos[i].GetRole() < infos[j].GetRole() })
		m.updateWeights(infos, func(err error) {
			if err != nil {
				m.log.Error("could not apply --weights", "err", err)
			}
		})
	}
	// Agents in the registry are "recovered" until they re-register; their
	// tasks are learned from re-registration.
	for _, ra := range m.reg.Agents() {
		if ra.GetState() != pb.RegistryAgent_ADMITTED {
			continue
		}
		id := ra.GetInfo().GetId().GetValue()
		if _, ok := m.agents[id]; !ok {
			m.agents[id] = newRecoveredAgent(ra.GetInfo())
		}
	}
	// Completed frameworks are listed from the registry, so a new leader
	// shows what an earlier one removed (without their tasks, which are not
	// replicated).
	m.completedFrameworks = m.completedFrameworks[:0]
	for _, rf := range m.reg.CompletedFrameworkInfos() {
		f := newFramework(rf.GetInfo(), m.cfg.MaxCompletedTasks)
		f.registeredTime = time.Unix(0, rf.GetRegisteredTimeNs())
		f.unregisteredTime = time.Unix(0, rf.GetRemovedTimeNs())
		m.completedFrameworks = append(m.completedFrameworks, f)
	}
	// Frameworks disconnected before failover keep their replicated
	// deadline; the ones that were connected start counting when they
	// disconnect from this leader (Mesos semantics).
	now := time.Now()
	for _, rf := range m.reg.Frameworks() {
		id := rf.GetInfo().GetId().GetValue()
		f, ok := m.frameworks[id]
		if !ok {
			f = newFramework(rf.GetInfo(), m.cfg.MaxCompletedTasks)
			f.recovered = true
			m.frameworks[id] = f
		}
		m.addFrameworkToAllocator(f)
		if dl := rf.GetFailoverDeadlineNs(); dl != 0 {
			m.armFailoverTimer(f, time.Unix(0, dl).Sub(now))
		}
	}
	// Recovered agents that never come back would otherwise stay
	// "recovered" forever, and reconciliation of their tasks would never be
	// answered (Mesos: agent_reregister_timeout, then unreachable).
	m.leaderEpoch++
	epoch := m.leaderEpoch
	m.reregTimer = m.after(m.cfg.AgentReregisterTimeout, func() {
		if !m.leaderOn || m.leaderEpoch != epoch {
			return
		}
		for _, a := range m.sortedAgents() {
			if a.recovered {
				m.scheduleUnreachable(a, "agent did not re-register within agent_reregister_timeout")
			}
		}
	})
	m.dirtyAll = true
	m.version++
	m.updateLeaderAddr()
	m.log.Info("elected leading master", "id", m.info.GetId())
}

// revokeLeadership turns the leader-only subsystems off together and drops
// every connection; clients find the new leader through redirects.
func (m *Master) revokeLeadership(reason string) {
	for id, done := range m.pending {
		delete(m.pending, id)
		done(fmt.Errorf("%w: %s", ErrNotLeader, reason))
	}
	m.failReads(fmt.Errorf("%w: %s", ErrNotLeader, reason))
	for id, done := range m.pendingMember {
		delete(m.pendingMember, id)
		done(fmt.Errorf("%w: %s", ErrNotLeader, reason))
	}
	if !m.leaderOn {
		m.updateLeaderAddr()
		return
	}
	m.leaderOn = false
	m.closeOperatorStreams()
	// Timers hold the master (and everything it owns) until they fire, so
	// a stopped or demoted master must stop them rather than let them lapse.
	if m.reregTimer != nil {
		m.reregTimer.Stop()
		m.reregTimer = nil
	}
	if m.unreachableTimer != nil {
		m.unreachableTimer.Stop()
		m.unreachableTimer = nil
	}
	clear(m.unreachableQueue)
	m.unreachableOrder = nil
	for _, o := range m.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	for _, f := range m.frameworks {
		f.stopTimers()
		if f.sub != nil {
			f.sub.close()
			f.sub = nil
		}
	}
	for _, a := range m.agents {
		if a.conn != nil {
			a.conn.close()
			a.conn = nil
		}
	}
	m.frameworks = make(map[string]*framework)
	m.agents = make(map[string]*agent)
	m.offers = make(map[string]*offer)
	m.version++
	m.updateLeaderAddr()
	m.log.Warn("no longer leading", "reason", reason)
}

// LeaderAddress returns "host:port" of the leading master, or "" if unknown.
func (m *Master) LeaderAddress() string {
	if p := m.leaderAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// IsLeader reports whether this master leads and serves the APIs.
func (m *Master) IsLeader() bool { return m.leading.Load() }
