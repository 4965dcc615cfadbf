// Package replog is the master's replicated log: a raft.RawNode plus its
// durable storage (package walstore: a write-ahead log for entries and
// HardStates, bbolt for snapshots), driven synchronously by the one
// goroutine that owns the master state, the way etcd raft's node.run drives
// a RawNode. It has no goroutines and no locks.
//
// # Loop
//
// The owner calls Tick on a timer, Step for every message from a peer,
// Propose for every command, and then, whenever HasReady is true, Process:
//
//	for {
//		select {
//		case <-ticker.C:
//			log.Tick()
//		case m := <-fromPeers:
//			_ = log.Step(m)
//		case cmd := <-proposals:
//			_ = log.Propose(cmd)
//		}
//		for log.HasReady() {
//			st, err := log.Process(transport.Send, fsm.Apply)
//			if err != nil {
//				return err // the Log is dead: stop the master
//			}
//			leadership.Observe(st) // st.LeaderReady() gates leader-only work
//			if st.SnapshotNeeded {
//				_ = log.Snapshot(st.Applied, fsm.Snapshot())
//			}
//		}
//	}
//
// Everything proposed between two Process calls is persisted by one WAL
// append (one fdatasync): that group commit is what makes throughput scale
// with load instead of with disk latency.
//
// # Invariants
//
//   - Process follows raft's contract for synchronous storage (raft doc.go and
//     Ready), with the leader optimisation that contract allows (Raft thesis
//     §10.2.1): first send the leader's replication messages (MsgApp,
//     MsgHeartbeat, MsgSnap), so the followers' fsyncs overlap the leader's;
//     then persist snapshot, entries and HardState with one store Save (one
//     fdatasync; a received snapshot adds a bbolt commit); only then send
//     every other message (in synchronous mode
//     Ready.Messages also carries vote and append acknowledgements, which
//     must never leave before the state they acknowledge is durable); then
//     restore a received snapshot; then apply committed entries; then
//     Advance. See sendsBeforePersist for the safety argument.
//   - Entries reach apply exactly once per process lifetime, in log order.
//     After a restart, apply starts right after the latest snapshot
//     (SnapshotData), because that is the state the master restores first.
//   - Any storage, restore or apply error is sticky: every later call returns
//     it (wrapping ErrFailed). raft must not advance past state that was not
//     made durable or not applied, so the only recovery is a restart.
//   - A HardState that changes only the commit index is not written on its
//     own: it rides along with the next write (or Close / Snapshot). The
//     commit index is recoverable from the leader, and skipping that write
//     halves the fdatasyncs a follower makes per entry. Snapshot flushes
//     it first, so the stored commit index never lags the stored snapshot.
package replog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/replog/walstore"
)

var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("replog: invalid config")
	// ErrFailed wraps the first storage, restore or apply error; once a Log
	// has failed every call returns it and the master must stop.
	ErrFailed = errors.New("replog: log failed, restart required")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("replog: closed")
	// ErrNotApplied means Snapshot was asked for an index this Log has not
	// handed to apply yet.
	ErrNotApplied = errors.New("replog: index not applied yet")
	// ErrLegacyStore means Config.Dir holds a log written by an older
	// mesosd (one bbolt file, legacyDBFile) that this version cannot read.
	ErrLegacyStore = errors.New("replog: work dir holds a legacy bbolt raft log (raft.db); start this version with a fresh work_dir")
)

// legacyDBFile is where mesosd kept the whole log (one bbolt file, two
// fdatasyncs per Ready) before walstore. There are no released users of that layout, so there is
// no migration: Open refuses such a directory instead of starting an empty
// log next to it (which would make this node forget its votes and entries).
const legacyDBFile = "raft.db"

