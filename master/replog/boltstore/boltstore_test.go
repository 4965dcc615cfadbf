package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryNormal.Enum(),
		Data: fmt.Appendf(nil, "e%d/%d", index, term)}
}

// ents returns entries lo..hi inclusive, all with term.
func ents(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, ent(i, term))
	}
	return out
}

func hs(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, 1, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path, Options{})
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func mustSave(t *testing.T, s *Store, h *raftpb.HardState, es []*raftpb.Entry, snap *raftpb.Snapshot) {
	t.Helper()
	if err := s.Save(h, es, snap); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// checkLog asserts first/last index and that every entry in range has the
// expected term and matches what Entries returns.
func checkLog(t *testing.T, s *Store, first, last uint64, termOf func(uint64) uint64) {
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

func TestEmptyStore(t *testing.T) {
	s, _ := newStore(t)
	if !s.IsEmpty() {
		t.Fatal("new store not empty")
	}
	h, cs, err := s.InitialState()
	if err != nil || !raft.IsEmptyHardState(h) || cs == nil || len(cs.GetVoters()) != 0 {
		t.Fatalf("InitialState = %v, %v, %v", h, cs, err)
	}
	checkLog(t, s, 1, 0, nil)
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
}

func TestAppendOverwriteReopen(t *testing.T) {
	s, path := newStore(t)
	mustSave(t, s, hs(1, 1, 0), ents(1, 5, 1), nil)
	checkLog(t, s, 1, 5, func(uint64) uint64 { return 1 })

	// A new leader overwrites 4..5 with a shorter suffix at term 2.
	mustSave(t, s, hs(2, 2, 3), ents(4, 4, 2), nil)
	term := func(i uint64) uint64 {
		if i >= 4 {
			return 2
		}
		return 1
	}
	checkLog(t, s, 1, 4, term)
	if _, err := s.Term(5); err != raft.ErrUnavailable {
		t.Fatalf("Term(5) after truncation err = %v", err)
	}

	// Append entries that are partly already stored (same terms): idempotent.
	mustSave(t, s, nil, []*raftpb.Entry{ent(3, 1), ent(4, 2), ent(5, 2)}, nil)
	checkLog(t, s, 1, 5, term)

	// A gap is refused and changes nothing.
	if err := s.Save(nil, ents(7, 8, 2), nil); !errors.Is(err, ErrLogGap) {
		t.Fatalf("gap err = %v, want ErrLogGap", err)
	}
	checkLog(t, s, 1, 5, term)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path, Options{})
	defer s2.Close()
	checkLog(t, s2, 1, 5, term)
	h, _, _ := s2.InitialState()
	if !proto.Equal(h, hs(2, 2, 3)) {
		t.Fatalf("HardState after reopen = %v", h)
	}
}

func TestEntriesMaxSize(t *testing.T) {
	s, _ := newStore(t)
	mustSave(t, s, nil, ents(1, 10, 1), nil)
	one := uint64(proto.Size(ent(1, 1)))
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
	// The caller may append to the result without corrupting the store.
	got, _ := s.Entries(1, 3, ^uint64(0))
	_ = append(got, ent(99, 9))
	checkLog(t, s, 1, 10, func(uint64) uint64 { return 1 })
}

// TestSmallCache forces reads through bbolt: the cache holds 3 entries.
func TestSmallCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := open(t, path, Options{CacheEntries: 3})
	defer s.Close()
	mustSave(t, s, nil, ents(1, 10, 1), nil)
	mustSave(t, s, nil, ents(11, 20, 2), nil)
	if len(s.cache) != 3 || s.cacheFirst != 18 {
		t.Fatalf("cache = %d entries from %d, want 3 from 18", len(s.cache), s.cacheFirst)
	}
	term := func(i uint64) uint64 {
		if i > 10 {
			return 2
		}
		return 1
	}
	checkLog(t, s, 1, 20, term)
	one := uint64(proto.Size(ent(15, 2)))
	got, err := s.Entries(16, 21, 3*one) // crosses from disk into the cache
	if err != nil || len(got) != 3 || got[2].GetIndex() != 18 {
		t.Fatalf("Entries across cache boundary = %v, %v", got, err)
	}
	// Overwrite below the cache start, then from inside it.
	mustSave(t, s, nil, ents(15, 16, 3), nil)
	checkLog(t, s, 1, 16, func(i uint64) uint64 {
		if i >= 15 {
			return 3
		}
		return term(i)
	})
	mustSave(t, s, nil, ents(16, 17, 4), nil)
	if err := s.Compact(5); !errors.Is(err, ErrUncovered) {
		t.Fatalf("Compact without snapshot err = %v, want ErrUncovered", err)
	}
}

