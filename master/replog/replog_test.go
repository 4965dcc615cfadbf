package replog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/mesosd/mesosd/master/replog"
	"github.com/mesosd/mesosd/master/replog/walstore"
)

// single is a one-voter log with its state machine, as `mesosd dev` runs.
type single struct {
	t   testing.TB
	cfg replog.Config
	log *replog.Log
	fsm *fsm
}

func openSingle(t testing.TB, dir string, peers []uint64) *single {
	t.Helper()
	s := &single{t: t, fsm: &fsm{t: t, name: "single"}}
	s.cfg = replog.Config{Dir: dir, ID: 1, Peers: peers, Logger: quiet,
		Restore: func(i uint64, d []byte) error { return s.fsm.restore(i, d) }}
	l, err := replog.Open(s.cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.log = l
	idx, data := l.SnapshotData()
	_ = s.fsm.restore(idx, data)
	s.fsm.restores = nil
	return s
}

func (s *single) drain() replog.Status {
	s.t.Helper()
	for s.log.HasReady() {
		if _, err := s.log.Process(nil, s.fsm.apply); err != nil {
			s.t.Fatalf("Process: %v", err)
		}
	}
	return s.log.Status()
}

func (s *single) lead() {
	s.t.Helper()
	if err := s.log.Campaign(); err != nil {
		s.t.Fatal(err)
	}
	if st := s.drain(); !st.LeaderReady() {
		s.t.Fatalf("single voter not leader-ready after Campaign: %+v", st)
	}
}

func (s *single) propose(data []string) {
	s.t.Helper()
	for _, d := range data {
		if err := s.log.Propose([]byte(d)); err != nil {
			s.t.Fatalf("Propose: %v", err)
		}
	}
}

func TestSingleNodeProposeApplyReopen(t *testing.T) {
	dir := t.TempDir()
	s := openSingle(t, dir, []uint64{1})
	if idx, data := s.log.SnapshotData(); idx != 1 || data != nil {
		t.Fatalf("bootstrap SnapshotData = %d, %q; want 1, nil", idx, data)
	}
	// Campaign right after Open: leader once the pending Readies (pre-vote,
	// then vote) are processed, with no tick.
	if err := s.log.Campaign(); err != nil {
		t.Fatal(err)
	}
	readies := 0
	var st replog.Status
	for s.log.HasReady() && !st.IsLeader() {
		var err error
		if st, err = s.log.Process(nil, s.fsm.apply); err != nil {
			t.Fatal(err)
		}
		readies++
	}
	if !st.IsLeader() || st.Leader != 1 || readies != 2 {
		t.Fatalf("after %d Readies: %+v", readies, st)
	}
	s.drain()

	want := payloads("a", 100)
	for i := 0; i < len(want); i += 10 {
		s.propose(want[i : i+10])
		s.drain()
	}
	if !slices.Equal(s.fsm.data, want) {
		t.Fatalf("applied %q..., want %d entries", head(s.fsm.data), len(want))
	}
	before := s.log.Status()
	if err := s.log.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.log.Propose([]byte("x")); !errors.Is(err, replog.ErrClosed) {
		t.Fatalf("Propose after Close err = %v", err)
	}

	// Reopen with different Peers: they must be ignored (no re-bootstrap).
	s2 := openSingle(t, dir, []uint64{1, 2, 3})
	defer s2.log.Close()
	after := s2.log.Status()
	if after.Term != before.Term || after.Commit != before.Commit {
		t.Fatalf("HardState after reopen term=%d commit=%d, want %d/%d", after.Term, after.Commit, before.Term, before.Commit)
	}
	s2.drain() // replays every committed entry after the bootstrap snapshot
	if !slices.Equal(s2.fsm.data, want) {
		t.Fatalf("replayed %d entries, want %d", len(s2.fsm.data), len(want))
	}
	// Still a single voter: it can lead alone.
	s2.lead()
	s2.propose([]string{"b"})
	s2.drain()
	if got := s2.fsm.data[len(s2.fsm.data)-1]; got != "b" {
		t.Fatalf("last applied %q", got)
	}
}

// TestGroupCommit: proposals made between Readies are persisted together
// and reach apply in one call, in order.
func TestGroupCommit(t *testing.T) {
	s := openSingle(t, t.TempDir(), []uint64{1})
	defer s.log.Close()
	s.lead()
	var calls [][]string
	apply := func(ents []*raftpb.Entry) error {
		var batch []string
		for _, e := range ents {
			batch = append(batch, string(e.GetData()))
		}
		calls = append(calls, batch)
		return s.fsm.apply(ents)
	}
	want := payloads("g", 100)
	s.propose(want)
	for s.log.HasReady() {
		if _, err := s.log.Process(nil, apply); err != nil {
			t.Fatal(err)
		}
	}
	if len(calls) != 1 || !slices.Equal(calls[0], want) {
		t.Fatalf("apply calls = %d (first has %d entries), want 1 call with 100", len(calls), len(calls[0]))
	}
}

func TestSnapshotThenReopen(t *testing.T) {
	dir := t.TempDir()
	s := openSingle(t, dir, []uint64{1})
	s.cfg.SnapshotCatchUpEntries = 10
	s.lead()
	s.propose(payloads("a", 50))
	st := s.drain()
	snapAt, snapState := st.Applied, s.fsm.snapshot()
	if err := s.log.Snapshot(snapAt+1, nil); !errors.Is(err, replog.ErrNotApplied) {
		t.Fatalf("Snapshot past applied err = %v", err)
	}
	if err := s.log.Snapshot(snapAt, snapState); err != nil {
		t.Fatal(err)
	}
	if err := s.log.Snapshot(snapAt, snapState); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("repeat Snapshot err = %v", err)
	}
	if s.log.Err() != nil {
		t.Fatalf("caller errors must not be sticky: %v", s.log.Err())
	}
	later := payloads("b", 7)
	s.propose(later)
	s.drain()
	if err := s.log.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openSingle(t, dir, nil)
	defer s2.log.Close()
	idx, data := s2.log.SnapshotData()
	if idx != snapAt || string(data) != string(snapState) {
		t.Fatalf("SnapshotData = %d (%d bytes), want %d (%d bytes)", idx, len(data), snapAt, len(snapState))
	}
	// Count what replay delivers: only the entries after the snapshot.
	var replayed []string
	for s2.log.HasReady() {
		_, err := s2.log.Process(nil, func(ents []*raftpb.Entry) error {
			for _, e := range ents {
				if e.GetIndex() <= snapAt {
					t.Fatalf("replayed entry %d at or below snapshot %d", e.GetIndex(), snapAt)
				}
				replayed = append(replayed, string(e.GetData()))
			}
			return s2.fsm.apply(ents)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(replayed, later) {
		t.Fatalf("replayed %q, want %q", replayed, later)
	}
	if want := append(payloads("a", 50), later...); !slices.Equal(s2.fsm.data, want) {
		t.Fatalf("state after snapshot+replay has %d entries, want %d", len(s2.fsm.data), len(want))
	}
}

func TestApplyErrorIsSticky(t *testing.T) {
	s := openSingle(t, t.TempDir(), []uint64{1})
	defer s.log.Close()
	s.lead()
	s.propose([]string{"boom"})
	boom := errors.New("state machine broke")
	var err error
	for s.log.HasReady() && err == nil {
		_, err = s.log.Process(nil, func([]*raftpb.Entry) error { return boom })
	}
	if !errors.Is(err, replog.ErrFailed) || !errors.Is(err, boom) {
		t.Fatalf("Process err = %v, want ErrFailed wrapping the apply error", err)
	}
	if err := s.log.Propose([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("Propose after failure err = %v", err)
	}
	if _, err := s.log.Process(nil, s.fsm.apply); !errors.Is(err, boom) {
		t.Fatalf("Process after failure err = %v", err)
	}
	if s.log.HasReady() {
		t.Fatal("failed log reports HasReady")
	}
}

func TestConfigErrors(t *testing.T) {
	restore := func(uint64, []byte) error { return nil }
	for i, cfg := range []replog.Config{
		{ID: 1, Restore: restore},
		{Dir: t.TempDir(), Restore: restore},
		{Dir: t.TempDir(), ID: 1},
		{Dir: t.TempDir(), ID: 1, Peers: []uint64{2, 3}, Restore: restore},
		{Dir: t.TempDir(), ID: 1, ElectionTick: 2, HeartbeatTick: 2, Restore: restore},
	} {
		if _, err := replog.Open(cfg); !errors.Is(err, replog.ErrConfig) {
			t.Errorf("config %d: err = %v, want ErrConfig", i, err)
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openSingle(t, dir, []uint64{1})
	defer s.log.Close()
	_, err := replog.Open(s.cfg)
	if err == nil || !strings.Contains(err.Error(), "locked by another mesosd") {
		t.Fatalf("second Open err = %v", err)
	}
}

// TestLegacyStoreIsRefused: a work dir from the bbolt-only layout is not
// silently treated as empty (the node would forget its votes and log).
func TestLegacyStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "raft.db"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := replog.Config{Dir: dir, ID: 1, Peers: []uint64{1}, Logger: quiet,
		Restore: func(uint64, []byte) error { return nil }}
	_, err := replog.Open(cfg)
	if !errors.Is(err, replog.ErrLegacyStore) || !strings.Contains(err.Error(), "fresh work_dir") {
		t.Fatalf("Open err = %v, want ErrLegacyStore", err)
	}
	if _, err := os.Stat(filepath.Join(dir, walstore.WALDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused Open created the WAL directory: %v", err)
	}
}

// TestReadIndexSingleNode: a read index is answered through Process.
func TestReadIndexSingleNode(t *testing.T) {
	s := openSingle(t, t.TempDir(), []uint64{1})
	defer s.log.Close()
	s.lead()
	s.log.ReadIndex([]byte("r1"))
	st, err := s.log.Process(nil, s.fsm.apply)
	if err != nil || len(st.ReadStates) != 1 || string(st.ReadStates[0].RequestCtx) != "r1" ||
		st.ReadStates[0].Index > st.Applied {
		t.Fatalf("ReadStates = %+v (applied %d), %v", st.ReadStates, st.Applied, err)
	}
}

// --- 3-node cluster -------------------------------------------------------

func TestClusterReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.elect()
	var want []string
	for round := range 5 {
		batch := payloads(fmt.Sprint("r", round), 20)
		for _, d := range batch {
			c.propose(lead, d)
		}
		want = append(want, batch...)
		c.stabilize()
	}
	// Followers learn the final commit index with the next heartbeat.
	c.tick(2)
	c.checkSame(want)
	for _, id := range c.ids {
		if st := c.nodes[id].log.Status(); st.Leader != lead {
			t.Fatalf("node %d thinks leader is %d, want %d", id, st.Leader, lead)
		}
	}
	// Proposals on a follower are forwarded to the leader.
	follower := c.ids[(slices.Index(c.ids, lead)+1)%3]
	c.propose(follower, "via-follower")
	c.stabilize()
	c.tick(2)
	c.checkSame(append(want, "via-follower"))
}

func TestClusterFollowerCatchesUpFromLog(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.elect()
	lagger := c.ids[(slices.Index(c.ids, lead)+1)%3]
	c.stop(lagger)
	want := payloads("x", 30)
	for _, d := range want {
		c.propose(lead, d)
	}
	c.stabilize()
	c.start(c.nodes[lagger])
	c.tick(5)
	c.checkSame(want)
	if r := c.nodes[lagger].fsm.restores; len(r) != 0 {
		t.Fatalf("lagger restored snapshots %v; expected a log catch-up", r)
	}
}

func TestClusterFollowerCatchesUpViaSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *replog.Config) { cfg.SnapshotCatchUpEntries = 5 })
	lead := c.elect()
	lagger := c.ids[(slices.Index(c.ids, lead)+1)%3]
	c.isolate(lagger)
	want := payloads("s", 40)
	for _, d := range want {
		c.propose(lead, d)
	}
	c.stabilize()
	c.tick(2)
	// Every connected node snapshots and compacts past what the lagger has.
	for _, id := range c.ids {
		if id == lagger {
			continue
		}
		nd := c.nodes[id]
		if err := nd.log.Snapshot(nd.log.Applied(), nd.fsm.snapshot()); err != nil {
			t.Fatalf("node %d: Snapshot: %v", id, err)
		}
	}
	more := payloads("t", 3)
	for _, d := range more {
		c.propose(lead, d)
	}
	c.stabilize()
	c.heal()
	c.tick(10)
	want = append(want, more...)
	c.checkSame(want)
	if r := c.nodes[lagger].fsm.restores; len(r) != 1 {
		t.Fatalf("lagger restored snapshots %v, want exactly one", r)
	}
	// A restart of the caught-up node rebuilds the same state from its
	// stored (received) snapshot plus replay.
	c.restart(lagger)
	c.tick(3)
	c.checkSame(want)
}

func TestClusterPartitionedLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.elect()
	oldTerm := c.nodes[old].log.Term()
	c.propose(old, "before")
	c.stabilize()
	c.isolate(old)
	// CheckQuorum: the leader checks for an active quorum every election
	// timeout, so it steps down within two of them.
	c.tick(2 * 10)
	if c.nodes[old].log.IsLeader() {
		t.Fatal("partitioned leader did not step down")
	}
	// Meanwhile the others elect a new leader (randomized timeouts may
	// split a vote or two, hence the bound rather than a fixed count).
	var lead uint64
	for range 200 {
		for _, id := range c.ids {
			if id != old && c.nodes[id].log.IsLeader() {
				lead = id
			}
		}
		if lead != 0 {
			break
		}
		c.tick(1)
	}
	if lead == 0 || c.nodes[lead].log.Term() <= oldTerm {
		t.Fatalf("no new leader in a later term (lead=%d)", lead)
	}
	// The isolated node did not inflate its term (PreVote).
	if got := c.nodes[old].log.Term(); got > c.nodes[lead].log.Term() {
		t.Fatalf("isolated node term %d > leader term %d", got, c.nodes[lead].log.Term())
	}
	c.propose(lead, "after")
	c.stabilize()
	c.heal()
	c.tick(5)
	if got := c.leader(); got != lead {
		t.Fatalf("leader after heal = %d, want %d (the rejoining node must not disrupt)", got, lead)
	}
	c.checkSame([]string{"before", "after"})
}

// TestClusterRestartAll: a full-cluster restart replays identical logs.
func TestClusterRestartAll(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.elect()
	want := payloads("p", 25)
	for _, d := range want {
		c.propose(lead, d)
	}
	c.stabilize()
	c.tick(2)
	for _, id := range c.ids {
		c.restart(id)
	}
	c.elect()
	c.tick(3)
	c.checkSame(want)
}

func TestClusterAddNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.elect()
	want := payloads("m", 10)
	for _, d := range want {
		c.propose(lead, d)
	}
	c.stabilize()
	n4 := c.addNode(4)
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(uint64(4))}
	if err := c.nodes[lead].log.ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	c.tick(5)
	c.propose(lead, "after-add")
	c.stabilize()
	c.tick(2)
	want = append(want, "after-add")
	c.checkSame(want)
	// It caught up from a snapshot the leader took on demand (the stored
	// bootstrap snapshot does not list node 4).
	if r := n4.fsm.restores; len(r) != 1 || r[0] <= 1 {
		t.Fatalf("new node restored %v, want one on-demand snapshot", r)
	}
	for _, id := range c.ids {
		if v := c.nodes[id].log.ConfState().GetVoters(); !slices.Equal(v, []uint64{1, 2, 3, 4}) {
			t.Fatalf("node %d voters = %v", id, v)
		}
	}
	// The membership survives a snapshot and a restart of the leader.
	ln := c.nodes[lead]
	if err := ln.log.Snapshot(ln.log.Applied(), ln.fsm.snapshot()); err != nil {
		t.Fatal(err)
	}
	c.restart(lead)
	if v := ln.log.ConfState().GetVoters(); !slices.Equal(v, []uint64{1, 2, 3, 4}) {
		t.Fatalf("voters after restart = %v", v)
	}
	c.elect()
	c.tick(3)
	c.checkSame(want)
}