// Config configures Open.
type Config struct {
	// Dir holds the store (walstore.SnapFile and the walstore.WALDir
	// directory); created if missing.
	Dir string
	// ID is this node's raft ID: non-zero and never reused in a cluster.
	ID uint64
	// Peers are the initial voters, ID included. Used only when the store is
	// empty, and then every initial member must be given the same list.
	// Empty Peers with an empty store starts a node that waits to be added
	// by a conf change and then receives a snapshot from the leader.
	Peers []uint64
	// ElectionTick and HeartbeatTick are in Tick calls (defaults 10 and 1).
	ElectionTick, HeartbeatTick int
	// Logger receives raft's logs; nil means raft's default (stderr).
	Logger raft.Logger
	// Restore replaces the master state with a snapshot received from the
	// leader (index, data). Called from Process, before the entries that
	// follow the snapshot are applied. Required.
	Restore func(index uint64, data []byte) error
	// SnapshotCatchUpEntries is how many entries Snapshot keeps below the
	// snapshot index so a slightly slow follower catches up from the log
	// instead of a full snapshot (default 5000, as etcd).
	SnapshotCatchUpEntries uint64
	// MaxSizePerMsg bounds a MsgApp and each batch of committed entries
	// (default 1 MiB); MaxInflightMsgs bounds unacknowledged MsgApps per
	// follower (default 256).
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// NoSync turns off fsync. Tests only: it voids every durability claim.
	NoSync bool
}

// logStore is what Log needs from its durable store (a *walstore.Store,
// checked by the conformance suite in storetest). Save persists one Ready durably before it
// returns; the raft.Storage methods follow raft's error contract.
type logStore interface {
	raft.Storage
	IsEmpty() bool
	SnapshotMetadata() *raftpb.SnapshotMetadata
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) error
	Compact(index uint64) error
	Close() error
}

// Status is the node's view after a Process call.
type Status struct {
	ID     uint64
	Leader uint64 // 0 when no leader is known
	State  raft.StateType
	Term   uint64
	Commit uint64
	// Applied is the index of the last entry consumed by Process (handed to
	// apply, applied to raft as a conf change, skipped as empty, or covered
	// by a restored snapshot); AppliedTerm is its term.
	Applied, AppliedTerm uint64
	// SnapshotNeeded asks the master to call Snapshot(Applied, state) soon:
	// a follower needs a snapshot and the stored one predates the current
	// membership. Raft keeps retrying until one exists.
	SnapshotNeeded bool
	// ReadStates answers ReadIndex calls; a read for RequestCtx is
	// linearizable once Applied >= Index. Only set by Process.
	ReadStates []raft.ReadState
}

// IsLeader reports whether this node is the leader.
func (s Status) IsLeader() bool { return s.State == raft.StateLeader }

// LeaderReady reports whether this node leads and has applied an entry of
// its own term, which means every entry committed by earlier leaders is
// applied too: the barrier after which leader-only subsystems may start.
// raft appends an empty entry on election, so this needs no extra proposal.
func (s Status) LeaderReady() bool { return s.IsLeader() && s.AppliedTerm == s.Term }

// confAt records the membership in force from index on.
type confAt struct {
	index uint64
	cs    *raftpb.ConfState
}

// Log is the replicated log. All methods must be called from one goroutine.
type Log struct {
	cfg Config
	rn  *raft.RawNode
	st  logStore

	err error // sticky; see ErrFailed and ErrClosed

	applied, appliedTerm uint64
	// pendingHS is a commit-only HardState not yet written (package doc).
	pendingHS *raftpb.HardState

	// Membership history since the last snapshot, so Snapshot(i) records
	// the ConfState in force at i even when conf changes were applied after
	// i. confs[0] is the base (at or before the latest snapshot).
	confs []confAt

	snapIndex uint64
	snapData  []byte
	// needSnap: raft wanted to send a snapshot but the stored one predates
	// a membership change (see storage.Snapshot).
	needSnap bool

	closed bool

	// beforePersist, when set (tests only, see export_test.go), runs between
	// the early sends and persist; an error fails the Log there, which is a
	// crash that lost the unpersisted part of the Ready.
	beforePersist func() error
}

