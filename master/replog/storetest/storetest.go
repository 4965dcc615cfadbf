// Package storetest is the conformance suite for the replicated log's
// durable store (walstore, under several segment sizes): the behaviour
// replog and raft rely on, including that everything survives Close and a
// reopen. It is a package of its own so that another store (or a changed
// walstore layout) is held to the same contract.
package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Store is the method set replog uses from a store, plus HardState for
// checks.
type Store interface {
	raft.Storage
	IsEmpty() bool
	HardState() *raftpb.HardState
	SnapshotMetadata() *raftpb.SnapshotMetadata
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) error
	Compact(index uint64) error
	Close() error
}

// Config describes the implementation under test.
type Config struct {
	// Open opens (or creates) the store kept in dir for raft node nodeID.
	// It is called again on the same dir after Close. The lock wait should
	// be short: the suite checks that a second Open fails with ErrLocked.
	Open func(t testing.TB, dir string, nodeID uint64) (Store, error)
	// The implementation's sentinel errors.
	ErrLogGap, ErrOutOfRange, ErrUncovered, ErrLocked, ErrNodeID error
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, c Config) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Config)
	}{
		{"Empty", testEmpty},
		{"AppendOverwriteReopen", testAppendOverwriteReopen},
		{"EntriesMaxSize", testEntriesMaxSize},
		{"HandedOutSlicesStable", testHandedOutSlicesStable},
		{"HardStateOnly", testHardStateOnly},
		{"SnapshotCompactReopen", testSnapshotCompactReopen},
		{"CompactThenAppendReopen", testCompactThenAppendReopen},
		{"SaveSnapshotReplacesLog", testSaveSnapshotReplacesLog},
		{"LockedAndNodeID", testLockedAndNodeID},
		{"ReopenAfterEveryOp", testReopenAfterEveryOp},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

// Ent returns an entry at index with term and a payload naming both.
func Ent(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryNormal.Enum(),
		Data: fmt.Appendf(nil, "e%d/%d", index, term)}
}

// Ents returns entries lo..hi inclusive, all with term.
func Ents(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, Ent(i, term))
	}
	return out
}