func TestSnapshotCompactReopen(t *testing.T) {
	s, path := newStore(t)
	mustSave(t, s, hs(1, 1, 10), ents(1, 10, 1), nil)
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := s.CreateSnapshot(8, cs, []byte("state@8")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(8, cs, nil); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("repeat CreateSnapshot err = %v, want ErrSnapOutOfDate", err)
	}
	if err := s.CreateSnapshot(11, cs, nil); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("CreateSnapshot past last err = %v, want ErrOutOfRange", err)
	}
	if err := s.Compact(9); !errors.Is(err, ErrUncovered) {
		t.Fatalf("Compact past snapshot err = %v, want ErrUncovered", err)
	}
	if err := s.Compact(6); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(6); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("repeat Compact err = %v, want ErrCompacted", err)
	}
	check := func(s *Store) {
		t.Helper()
		checkLog(t, s, 7, 10, func(uint64) uint64 { return 1 })
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
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path, Options{})
	defer s2.Close()
	check(s2)
}

func TestSaveSnapshotReplacesLog(t *testing.T) {
	s, path := newStore(t)
	mustSave(t, s, hs(1, 1, 3), ents(1, 5, 1), nil)
	snap := &raftpb.Snapshot{
		Data: []byte("leader state"),
		Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(3)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}},
	}
	// The snapshot and the entries after it arrive in one Ready.
	mustSave(t, s, hs(3, 0, 20), ents(21, 22, 3), snap)
	checkLog(t, s, 21, 22, func(uint64) uint64 { return 3 })
	if tm, _ := s.Term(20); tm != 3 {
		t.Fatalf("Term(snapshot index) = %d", tm)
	}
	if err := s.Save(nil, nil, snap); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("old snapshot err = %v, want ErrSnapOutOfDate", err)
	}
	// Entries wholly covered by the snapshot are ignored.
	mustSave(t, s, nil, ents(10, 12, 2), nil)
	checkLog(t, s, 21, 22, func(uint64) uint64 { return 3 })
	_ = s.Close()
	s2 := open(t, path, Options{})
	defer s2.Close()
	checkLog(t, s2, 21, 22, func(uint64) uint64 { return 3 })
	got, _ := s2.Snapshot()
	if !proto.Equal(got, raftpb.EnsureSnapshot(proto.CloneOf(snap))) {
		t.Fatalf("snapshot after reopen = %v", got)
	}
}

func TestLockedAndNodeID(t *testing.T) {
	s, path := newStore(t)
	_, err := Open(path, 1, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
	_ = s.Close()
	if _, err := Open(path, 2, Options{}); !errors.Is(err, ErrNodeID) {
		t.Fatalf("Open with other ID err = %v, want ErrNodeID", err)
	}
}

// BenchmarkTermHot measures the cached read path raft hits on every append.
func BenchmarkTermHot(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), 1, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var es []*raftpb.Entry
	for i := uint64(1); i <= 1000; i++ {
		es = append(es, ent(i, 1))
	}
	if err := s.Save(nil, es, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Term(uint64(i%1000) + 1); err != nil {
			b.Fatal(err)
		}
	}
}