// storage is the raft.Storage raft sees: the store, except that a
// snapshot whose membership is out of date is withheld. raft refuses to
// restore a snapshot that does not list the receiving node, so a node added
// after the latest snapshot could otherwise never catch up once the log
// below it is compacted (always, given the bootstrap snapshot). Withholding
// it makes raft retry later, and Status.SnapshotNeeded asks the master for
// a fresh snapshot, which records the current membership.
type storage struct {
	logStore
	l *Log
}

func (s *storage) Snapshot() (*raftpb.Snapshot, error) {
	if s.l.err != nil {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if s.logStore.SnapshotMetadata().GetConfState().Equivalent(s.l.ConfState()) != nil {
		s.l.needSnap = true
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	snap, err := s.logStore.Snapshot()
	if err != nil {
		// raft panics on other errors; fail the Log instead.
		_ = s.l.fail(err)
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return snap, nil
}

// Open opens (or creates and bootstraps) the log in cfg.Dir. On a store that
// has state it restores HardState, membership, entries and the latest
// snapshot, whose data SnapshotData returns; Peers are then ignored.
func Open(cfg Config) (*Log, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := checkLegacy(cfg.Dir); err != nil {
		return nil, err
	}
	st, err := walstore.Open(cfg.Dir, cfg.ID, walstore.Options{NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("replog: open: %w", err)
	}
	l, err := open(cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return l, nil
}

// checkLegacy refuses a directory that holds only a log of the older
// layout (ErrLegacyStore). A raft.db next to a walstore is left alone.
func checkLegacy(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, legacyDBFile)); err != nil {
		return nil // absent (or unreadable, which walstore.Open will report)
	}
	if _, err := os.Stat(filepath.Join(dir, walstore.WALDir)); err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrLegacyStore, filepath.Join(dir, legacyDBFile))
}

func (c *Config) fill() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrConfig)
	case c.ID == 0:
		return fmt.Errorf("%w: ID must be non-zero", ErrConfig)
	case c.Restore == nil:
		return fmt.Errorf("%w: Restore is required", ErrConfig)
	case len(c.Peers) > 0 && !slices.Contains(c.Peers, c.ID):
		return fmt.Errorf("%w: Peers %v do not include ID %d", ErrConfig, c.Peers, c.ID)
	case slices.Contains(c.Peers, 0):
		return fmt.Errorf("%w: peer ID 0", ErrConfig)
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = 1
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = 10
	}
	// raft panics on these; report them as errors instead.
	if c.HeartbeatTick < 0 || c.ElectionTick <= c.HeartbeatTick {
		return fmt.Errorf("%w: need 0 < HeartbeatTick (%d) < ElectionTick (%d)", ErrConfig, c.HeartbeatTick, c.ElectionTick)
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = 5000
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	return nil
}

func open(cfg Config, st logStore) (*Log, error) {
	if st.IsEmpty() && len(cfg.Peers) > 0 {
		// Bootstrap the way raft recommends over RawNode.Bootstrap: a
		// snapshot at index 1 that carries the initial membership, so the
		// log starts at 2 and the master never sees bootstrap conf changes.
		// Identical on every initial member, hence safe to do independently.
		voters := slices.Clone(cfg.Peers)
		slices.Sort(voters)
		voters = slices.Compact(voters)
		boot := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: new(uint64(1)), Term: new(uint64(1)),
			ConfState: &raftpb.ConfState{Voters: voters},
		}}
		hs := &raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}
		if err := st.Save(hs, nil, boot); err != nil {
			return nil, fmt.Errorf("replog: bootstrap: %w", err)
		}
	}
	snap, err := st.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("replog: open: %w", err)
	}
	meta := snap.GetMetadata()
	l := &Log{
		cfg:         cfg,
		st:          st,
		applied:     meta.GetIndex(),
		appliedTerm: meta.GetTerm(),
		confs:       []confAt{{meta.GetIndex(), raftpb.EnsureConfState(meta.GetConfState())}},
		snapIndex:   meta.GetIndex(),
	}
	if len(snap.GetData()) > 0 {
		l.snapData = snap.GetData()
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   cfg.HeartbeatTick,
		Storage:         &storage{logStore: st, l: l},
		Applied:         meta.GetIndex(), // replay starts after the snapshot the master restores
		MaxSizePerMsg:   cfg.MaxSizePerMsg,
		MaxInflightMsgs: cfg.MaxInflightMsgs,
		CheckQuorum:     true, // a leader cut off from a quorum steps down
		PreVote:         true, // a rejoining partitioned node cannot bump terms
		Logger:          cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("replog: open: %w", err)
	}
	l.rn = rn
	return l, nil
}