// HS returns a HardState.
func HS(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// store is an open store with its directory, for reopening.
type store struct {
	Store
	t   testing.TB
	c   Config
	dir string
}

func open(t testing.TB, c Config, dir string) *store {
	t.Helper()
	s, err := c.Open(t, dir, 1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	st := &store{Store: s, t: t, c: c, dir: dir}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newStore(t testing.TB, c Config) *store { return open(t, c, t.TempDir()) }

// reopen closes the store and opens it again from its directory.
func (s *store) reopen() *store {
	s.t.Helper()
	if err := s.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
	return open(s.t, s.c, s.dir)
}

func (s *store) save(h *raftpb.HardState, es []*raftpb.Entry, snap *raftpb.Snapshot) {
	s.t.Helper()
	if err := s.Save(h, es, snap); err != nil {
		s.t.Fatalf("Save: %v", err)
	}
}

// CheckLog asserts first/last index and that every entry in range has the
// expected term and matches what Entries and Term return.
func CheckLog(t testing.TB, s raft.Storage, first, last uint64, termOf func(uint64) uint64) {
	t.Helper()
	if fi, _ := s.FirstIndex(); fi != first {
		t.Fatalf("FirstIndex = %d, want %d", fi, first)
	}
	if li, _ := s.LastIndex(); li != last {
		t.Fatalf("LastIndex = %d, want %d", li, last)
	}
	if last < first {
		return
	}
	got, err := s.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d,%d): %v", first, last+1, err)
	}
	if uint64(len(got)) != last-first+1 {
		t.Fatalf("Entries returned %d entries, want %d", len(got), last-first+1)
	}
	for i, e := range got {
		idx := first + uint64(i)
		if e.GetIndex() != idx || e.GetTerm() != termOf(idx) {
			t.Fatalf("entry %d = (%d,%d), want (%d,%d)", i, e.GetIndex(), e.GetTerm(), idx, termOf(idx))
		}
		if tm, err := s.Term(idx); err != nil || tm != termOf(idx) {
			t.Fatalf("Term(%d) = %d, %v; want %d", idx, tm, err, termOf(idx))
		}
	}
}

func term1(uint64) uint64 { return 1 }

func testEmpty(t *testing.T, c Config) {
	s := newStore(t, c)
	for round := range 2 {
		if round == 1 {
			s = s.reopen()
		}
		if !s.IsEmpty() {
			t.Fatal("new store not empty")
		}
		h, cs, err := s.InitialState()
		if err != nil || !raft.IsEmptyHardState(h) || cs == nil || len(cs.GetVoters()) != 0 {
			t.Fatalf("InitialState = %v, %v, %v", h, cs, err)
		}
		CheckLog(t, s, 1, 0, nil)
		if tm, err := s.Term(0); err != nil || tm != 0 {
			t.Fatalf("Term(0) = %d, %v", tm, err)
		}
		if _, err := s.Term(1); err != raft.ErrUnavailable {
			t.Fatalf("Term(1) err = %v, want ErrUnavailable", err)
		}
		if _, err := s.Entries(1, 1, 100); err != raft.ErrUnavailable {
			t.Fatalf("Entries on empty log err = %v, want ErrUnavailable", err)
		}
		snap, err := s.Snapshot()
		if err != nil || !raft.IsEmptySnap(snap) {
			t.Fatalf("Snapshot = %v, %v", snap, err)
		}
		if err := s.Save(nil, nil, nil); err != nil {
			t.Fatalf("empty Save: %v", err)
		}
	}
}

func testAppendOverwriteReopen(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(HS(1, 1, 0), Ents(1, 5, 1), nil)
	CheckLog(t, s, 1, 5, term1)

	// A new leader overwrites 4..5 with a shorter suffix at term 2.
	s.save(HS(2, 2, 3), Ents(4, 4, 2), nil)
	term := func(i uint64) uint64 {
		if i >= 4 {
			return 2
		}
		return 1
	}
	CheckLog(t, s, 1, 4, term)
	if _, err := s.Term(5); err != raft.ErrUnavailable {
		t.Fatalf("Term(5) after truncation err = %v", err)
	}

	// Append entries that are partly already stored (same terms): idempotent.
	s.save(nil, []*raftpb.Entry{Ent(3, 1), Ent(4, 2), Ent(5, 2)}, nil)
	CheckLog(t, s, 1, 5, term)

	// A gap is refused and changes nothing; so is a batch with a hole.
	if err := s.Save(nil, Ents(7, 8, 2), nil); !errors.Is(err, c.ErrLogGap) {
		t.Fatalf("gap err = %v, want ErrLogGap", err)
	}
	if err := s.Save(nil, []*raftpb.Entry{Ent(6, 2), Ent(8, 2)}, nil); !errors.Is(err, c.ErrLogGap) {
		t.Fatalf("holed batch err = %v, want ErrLogGap", err)
	}
	CheckLog(t, s, 1, 5, term)

	s = s.reopen()
	CheckLog(t, s, 1, 5, term)
	if h, _, _ := s.InitialState(); !proto.Equal(h, HS(2, 2, 3)) {
		t.Fatalf("HardState after reopen = %v", h)
	}

	// Overwrite from the very first index, then reopen again.
	s.save(HS(3, 3, 3), Ents(1, 2, 3), nil)
	s = s.reopen()
	CheckLog(t, s, 1, 2, func(uint64) uint64 { return 3 })
}

func testEntriesMaxSize(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(nil, Ents(1, 10, 1), nil)
	one := uint64(proto.Size(Ent(1, 1)))
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {one, 1}, {2*one + 1, 2}, {3 * one, 3}, {^uint64(0), 9}} {
		got, err := s.Entries(1, 10, tc.max)
		if err != nil || len(got) != tc.want {
			t.Fatalf("Entries(1,10,%d) = %d entries, %v; want %d", tc.max, len(got), err, tc.want)
		}
	}
	// hi beyond the log is unavailable, not a panic.
	if _, err := s.Entries(5, 12, ^uint64(0)); err != raft.ErrUnavailable {
		t.Fatalf("Entries past last err = %v", err)
	}
	if got, err := s.Entries(4, 4, ^uint64(0)); err != nil || len(got) != 0 {
		t.Fatalf("Entries(4,4) = %v, %v; want nothing", got, err)
	}
	// The caller may append to the result without corrupting the store.
	got, _ := s.Entries(1, 3, ^uint64(0))
	_ = append(got, Ent(99, 9))
	CheckLog(t, s, 1, 10, term1)
}

