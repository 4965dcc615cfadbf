package walstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/replog/storetest"
	"github.com/mesosd/mesosd/master/replog/walstore"
)

var (
	ent  = storetest.Ent
	ents = storetest.Ents
	hs   = storetest.HS
)

const smallSeg = 4096

func open(t testing.TB, dir string, opts walstore.Options) *walstore.Store {
	t.Helper()
	s, err := walstore.Open(dir, 1, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustSave(t testing.TB, s *walstore.Store, h *raftpb.HardState, es []*raftpb.Entry, snap *raftpb.Snapshot) {
	t.Helper()
	if err := s.Save(h, es, snap); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func mustClose(t testing.TB, s *walstore.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// state is everything a store shows, for comparing two stores.
type state struct {
	first, last uint64
	ents        []*raftpb.Entry
	hs          *raftpb.HardState
	snap        *raftpb.Snapshot
}

func stateOf(t testing.TB, s *walstore.Store) state {
	t.Helper()
	st := state{hs: s.HardState()}
	st.first, _ = s.FirstIndex()
	st.last, _ = s.LastIndex()
	if st.last >= st.first {
		es, err := s.Entries(st.first, st.last+1, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		st.ents = slices.Clone(es)
	}
	var err error
	if st.snap, err = s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	return st
}

func (a state) equal(b state) bool {
	return a.first == b.first && a.last == b.last && proto.Equal(a.hs, b.hs) && proto.Equal(a.snap, b.snap) &&
		slices.EqualFunc(a.ents, b.ents, func(x, y *raftpb.Entry) bool { return proto.Equal(x, y) })
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func walFile(dir, name string) string { return filepath.Join(dir, walstore.WALDir, name) }

// TestOneSyncPerSave is the point of the package: a Ready costs one
// fdatasync, whether it carries entries, a HardState or both. (Real syncs
// here, so the fdatasync and fallocate paths run at least once.)
func TestOneSyncPerSave(t *testing.T) {
	s := open(t, t.TempDir(), walstore.Options{})
	for i, tc := range []struct {
		h  *raftpb.HardState
		es []*raftpb.Entry
	}{
		{hs(1, 1, 0), nil},
		{nil, ents(1, 1, 1)},
		{hs(1, 1, 1), ents(2, 100, 1)},
		{hs(2, 1, 50), ents(50, 51, 2)}, // overwriting a tail
	} {
		before := walstore.Syncs(s)
		mustSave(t, s, tc.h, tc.es, nil)
		if n := walstore.Syncs(s) - before; n != 1 {
			t.Fatalf("Save %d made %d syncs, want 1", i, n)
		}
	}
}

// lastRecordSetup builds a store whose last Save appends one entry record,
// and returns its directory, its state before that Save, its state after,
// the last segment's name and the record's byte range in it.
func lastRecordSetup(t *testing.T) (dir string, before, after state, seg string, start, end int64) {
	dir = t.TempDir()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	mustSave(t, s, hs(1, 1, 0), ents(1, 10, 1), nil)
	mustSave(t, s, hs(1, 1, 8), ents(11, 12, 1), nil)
	before = stateOf(t, s)
	seg, start = walstore.End(s)
	big := ent(13, 1)
	big.Data = []byte(strings.Repeat("x", 1300)) // spans sectors
	mustSave(t, s, nil, []*raftpb.Entry{big}, nil)
	after = stateOf(t, s)
	seg2, end := walstore.End(s)
	if seg2 != seg {
		t.Fatalf("last Save switched segments: %s -> %s", seg, seg2)
	}
	mustClose(t, s)
	return dir, before, after, seg, start, end
}

// reopenAndAppend opens dir, checks it shows want, appends one entry, and
// checks that entry survives another reopen: the repaired tail must be a
// clean place to write.
func reopenAndAppend(t *testing.T, dir string, want state) {
	t.Helper()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	if got := stateOf(t, s); !got.equal(want) {
		t.Fatalf("opened with last %d, hs %v; want last %d, hs %v", got.last, got.hs, want.last, want.hs)
	}
	next := ent(want.last+1, 2)
	mustSave(t, s, nil, []*raftpb.Entry{next}, nil)
	want2 := stateOf(t, s)
	mustClose(t, s)
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	if got := stateOf(t, s); !got.equal(want2) {
		t.Fatalf("after appending to the repaired log: last %d, want %d", got.last, want2.last)
	}
	mustClose(t, s)
}

// TestTornTail cuts the file at every byte of the last record (a write cut
// short): Open repairs the tail and shows the state before that Save.
func TestTornTail(t *testing.T) {
	dir, before, after, seg, start, end := lastRecordSetup(t)
	p := walFile(dir, seg)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for cut := start; cut < end; cut++ {
		if err := os.WriteFile(p, orig[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		if cut == start || cut == end-1 || cut%64 == 0 {
			reopenAndAppend(t, dir, before) // also checks the repaired tail takes appends
			continue
		}
		s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
		if got := stateOf(t, s); !got.equal(before) {
			t.Fatalf("cut at %d: opened with last %d, hs %v; want last %d, hs %v", cut, got.last, got.hs, before.last, before.hs)
		}
		mustClose(t, s)
	}
	// Uncut, it is all there.
	if err := os.WriteFile(p, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	reopenAndAppend(t, dir, after)
}

// TestTornSector zeroes each 512-byte sector the last record touches (the
// disk did not write it), and flips a byte of the last record (a bad CRC
// with nothing after it): both are a crash mid-write.
func TestTornSector(t *testing.T) {
	dir, before, _, seg, start, end := lastRecordSetup(t)
	damage := func(name string, f func(b []byte)) {
		t.Run(name, func(t *testing.T) {
			trial := filepath.Join(t.TempDir(), "s")
			copyDir(t, dir, trial)
			p := walFile(trial, seg)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			f(b)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			reopenAndAppend(t, trial, before)
		})
	}
	for sec := start / 512 * 512; sec < end; sec += 512 {
		damage("zero sector at "+itoa(sec), func(b []byte) {
			clear(b[max(sec, start):min(sec+512, end)])
		})
	}
	damage("flip last byte", func(b []byte) { b[end-1] ^= 0x40 })
	damage("longer length", func(b []byte) { b[start+1] |= 0x08 })
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// TestTornWriteNotResurrected: a Save's write reached the disk except for
// its first sector. Open drops the whole write; the records after the hole
// are intact on disk and must never be read again, even once a later
// append of the same size fills the hole exactly.
func TestTornWriteNotResurrected(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: 1 << 16})
	mustSave(t, s, hs(1, 1, 0), ents(1, 3, 1), nil)
	// Pad so the next write starts on a sector boundary.
	_, off := walstore.End(s)
	pad := ent(4, 1)
	for (off+9+int64(len(mustMarshal(t, pad))))%512 != 0 {
		pad.Data = append(pad.Data, 'p')
	}
	mustSave(t, s, nil, []*raftpb.Entry{pad}, nil)
	before := stateOf(t, s)
	seg, start := walstore.End(s)
	if start%512 != 0 {
		t.Fatalf("setup: write starts at %d", start)
	}
	lost := []*raftpb.Entry{bigEnt(5, 1, 600), bigEnt(6, 1, 600), bigEnt(7, 1, 600)}
	mustSave(t, s, hs(1, 1, 7), lost, nil)
	mustClose(t, s)

	p := walFile(dir, seg)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[start : start+512]) // first sector of the write never hit the disk
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: 1 << 16})
	if got := stateOf(t, s); !got.equal(before) {
		t.Fatalf("opened with last %d, hs %v; want last %d", got.last, got.hs, before.last)
	}
	// The same sizes at the same place, but different terms: were the old
	// bytes after the hole kept, entries 6 and 7 of term 1 would come back.
	mustSave(t, s, nil, []*raftpb.Entry{bigEnt(5, 2, 600)}, nil)
	mustClose(t, s)
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: 1 << 16})
	if last, _ := s.LastIndex(); last != 5 {
		t.Fatalf("LastIndex = %d after reopen, want 5: stale records were replayed", last)
	}
	if tm, _ := s.Term(5); tm != 2 {
		t.Fatalf("Term(5) = %d, want 2", tm)
	}
	if !proto.Equal(s.HardState(), before.hs) {
		t.Fatalf("HardState = %v, want %v", s.HardState(), before.hs)
	}
}

func bigEnt(index, term uint64, n int) *raftpb.Entry {
	e := ent(index, term)
	e.Data = []byte(strings.Repeat(string(rune('a'+index%26)), n))
	return e
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorruption: damage anywhere but the tail of the last segment makes
// Open fail with ErrCorrupt naming the file and offset.
func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	for i := uint64(0); i < 12; i++ {
		var es []*raftpb.Entry
		for j := i*5 + 1; j <= i*5+5; j++ {
			es = append(es, bigEnt(j, 1, 200))
		}
		mustSave(t, s, hs(1, 1, i*5), es, nil)
	}
	segs := walstore.Segments(s)
	if len(segs) < 3 {
		t.Fatalf("setup: %d segments, want several", len(segs))
	}
	want := stateOf(t, s)
	mustClose(t, s)

	// Offsets of the records in a segment, from its bytes.
	records := func(b []byte) []int64 {
		var offs []int64
		for off := int64(0); off+9 <= int64(len(b)); {
			n := int64(b[off]) | int64(b[off+1])<<8 | int64(b[off+2])<<16 | int64(b[off+3])<<24
			if n == 0 && b[off+8] == 0 {
				break
			}
			offs = append(offs, off)
			off += 9 + n
		}
		return offs
	}
	for _, tc := range []struct {
		name string
		seg  string
		pick func(offs []int64) int64 // which record to damage
	}{
		{"middle record of last segment", segs[len(segs)-1], func(o []int64) int64 { return o[len(o)/2] }},
		{"middle record of first segment", segs[0], func(o []int64) int64 { return o[len(o)/2] }},
		{"last record of first segment", segs[0], func(o []int64) int64 { return o[len(o)-1] }},
		{"segment record of last segment", segs[len(segs)-1], func(o []int64) int64 { return o[0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trial := filepath.Join(t.TempDir(), "s")
			copyDir(t, dir, trial)
			p := walFile(trial, tc.seg)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			offs := records(b)
			if len(offs) < 3 {
				t.Fatalf("setup: %d records in %s", len(offs), tc.seg)
			}
			off := tc.pick(offs)
			b[off+10] ^= 0x04 // a bit in the payload
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = walstore.Open(trial, 1, walstore.Options{NoSync: true, SegmentSize: smallSeg})
			if !errors.Is(err, walstore.ErrCorrupt) || !strings.Contains(err.Error(), tc.seg) || !strings.Contains(err.Error(), "offset "+itoa(off)+":") {
				t.Fatalf("Open err = %v, want ErrCorrupt naming %s offset %d", err, tc.seg, off)
			}
		})
	}
	t.Run("missing middle segment", func(t *testing.T) {
		trial := filepath.Join(t.TempDir(), "s")
		copyDir(t, dir, trial)
		if err := os.Remove(walFile(trial, segs[1])); err != nil {
			t.Fatal(err)
		}
		if _, err := walstore.Open(trial, 1, walstore.Options{NoSync: true}); !errors.Is(err, walstore.ErrCorrupt) {
			t.Fatalf("Open err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("missing wal", func(t *testing.T) {
		trial := filepath.Join(t.TempDir(), "s")
		copyDir(t, dir, trial)
		if err := os.RemoveAll(filepath.Join(trial, walstore.WALDir)); err != nil {
			t.Fatal(err)
		}
		if _, err := walstore.Open(trial, 1, walstore.Options{NoSync: true}); !errors.Is(err, walstore.ErrCorrupt) {
			t.Fatalf("Open err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("stray file", func(t *testing.T) {
		trial := filepath.Join(t.TempDir(), "s")
		copyDir(t, dir, trial)
		if err := os.WriteFile(walFile(trial, "notes.txt"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := walstore.Open(trial, 1, walstore.Options{NoSync: true}); !errors.Is(err, walstore.ErrCorrupt) {
			t.Fatalf("Open err = %v, want ErrCorrupt", err)
		}
	})
	// The undamaged original still opens.
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	if got := stateOf(t, s); !got.equal(want) {
		t.Fatal("undamaged store changed")
	}
}

// TestRolloverAndCompact: full segments are followed by new ones; Compact
// deletes exactly the segments whose entries are all compacted, never the
// live one; Open removes a leftover .tmp.
func TestRolloverAndCompact(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	for i := uint64(0); i < 40; i++ {
		mustSave(t, s, hs(1, 1, i*5), []*raftpb.Entry{
			bigEnt(i*3+1, 1, 200), bigEnt(i*3+2, 1, 200), bigEnt(i*3+3, 1, 200)}, nil)
	}
	segs := walstore.Segments(s)
	if len(segs) < 5 {
		t.Fatalf("%d segments after 40 Saves of ~700 bytes into %d-byte segments", len(segs), smallSeg)
	}
	for _, n := range segs {
		if fi, err := os.Stat(walFile(dir, n)); err != nil || fi.Size() < smallSeg {
			t.Fatalf("segment %s: %v, size %v (want preallocated %d)", n, err, fi, smallSeg)
		}
	}
	if err := s.CreateSnapshot(100, &raftpb.ConfState{Voters: []uint64{1}}, []byte("s100")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(60); err != nil {
		t.Fatal(err)
	}
	kept := walstore.Segments(s)
	firstOf := func(name string) uint64 {
		var seq, first uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &first); err != nil {
			t.Fatal(err)
		}
		return first
	}
	if len(kept) >= len(segs) || firstOf(kept[0]) > 61 || len(kept) > 1 && firstOf(kept[1]) <= 61 {
		t.Fatalf("after Compact(60) segments %v (were %v): want those from the one holding 61", kept, segs)
	}
	onDisk := func() []string {
		des, err := os.ReadDir(filepath.Join(dir, walstore.WALDir))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, de := range des {
			out = append(out, de.Name())
		}
		return out
	}
	if got := onDisk(); !slices.Equal(got, kept) {
		t.Fatalf("files %v, want %v", got, kept)
	}
	// Compacting everything keeps the live segment.
	if err := s.Compact(100); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, nil, ents(121, 121, 2), nil)
	if err := s.CreateSnapshot(121, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(121); err != nil {
		t.Fatal(err)
	}
	if got := walstore.Segments(s); len(got) != 1 || !slices.Equal(onDisk(), got) {
		t.Fatalf("after compacting everything: segments %v, files %v; want only the live one", got, onDisk())
	}
	want := stateOf(t, s)
	live := walstore.Segments(s)
	mustClose(t, s)

	// A segment whose creation was interrupted is removed by Open.
	if err := os.WriteFile(walFile(dir, "00000000000000ff-0000000000000001.wal.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	if got := stateOf(t, s); !got.equal(want) {
		t.Fatalf("after reopen: last %d, want %d", got.last, want.last)
	}
	if got := onDisk(); !slices.Equal(got, live) {
		t.Fatalf("files after reopen %v, want %v", got, live)
	}
}

// TestInterruptedCompact: Compact stored the new compaction point but the
// segment deletes did not all reach the disk; Open deletes the rest.
func TestInterruptedCompact(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	for i := uint64(0); i < 20; i++ {
		mustSave(t, s, hs(1, 1, i*3), []*raftpb.Entry{bigEnt(i*3+1, 1, 300), bigEnt(i*3+2, 1, 300), bigEnt(i*3+3, 1, 300)}, nil)
	}
	segs := walstore.Segments(s)
	saved := map[string][]byte{}
	for _, n := range segs {
		b, err := os.ReadFile(walFile(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		saved[n] = b
	}
	if err := s.CreateSnapshot(50, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(50); err != nil {
		t.Fatal(err)
	}
	kept := walstore.Segments(s)
	if len(kept) == len(segs) {
		t.Fatal("setup: Compact deleted nothing")
	}
	want := stateOf(t, s)
	mustClose(t, s)
	// Bring back every other deleted segment.
	for i, n := range segs[:len(segs)-len(kept)] {
		if i%2 == 0 {
			if err := os.WriteFile(walFile(dir, n), saved[n], 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	s = open(t, dir, walstore.Options{NoSync: true, SegmentSize: smallSeg})
	if got := stateOf(t, s); !got.equal(want) {
		t.Fatalf("after reopen: first %d last %d, want %d %d", got.first, got.last, want.first, want.last)
	}
	if got := walstore.Segments(s); !slices.Equal(got, kept) {
		t.Fatalf("segments %v, want %v", got, kept)
	}
}

// TestConflictAcrossSegments: a new leader overwrites entries that live in
// an older segment; the truncation survives reopen, and compaction after it
// still keeps every surviving entry.
func TestConflictAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := walstore.Options{NoSync: true, SegmentSize: smallSeg}
	s := open(t, dir, opts)
	for i := uint64(0); i < 20; i++ {
		mustSave(t, s, hs(1, 1, 10), []*raftpb.Entry{bigEnt(i*2+1, 1, 400), bigEnt(i*2+2, 1, 400)}, nil)
	}
	if n := len(walstore.Segments(s)); n < 4 {
		t.Fatalf("setup: %d segments", n)
	}
	mustSave(t, s, hs(2, 2, 10), ents(12, 14, 2), nil) // 12..40 were in older segments
	term := func(i uint64) uint64 {
		if i >= 12 {
			return 2
		}
		return 1
	}
	storetest.CheckLog(t, s, 1, 14, term)
	mustClose(t, s)
	s = open(t, dir, opts)
	storetest.CheckLog(t, s, 1, 14, term)
	if err := s.CreateSnapshot(11, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(11); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	s = open(t, dir, opts)
	storetest.CheckLog(t, s, 12, 14, term)
	if !proto.Equal(s.HardState(), hs(2, 2, 10)) {
		t.Fatalf("HardState = %v", s.HardState())
	}
}

// TestCrashAfterSnapshotTx: a received snapshot is stored, then the process
// dies before the Save's WAL write. The snapshot replaced the log (older
// entries past it do not come back) and the Save's HardState holds.
func TestCrashAfterSnapshotTx(t *testing.T) {
	dir := t.TempDir()
	opts := walstore.Options{NoSync: true, SegmentSize: smallSeg}
	s := open(t, dir, opts)
	mustSave(t, s, hs(1, 1, 3), ents(1, 30, 1), nil)
	crash := errors.New("crash")
	walstore.SetAfterSnapshotTx(s, func() error { return crash })
	snap := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{
		Index: new(uint64(20)), Term: new(uint64(3)), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}
	if err := s.Save(hs(3, 0, 20), ents(21, 22, 3), snap); !errors.Is(err, crash) {
		t.Fatalf("Save err = %v, want the crash", err)
	}
	if err := s.Save(nil, ents(21, 21, 3), nil); !errors.Is(err, crash) {
		t.Fatalf("Save after a failed Save err = %v, want the first error", err)
	}
	mustClose(t, s)
	s = open(t, dir, opts)
	storetest.CheckLog(t, s, 21, 20, nil)
	if tm, _ := s.Term(20); tm != 3 {
		t.Fatalf("Term(20) = %d", tm)
	}
	if !proto.Equal(s.HardState(), hs(3, 0, 20)) {
		t.Fatalf("HardState = %v", s.HardState())
	}
	mustSave(t, s, nil, ents(21, 22, 3), nil)
	mustClose(t, s)
	s = open(t, dir, opts)
	storetest.CheckLog(t, s, 21, 22, func(uint64) uint64 { return 3 })
}

func TestWritesAfterCloseFail(t *testing.T) {
	s := open(t, t.TempDir(), walstore.Options{NoSync: true})
	mustSave(t, s, hs(1, 1, 0), ents(1, 2, 1), nil)
	mustClose(t, s)
	if err := s.Save(hs(1, 1, 1), nil, nil); !errors.Is(err, walstore.ErrClosed) {
		t.Fatalf("Save after Close err = %v", err)
	}
	if err := s.Compact(1); !errors.Is(err, walstore.ErrClosed) {
		t.Fatalf("Compact after Close err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Term(2); err != nil && err != raft.ErrUnavailable {
		t.Fatalf("Term after close: %v", err)
	}
}