// fail makes err sticky and returns it.
func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return l.err
}

// Err returns the sticky error, if any.
func (l *Log) Err() error { return l.err }

// Tick advances raft's logical clock by one tick.
func (l *Log) Tick() {
	if l.err == nil {
		l.rn.Tick()
	}
}

// Propose appends data to the log if this node leads, or forwards it to the
// leader. It returns an error wrapping raft.ErrProposalDropped when there is
// no leader (or a leadership transfer is in progress); a proposal that was
// accepted may still be lost on a leader change, so callers route results by
// an ID inside data and retry after a timeout.
func (l *Log) Propose(data []byte) error {
	if l.err != nil {
		return l.err
	}
	if err := l.rn.Propose(data); err != nil {
		return fmt.Errorf("replog: propose: %w", err)
	}
	return nil
}

// ProposeConfChange proposes a membership change (*raftpb.ConfChange or
// *raftpb.ConfChangeV2). It takes effect when Process applies it.
func (l *Log) ProposeConfChange(cc raftpb.ConfChangeI) error {
	if l.err != nil {
		return l.err
	}
	if err := l.rn.ProposeConfChange(cc); err != nil {
		return fmt.Errorf("replog: propose conf change: %w", err)
	}
	return nil
}

// Step feeds a message received from a peer into raft.
func (l *Log) Step(m *raftpb.Message) error {
	if l.err != nil {
		return l.err
	}
	if err := l.rn.Step(m); err != nil {
		return fmt.Errorf("replog: step %s from %d: %w", m.GetType(), m.GetFrom(), err)
	}
	return nil
}

// Campaign starts an election now instead of waiting for the election
// timeout. With a single voter the node leads as soon as the pending
// Readies are processed, no tick needed: one to persist the pre-vote round,
// one for the vote (HasReady stays true until then).
func (l *Log) Campaign() error {
	if l.err != nil {
		return l.err
	}
	if err := l.rn.Campaign(); err != nil {
		return fmt.Errorf("replog: campaign: %w", err)
	}
	return nil
}

// ReadIndex requests a linearizable read point; the answer arrives in
// Status.ReadStates from a later Process, tagged with rctx.
func (l *Log) ReadIndex(rctx []byte) {
	if l.err == nil {
		l.rn.ReadIndex(rctx)
	}
}

// ReportUnreachable tells raft the last send to id failed.
func (l *Log) ReportUnreachable(id uint64) {
	if l.err == nil {
		l.rn.ReportUnreachable(id)
	}
}

// ReportSnapshot must be called after every MsgSnap handed to send, once
// the transport knows whether it was delivered.
func (l *Log) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	if l.err == nil {
		l.rn.ReportSnapshot(id, status)
	}
}

// HasReady reports whether Process has work. False once the Log failed.
func (l *Log) HasReady() bool { return l.err == nil && l.rn.HasReady() }