// testHandedOutSlicesStable: raft may hold a slice from Entries while the
// store truncates or compacts; the slice must keep its contents.
func testHandedOutSlicesStable(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(HS(1, 1, 10), Ents(1, 10, 1), nil)
	held, err := s.Entries(3, 11, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]*raftpb.Entry, len(held))
	for i, e := range held {
		want[i] = proto.CloneOf(e)
	}
	check := func(when string) {
		t.Helper()
		for i := range want {
			if !proto.Equal(held[i], want[i]) {
				t.Fatalf("after %s, held entry %d = %v, want %v", when, i, held[i], want[i])
			}
		}
	}
	s.save(nil, Ents(6, 12, 2), nil)
	check("overwrite")
	if err := s.CreateSnapshot(8, &raftpb.ConfState{Voters: []uint64{1}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(7); err != nil {
		t.Fatal(err)
	}
	check("compact")
	s.save(nil, Ents(9, 9, 3), nil)
	check("second overwrite")
}

func testHardStateOnly(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(HS(4, 2, 0), nil, nil)
	if s.IsEmpty() {
		t.Fatal("store with a HardState is empty")
	}
	s = s.reopen()
	if s.IsEmpty() || !proto.Equal(s.HardState(), HS(4, 2, 0)) {
		t.Fatalf("after reopen: empty %v, HardState %v", s.IsEmpty(), s.HardState())
	}
	s.save(nil, Ents(1, 3, 4), nil)
	s.save(HS(4, 2, 3), nil, nil) // commit only, as replog writes it later
	s = s.reopen()
	if !proto.Equal(s.HardState(), HS(4, 2, 3)) {
		t.Fatalf("HardState after reopen = %v", s.HardState())
	}
	CheckLog(t, s, 1, 3, func(uint64) uint64 { return 4 })
}

func testSnapshotCompactReopen(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(HS(1, 1, 10), Ents(1, 10, 1), nil)
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := s.CreateSnapshot(8, cs, []byte("state@8")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(8, cs, nil); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("repeat CreateSnapshot err = %v, want ErrSnapOutOfDate", err)
	}
	if err := s.CreateSnapshot(11, cs, nil); !errors.Is(err, c.ErrOutOfRange) {
		t.Fatalf("CreateSnapshot past last err = %v, want ErrOutOfRange", err)
	}
	if err := s.Compact(9); !errors.Is(err, c.ErrUncovered) {
		t.Fatalf("Compact past snapshot err = %v, want ErrUncovered", err)
	}
	if err := s.Compact(11); !errors.Is(err, c.ErrOutOfRange) {
		t.Fatalf("Compact past last err = %v, want ErrOutOfRange", err)
	}
	if err := s.Compact(6); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(6); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("repeat Compact err = %v, want ErrCompacted", err)
	}
	check := func(s *store) {
		t.Helper()
		CheckLog(t, s, 7, 10, term1)
		if tm, err := s.Term(6); err != nil || tm != 1 {
			t.Fatalf("Term(6) = %d, %v; the match point must survive", tm, err)
		}
		if _, err := s.Term(5); err != raft.ErrCompacted {
			t.Fatalf("Term(5) err = %v, want ErrCompacted", err)
		}
		if _, err := s.Entries(6, 8, 100); err != raft.ErrCompacted {
			t.Fatalf("Entries(6,8) err = %v, want ErrCompacted", err)
		}
		snap, err := s.Snapshot()
		if err != nil || snap.GetMetadata().GetIndex() != 8 || snap.GetMetadata().GetTerm() != 1 ||
			string(snap.GetData()) != "state@8" || !slices.Equal(snap.GetMetadata().GetConfState().GetVoters(), []uint64{1, 2, 3}) {
			t.Fatalf("Snapshot = %v, %v", snap, err)
		}
		_, gotCS, _ := s.InitialState()
		if !proto.Equal(gotCS, raftpb.EnsureConfState(proto.CloneOf(cs))) {
			t.Fatalf("InitialState ConfState = %v", gotCS)
		}
		if !proto.Equal(s.HardState(), HS(1, 1, 10)) {
			t.Fatalf("HardState = %v", s.HardState())
		}
	}
	check(s)
	check(s.reopen())
}