// Process handles one raft Ready in the order described in the package doc:
//
//  1. send(early): the leader's replication messages (MsgApp, MsgHeartbeat,
//     MsgSnap), if any, so followers write while the leader does;
//  2. persist snapshot + entries + HardState with one Save (one fdatasync);
//  3. send(rest): every other message (acknowledgements, votes, ...).
//     send is thus called zero, one or two times per Process. It must not
//     block on the network, and must marshal (or deep-copy) before it
//     returns: the messages share entries with the log, and raft's doc.go
//     asks that they be marshalled on the loop goroutine. For each MsgSnap,
//     call ReportSnapshot once delivery is known. nil drops all messages,
//     which is fine for a single-voter log. Messages of step 1 may be out
//     already when step 2 fails; that is safe (sendsBeforePersist);
//  4. Config.Restore a snapshot received from the leader, if any;
//  5. apply(ents): committed EntryNormal entries with data, and conf change
//     entries (EntryConfChange, EntryConfChangeV2) already applied to raft
//     so the master can track member addresses from their Context. Log
//     order, each entry once; entries must not be modified. Not called when
//     there is nothing to apply;
//  6. Advance.
//
// It returns the node status for leadership tracking. Any error is sticky
// (wraps ErrFailed). Calling Process without a Ready is a cheap no-op.
func (l *Log) Process(send func([]*raftpb.Message), apply func([]*raftpb.Entry) error) (Status, error) {
	if l.err != nil {
		return l.Status(), l.err
	}
	if !l.rn.HasReady() {
		return l.Status(), nil
	}
	rd := l.rn.Ready()

	early, late := splitMessages(rd.Messages)
	if len(early) > 0 && send != nil {
		send(early)
	}
	if l.beforePersist != nil {
		if err := l.beforePersist(); err != nil {
			return l.Status(), l.fail(err)
		}
	}
	if err := l.persist(rd); err != nil {
		return l.Status(), l.fail(err)
	}
	if len(late) > 0 && send != nil {
		send(late)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		m := rd.Snapshot.GetMetadata()
		if err := l.cfg.Restore(m.GetIndex(), rd.Snapshot.GetData()); err != nil {
			return l.Status(), l.fail(fmt.Errorf("restore snapshot %d: %w", m.GetIndex(), err))
		}
		l.applied, l.appliedTerm = m.GetIndex(), m.GetTerm()
		l.snapIndex = m.GetIndex()
		l.needSnap = false
		l.confs = []confAt{{m.GetIndex(), raftpb.EnsureConfState(proto.CloneOf(m.GetConfState()))}}
	}
	if ents := rd.CommittedEntries; len(ents) > 0 {
		toApply, err := l.consume(ents)
		if err != nil {
			return l.Status(), l.fail(err)
		}
		if len(toApply) > 0 {
			if err := apply(toApply); err != nil {
				return l.Status(), l.fail(fmt.Errorf("apply [%d..%d]: %w",
					toApply[0].GetIndex(), toApply[len(toApply)-1].GetIndex(), err))
			}
		}
		last := ents[len(ents)-1]
		l.applied, l.appliedTerm = last.GetIndex(), last.GetTerm()
	}
	l.rn.Advance(rd)

	st := l.Status()
	st.ReadStates = rd.ReadStates
	return st, nil
}