func testCompactThenAppendReopen(t *testing.T, c Config) {
	s := newStore(t, c)
	s.save(HS(1, 1, 20), Ents(1, 20, 1), nil)
	if err := s.CreateSnapshot(20, &raftpb.ConfState{Voters: []uint64{1}}, []byte("s20")); err != nil {
		t.Fatal(err)
	}
	// Compact everything: the log is empty above the match point.
	if err := s.Compact(20); err != nil {
		t.Fatal(err)
	}
	CheckLog(t, s, 21, 20, nil)
	if _, err := s.Entries(21, 21, 100); err != raft.ErrUnavailable {
		t.Fatalf("Entries on fully compacted log err = %v, want ErrUnavailable", err)
	}
	s = s.reopen()
	CheckLog(t, s, 21, 20, nil)
	if tm, err := s.Term(20); err != nil || tm != 1 {
		t.Fatalf("Term(20) = %d, %v", tm, err)
	}
	s.save(HS(2, 1, 20), Ents(21, 25, 2), nil)
	s.save(nil, Ents(24, 24, 3), nil)
	s = s.reopen()
	CheckLog(t, s, 21, 24, func(i uint64) uint64 {
		if i == 24 {
			return 3
		}
		return 2
	})
}

func testSaveSnapshotReplacesLog(t *testing.T, c Config) {
	s := newStore(t, c)
	// The stored log runs past the snapshot: all of it goes, as raft sends
	// a snapshot only when the follower's log does not match the leader's.
	s.save(HS(1, 1, 3), Ents(1, 30, 1), nil)
	snap := &raftpb.Snapshot{
		Data: []byte("leader state"),
		Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(3)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}},
	}
	// The snapshot and the entries after it arrive in one Ready.
	s.save(HS(3, 0, 20), Ents(21, 22, 3), snap)
	term3 := func(uint64) uint64 { return 3 }
	CheckLog(t, s, 21, 22, term3)
	if tm, _ := s.Term(20); tm != 3 {
		t.Fatalf("Term(snapshot index) = %d", tm)
	}
	if err := s.Save(nil, nil, snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("old snapshot err = %v, want ErrSnapOutOfDate", err)
	}
	// Entries wholly covered by the snapshot are ignored.
	s.save(nil, Ents(10, 12, 2), nil)
	CheckLog(t, s, 21, 22, term3)
	s = s.reopen()
	CheckLog(t, s, 21, 22, term3)
	got, _ := s.Snapshot()
	if !proto.Equal(got, raftpb.EnsureSnapshot(proto.CloneOf(snap))) {
		t.Fatalf("snapshot after reopen = %v", got)
	}
	if !proto.Equal(s.HardState(), HS(3, 0, 20)) {
		t.Fatalf("HardState after reopen = %v", s.HardState())
	}

	// A snapshot alone (no HardState, no entries) keeps the HardState.
	snap2 := &raftpb.Snapshot{Data: []byte("s40"), Metadata: &raftpb.SnapshotMetadata{
		Index: new(uint64(40)), Term: new(uint64(4)), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
	s.save(nil, nil, snap2)
	s = s.reopen()
	CheckLog(t, s, 41, 40, nil)
	if !proto.Equal(s.HardState(), HS(3, 0, 20)) {
		t.Fatalf("HardState after snapshot-only Save = %v", s.HardState())
	}
	s.save(HS(4, 0, 40), Ents(41, 41, 4), nil)
	s = s.reopen()
	CheckLog(t, s, 41, 41, func(uint64) uint64 { return 4 })
}

func testLockedAndNodeID(t *testing.T, c Config) {
	s := newStore(t, c)
	if s2, err := c.Open(t, s.dir, 1); !errors.Is(err, c.ErrLocked) {
		if err == nil {
			_ = s2.Close()
		}
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
	_ = s.Close()
	if s2, err := c.Open(t, s.dir, 2); !errors.Is(err, c.ErrNodeID) {
		if err == nil {
			_ = s2.Close()
		}
		t.Fatalf("Open with other ID err = %v, want ErrNodeID", err)
	}
	s = open(t, c, s.dir) // the refused Opens left it usable
	s.save(HS(1, 1, 0), Ents(1, 1, 1), nil)
}

// model is the expected observable state of a store.
type model struct {
	compIndex, compTerm uint64
	ents                []*raftpb.Entry // compIndex+1 ...
	hs                  *raftpb.HardState
	snap                *raftpb.Snapshot
}

func (m *model) last() uint64 { return m.compIndex + uint64(len(m.ents)) }

func (m *model) termAt(i uint64) uint64 {
	if i == m.compIndex {
		return m.compTerm
	}
	return m.ents[i-m.compIndex-1].GetTerm()
}

func (m *model) check(t testing.TB, s Store, step int, what string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d (%s): %s", step, what, fmt.Sprintf(format, args...))
	}
	if fi, _ := s.FirstIndex(); fi != m.compIndex+1 {
		fail("FirstIndex = %d, want %d", fi, m.compIndex+1)
	}
	if li, _ := s.LastIndex(); li != m.last() {
		fail("LastIndex = %d, want %d", li, m.last())
	}
	if tm, err := s.Term(m.compIndex); err != nil || tm != m.compTerm {
		fail("Term(%d) = %d, %v; want %d", m.compIndex, tm, err, m.compTerm)
	}
	if len(m.ents) > 0 {
		got, err := s.Entries(m.compIndex+1, m.last()+1, ^uint64(0))
		if err != nil || len(got) != len(m.ents) {
			fail("Entries = %d, %v; want %d", len(got), err, len(m.ents))
		}
		for i := range got {
			if !proto.Equal(got[i], m.ents[i]) {
				fail("entry %d = %v, want %v", m.compIndex+1+uint64(i), got[i], m.ents[i])
			}
		}
	}
	if !proto.Equal(s.HardState(), m.hs) {
		fail("HardState = %v, want %v", s.HardState(), m.hs)
	}
	snap, err := s.Snapshot()
	if err != nil || !proto.Equal(snap, m.snap) {
		fail("Snapshot = %v, %v; want %v", snap, err, m.snap)
	}
	empty := m.last() == 0 && raft.IsEmptyHardState(m.hs) && m.snap.GetMetadata().GetIndex() == 0
	if s.IsEmpty() != empty {
		fail("IsEmpty = %v, want %v", s.IsEmpty(), empty)
	}
}

// testReopenAfterEveryOp drives a store with a deterministic random mix of
// the writes raft makes (appends that overwrite uncommitted tails, commit
// and vote changes, own and received snapshots, compaction, refused
// writes) and checks it against a model after every operation, both live
// and after a Close and reopen.
func testReopenAfterEveryOp(t *testing.T, c Config) {
	steps := 200
	if testing.Short() {
		steps = 50
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			s := newStore(t, c)
			m := &model{hs: &raftpb.HardState{}, snap: raftpb.EnsureSnapshot(nil)}
			term := uint64(1)
			for step := range steps {
				what := runOp(t, rng, s, m, &term, c)
				m.check(t, s, step, what)
				s = s.reopen()
				m.check(t, s, step, what+", reopened")
			}
		})
	}
}