// sendsBeforePersist reports whether a message may leave before the Ready
// that produced it is persisted. Only the leader's replication messages
// qualify, as raft's doc.go (step 2) and the Raft thesis §10.2.1 allow:
//
//   - They acknowledge nothing. In etcd raft v3.7 synchronous mode a Ready's
//     Messages are raft.msgs followed by raft.msgsAfterAppend; the latter
//     are MsgAppResp, MsgVoteResp and MsgPreVoteResp, each a promise about
//     this node's durable state, so they (and everything else we have no
//     argument for) wait for the fsync.
//   - The leader counts its own append (and, as a candidate, its own vote)
//     only when raft steps the self-addressed response on Advance, after the
//     fsync: an entry commits only once a quorum holds it durably, whether
//     or not the leader's copy is among them. The commit index these
//     messages carry is therefore already backed by durable copies.
//   - The only non-durable content of a MsgApp is entries of the leader's
//     own term. Older entries reached its disk before it could lead: its
//     MsgVote/MsgPreVote requests are late messages, so no peer votes before
//     the Ready holding its log and term is durable, and its self-vote is
//     counted on Advance, after that fsync.
//     A leader that crashes before its fsync restarts as a follower of that
//     term with its vote durable, so it can never lead that term again; the
//     entries it sent remain the only ones ever created at those (index,
//     term) pairs, and Log Matching holds. If a quorum stored them they are
//     committed and the election restriction makes the next leader carry
//     them; if not, they are ordinary uncommitted entries a later leader may
//     overwrite, as after any leader crash.
//   - MsgSnap carries a snapshot read from the store, which is durable.
func sendsBeforePersist(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		return true
	}
	return false
}

// splitMessages partitions msgs into those sent before and after persist,
// keeping raft's order within each. Both common cases (a leader's Ready
// holds only early messages, a follower's only late ones) return msgs
// itself, without allocating.
func splitMessages(msgs []*raftpb.Message) (early, late []*raftpb.Message) {
	n := 0
	for _, m := range msgs {
		if sendsBeforePersist(m) {
			n++
		}
	}
	switch n {
	case 0:
		return nil, msgs
	case len(msgs):
		return msgs, nil
	}
	early = make([]*raftpb.Message, 0, n)
	late = make([]*raftpb.Message, 0, len(msgs)-n)
	for _, m := range msgs {
		if sendsBeforePersist(m) {
			early = append(early, m)
		} else {
			late = append(late, m)
		}
	}
	return early, late
}

// persist writes a Ready's durable part, deferring commit-only HardStates.
func (l *Log) persist(rd raft.Ready) error {
	hs := rd.HardState
	if hs != nil && !rd.MustSync && len(rd.Entries) == 0 && raft.IsEmptySnap(rd.Snapshot) {
		// Term and vote are unchanged (else MustSync): only commit moved.
		l.pendingHS = hs
		return nil
	}
	if hs == nil {
		hs = l.pendingHS // still newer than what is stored
	}
	if hs == nil && len(rd.Entries) == 0 && raft.IsEmptySnap(rd.Snapshot) {
		return nil
	}
	if err := l.st.Save(hs, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	l.pendingHS = nil
	return nil
}

// consume applies conf changes to raft and returns the entries for apply.
// In the common case (only normal entries with data) it returns ents as is.
func (l *Log) consume(ents []*raftpb.Entry) ([]*raftpb.Entry, error) {
	filter := false
	for _, e := range ents {
		if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 {
			filter = true
			break
		}
	}
	if !filter {
		return ents, nil
	}
	out := make([]*raftpb.Entry, 0, len(ents))
	for _, e := range ents {
		var cc raftpb.ConfChangeI
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) > 0 {
				out = append(out, e)
			}
			continue
		case raftpb.EntryConfChange:
			var c raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &c); err != nil {
				return nil, fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
			}
			cc = &c
		case raftpb.EntryConfChangeV2:
			var c raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.GetData(), &c); err != nil {
				return nil, fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
			}
			cc = &c
		default:
			return nil, fmt.Errorf("entry %d has unknown type %v", e.GetIndex(), e.GetType())
		}
		cs := l.rn.ApplyConfChange(cc)
		l.confs = append(l.confs, confAt{e.GetIndex(), proto.CloneOf(cs)})
		out = append(out, e)
	}
	return out, nil
}

// Snapshot records data, the master state after applying appliedIndex, as
// the latest snapshot and compacts the log below appliedIndex minus
// Config.SnapshotCatchUpEntries. appliedIndex must have been consumed by
// Process (Status.Applied) and be newer than the previous snapshot
// (else an error wrapping raft.ErrSnapOutOfDate, which is not sticky).
// The master may serialize an older state than its current one, as long as
// it passes that state's index.
func (l *Log) Snapshot(appliedIndex uint64, data []byte) error {
	if l.err != nil {
		return l.err
	}
	if appliedIndex > l.applied {
		return fmt.Errorf("%w: snapshot at %d, applied %d", ErrNotApplied, appliedIndex, l.applied)
	}
	if appliedIndex <= l.snapIndex {
		return fmt.Errorf("replog: snapshot at %d, latest %d: %w", appliedIndex, l.snapIndex, raft.ErrSnapOutOfDate)
	}
	if l.pendingHS != nil {
		// The stored commit index must not lag the snapshot, or raft
		// refuses to restart (applied > committed).
		if err := l.st.Save(l.pendingHS, nil, nil); err != nil {
			return l.fail(fmt.Errorf("snapshot: %w", err))
		}
		l.pendingHS = nil
	}
	// Membership at appliedIndex: the last change at or before it.
	i := len(l.confs) - 1
	for i > 0 && l.confs[i].index > appliedIndex {
		i--
	}
	if err := l.st.CreateSnapshot(appliedIndex, l.confs[i].cs, data); err != nil {
		return l.fail(fmt.Errorf("snapshot: %w", err))
	}
	l.snapIndex = appliedIndex
	if i == len(l.confs)-1 {
		l.needSnap = false // the stored snapshot has the current membership
	}
	l.confs = l.confs[i:]
	if appliedIndex > l.cfg.SnapshotCatchUpEntries {
		compact := appliedIndex - l.cfg.SnapshotCatchUpEntries
		if first, _ := l.st.FirstIndex(); compact >= first {
			if err := l.st.Compact(compact); err != nil {
				return l.fail(fmt.Errorf("snapshot: %w", err))
			}
		}
	}
	return nil
}

// SnapshotData returns the snapshot the master must restore after Open,
// before the first Process: its index and data. data is nil for a fresh or
// just-bootstrapped store (start from an empty state). Process then
// delivers committed entries from index+1 on.
func (l *Log) SnapshotData() (index uint64, data []byte) { return l.snapIndex, l.snapData }

// Status returns the current status without ReadStates.
func (l *Log) Status() Status {
	bs := l.rn.BasicStatus()
	return Status{
		ID:             bs.ID,
		Leader:         bs.Lead,
		State:          bs.RaftState,
		Term:           bs.GetTerm(),
		Commit:         bs.GetCommit(),
		Applied:        l.applied,
		AppliedTerm:    l.appliedTerm,
		SnapshotNeeded: l.needSnap,
	}
}

// IsLeader reports whether this node currently leads.
func (l *Log) IsLeader() bool { return l.rn.BasicStatus().RaftState == raft.StateLeader }

// Leader returns the known leader's ID, 0 if none.
func (l *Log) Leader() uint64 { return l.rn.BasicStatus().Lead }

// Term returns the current term.
func (l *Log) Term() uint64 { return l.rn.BasicStatus().GetTerm() }

// ConfState returns the membership as of Applied (a copy): voters, learners.
func (l *Log) ConfState() *raftpb.ConfState { return proto.CloneOf(l.confs[len(l.confs)-1].cs) }

// Applied returns the index of the last entry consumed by Process.
func (l *Log) Applied() uint64 { return l.applied }

// Close flushes a deferred HardState and closes the store. Every later call
// returns ErrClosed (or the earlier failure).
func (l *Log) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.err == nil && l.pendingHS != nil {
		if err = l.st.Save(l.pendingHS, nil, nil); err != nil {
			err = fmt.Errorf("replog: close: %w", err)
		}
		l.pendingHS = nil
	}
	if cerr := l.st.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("replog: close: %w", cerr)
	}
	if l.err == nil {
		l.err = ErrClosed
	}
	return err
}