func payload(rng *rand.Rand, index, term uint64) []byte {
	b := fmt.Appendf(nil, "e%d/%d/", index, term)
	n := rng.IntN(4) * 300 // sometimes a few hundred bytes, to fill segments
	for range n {
		b = append(b, byte('a'+rng.IntN(26)))
	}
	return b
}

// runOp performs one random operation on s and m and describes it.
func runOp(t testing.TB, rng *rand.Rand, s *store, m *model, term *uint64, c Config) string {
	t.Helper()
	snapIndex := m.snap.GetMetadata().GetIndex()
	switch op := rng.IntN(20); {
	case op < 10: // append, sometimes overwriting the tail, sometimes with a HardState
		first := m.last() + 1
		if m.last() > m.compIndex && rng.IntN(3) == 0 {
			first = m.last() - uint64(rng.IntN(int(min(m.last()-m.compIndex, 5))))
			*term++ // a new leader overwrites
		}
		var es []*raftpb.Entry
		for i := range uint64(1 + rng.IntN(8)) {
			idx := first + i
			es = append(es, &raftpb.Entry{Index: new(idx), Term: new(*term),
				Type: raftpb.EntryNormal.Enum(), Data: payload(rng, idx, *term)})
		}
		var hs *raftpb.HardState
		if rng.IntN(2) == 0 {
			hs = HS(*term, 1, min(m.last(), m.hs.GetCommit()+uint64(rng.IntN(3))))
		}
		s.save(hs, es, nil)
		m.ents = append(m.ents[:first-m.compIndex-1], es...)
		if hs != nil {
			m.hs = hs
		}
		return fmt.Sprintf("append %d..%d term %d, hs %v", first, first+uint64(len(es))-1, *term, hs != nil)
	case op < 12: // HardState only
		hs := HS(*term, uint64(rng.IntN(3)), m.hs.GetCommit())
		s.save(hs, nil, nil)
		m.hs = hs
		return "hardstate"
	case op < 14: // own snapshot
		if m.last() <= snapIndex {
			return "no snapshot possible"
		}
		idx := snapIndex + 1 + uint64(rng.IntN(int(m.last()-snapIndex)))
		data := fmt.Appendf(nil, "own@%d", idx)
		cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
		if err := s.CreateSnapshot(idx, cs, data); err != nil {
			t.Fatalf("CreateSnapshot(%d): %v", idx, err)
		}
		m.snap = raftpb.EnsureSnapshot(&raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: new(idx), Term: new(m.termAt(idx)), ConfState: raftpb.EnsureConfState(cs)}})
		return fmt.Sprintf("create snapshot %d", idx)
	case op < 16: // compact
		hi := min(snapIndex, m.last())
		if hi <= m.compIndex {
			if err := s.Compact(m.compIndex); !errors.Is(err, raft.ErrCompacted) {
				t.Fatalf("Compact(%d) err = %v, want ErrCompacted", m.compIndex, err)
			}
			return "compact refused"
		}
		idx := m.compIndex + 1 + uint64(rng.IntN(int(hi-m.compIndex)))
		if err := s.Compact(idx); err != nil {
			t.Fatalf("Compact(%d): %v", idx, err)
		}
		m.compTerm = m.termAt(idx)
		m.ents = slices.Clone(m.ents[idx-m.compIndex:])
		m.compIndex = idx
		return fmt.Sprintf("compact %d", idx)
	case op < 18: // snapshot received from a leader, maybe with entries and a HardState
		idx := max(snapIndex+1, m.last()-min(m.last(), 3)+uint64(rng.IntN(8)))
		*term++
		data := fmt.Appendf(nil, "recv@%d", idx)
		snap := raftpb.EnsureSnapshot(&raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: new(idx), Term: new(*term), ConfState: raftpb.EnsureConfState(&raftpb.ConfState{Voters: []uint64{1, 2}})}})
		var hs *raftpb.HardState
		if rng.IntN(3) > 0 {
			hs = HS(*term, 0, idx)
		}
		var es []*raftpb.Entry
		for i := range uint64(rng.IntN(3)) {
			es = append(es, &raftpb.Entry{Index: new(idx + 1 + i), Term: new(*term), Data: payload(rng, idx+1+i, *term)})
		}
		s.save(hs, es, snap)
		m.snap = snap
		m.compIndex, m.compTerm, m.ents = idx, *term, es
		if hs != nil {
			m.hs = hs
		}
		return fmt.Sprintf("receive snapshot %d with %d entries, hs %v", idx, len(es), hs != nil)
	default: // refused writes change nothing
		if err := s.Save(nil, Ents(m.last()+2, m.last()+2, *term), nil); !errors.Is(err, c.ErrLogGap) {
			t.Fatalf("gap Save err = %v, want ErrLogGap", err)
		}
		if snapIndex > 0 {
			if err := s.CreateSnapshot(snapIndex, nil, nil); !errors.Is(err, raft.ErrSnapOutOfDate) {
				t.Fatalf("CreateSnapshot(%d) err = %v, want ErrSnapOutOfDate", snapIndex, err)
			}
		}
		return "refused writes"
	}
}
