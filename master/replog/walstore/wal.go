package walstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Record types (package doc).
const (
	recSegment   byte = 1
	recEntry     byte = 2
	recHardState byte = 3

	headerSize  = 9   // length, crc, type
	segmentSize = 24  // segment record payload: seq, first, node ID
	sectorSize  = 512 // the smallest unit a disk writes atomically
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// segment is one WAL file, named after its sequence number and the first
// log index it was created for.
type segment struct {
	seq, first uint64
}

func (g segment) name() string { return fmt.Sprintf("%016x-%016x.wal", g.seq, g.first) }

func parseSegmentName(name string) (segment, bool) {
	var g segment
	if len(name) != 16+1+16+4 || !strings.HasSuffix(name, ".wal") {
		return g, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &g.seq, &g.first); err != nil {
		return g, false
	}
	return g, g.name() == name
}

// pos is a position in the WAL: a segment and a byte offset in it.
type pos struct {
	seq uint64
	off int64
}

func (p pos) less(q pos) bool { return p.seq < q.seq || p.seq == q.seq && p.off < q.off }

// appendRecord appends one record holding m to buf.
func appendRecord(buf []byte, typ byte, m proto.Message) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return buf[:start], err
	}
	return sealRecord(buf, start, typ), nil
}

// sealRecord fills in the header of the record starting at buf[start],
// whose payload is the rest of buf.
func sealRecord(buf []byte, start int, typ byte) []byte {
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], recordCRC(typ, payload))
	buf[start+8] = typ
	return buf
}

func recordCRC(typ byte, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, crcTable, byteValues[typ:typ+1]), crcTable, payload)
}

// byteValues[i] == i: a type byte as a slice without allocating.
var byteValues = func() (b [256]byte) {
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// segmentHead encodes the first records of a new segment: the segment
// record and the current HardState (if any).
func (s *Store) segmentHead(g segment) ([]byte, error) {
	buf := make([]byte, headerSize, headerSize+segmentSize+64)
	buf = binary.BigEndian.AppendUint64(buf, g.seq)
	buf = binary.BigEndian.AppendUint64(buf, g.first)
	buf = binary.BigEndian.AppendUint64(buf, s.nodeID)
	buf = sealRecord(buf, 0, recSegment)
	if !raft.IsEmptyHardState(s.hardState) {
		return appendRecord(buf, recHardState, s.hardState)
	}
	return buf, nil
}

// createSegment makes segment g durable under its final name, preallocated
// and holding its head records, and returns it open for writing at off.
func (s *Store) createSegment(g segment) (f *os.File, off int64, err error) {
	head, err := s.segmentHead(g)
	if err != nil {
		return nil, 0, err
	}
	final := filepath.Join(s.walDir, g.name())
	tmp := final + ".tmp"
	f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = preallocate(f, s.opts.SegmentSize); err != nil {
		return nil, 0, err
	}
	if _, err = f.WriteAt(head, 0); err != nil {
		return nil, 0, err
	}
	s.syncs++
	if !s.opts.NoSync {
		if err = f.Sync(); err != nil { // full fsync: the size changed
			return nil, 0, err
		}
	}
	if err = os.Rename(tmp, final); err != nil {
		return nil, 0, err
	}
	if err = s.syncDir(s.walDir); err != nil {
		return nil, 0, err
	}
	return f, int64(len(head)), nil
}

func (s *Store) syncDir(dir string) error {
	if s.opts.NoSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// createWAL starts the WAL of a new store: any segment files are leftovers
// of an Open that crashed before the WAL was marked created.
func (s *Store) createWAL() error {
	names, err := s.walFiles()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(s.walDir, n)); err != nil {
			return err
		}
	}
	g := segment{seq: 1, first: s.compIndex + 1}
	f, off, err := s.createSegment(g)
	if err != nil {
		return fmt.Errorf("create segment %s: %w", g.name(), err)
	}
	s.f, s.off, s.segs = f, off, []segment{g}
	if err := s.syncDir(s.dir); err != nil { // the wal directory itself
		return err
	}
	s.syncs++
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyWAL, []byte{1})
	})
}

// walFiles lists the WAL directory, removing .tmp leftovers of an
// interrupted segment creation.
func (s *Store) walFiles() ([]string, error) {
	des, err := os.ReadDir(s.walDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".wal.tmp") {
			if err := os.Remove(filepath.Join(s.walDir, de.Name())); err != nil {
				return nil, err
			}
			continue
		}
		names = append(names, de.Name())
	}
	return names, nil
}

// cut switches writing to a new segment (the current one is full).
func (s *Store) cut() error {
	g := segment{seq: s.segs[len(s.segs)-1].seq + 1, first: s.lastIndex() + 1}
	f, off, err := s.createSegment(g)
	if err != nil {
		return fmt.Errorf("create segment %s: %w", g.name(), err)
	}
	_ = s.f.Close() // read-only from here on; its data was synced by Save
	s.f, s.off = f, off
	s.segs = append(s.segs, g)
	return nil
}

// deleteSegments removes the oldest segments while nothing in them is
// after the compaction point: segment k goes once first(k+1) <= compIndex+1
// (package doc). Never the live segment.
func (s *Store) deleteSegments() error {
	n := 0
	for n+1 < len(s.segs) && s.segs[n+1].first <= s.compIndex+1 {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, g := range s.segs[:n] {
		if err := os.Remove(filepath.Join(s.walDir, g.name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.segs = s.segs[1:]
	}
	// A crash before this sync may bring back some of them; Open deletes
	// them again.
	return s.syncDir(s.walDir)
}

// replayState rebuilds the log from records (package doc, Invariants).
type replayState struct {
	s       *Store
	last    uint64 // index of the last entry seen, compacted or not
	ents    []*raftpb.Entry
	hs      *raftpb.HardState
	reset   pos
	resetHS *raftpb.HardState
	waiting bool // a reset point exists and has not been reached
}

// at is called before the record at p: crossing the reset point restarts
// the log empty above the snapshot, with the HardState stored with it.
func (r *replayState) at(p pos) {
	if r.waiting && !p.less(r.reset) {
		r.waiting = false
		r.ents, r.last = nil, r.s.compIndex
		r.hs = proto.CloneOf(r.resetHS)
	}
}

func (r *replayState) entry(e *raftpb.Entry) error {
	if r.waiting {
		return nil // replaced by the snapshot received later
	}
	i, comp := e.GetIndex(), r.s.compIndex
	if i == 0 || i > r.last+1 {
		return fmt.Errorf("entry %d after entry %d leaves a gap", i, r.last)
	}
	r.last = i
	if i <= comp {
		r.ents = nil // everything above the compaction point was discarded
		return nil
	}
	keep := i - comp - 1
	if keep < uint64(len(r.ents)) {
		clear(r.ents[keep:])
		r.ents = r.ents[:keep]
	}
	r.ents = append(r.ents, e)
	return nil
}

// replay rebuilds the in-memory log and HardState from the segments and
// opens the last one for appending.
func (s *Store) replay() error {
	names, err := s.walFiles()
	if err != nil {
		return err
	}
	var segs []segment
	for _, n := range names {
		g, ok := parseSegmentName(n)
		if !ok {
			return fmt.Errorf("%w: unexpected file %s in %s", ErrCorrupt, n, s.walDir)
		}
		segs = append(segs, g)
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmpU64(a.seq, b.seq) })
	// Start at the newest segment whose first <= compIndex+1: older ones
	// hold nothing after the compaction point (Compact was interrupted).
	start := -1
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].first <= s.compIndex+1 {
			start = i
			break
		}
	}
	if start < 0 {
		return fmt.Errorf("%w: no segment in %s holds index %d (compaction point + 1)", ErrCorrupt, s.walDir, s.compIndex+1)
	}
	for i := start + 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return fmt.Errorf("%w: segment %d missing before %s", ErrCorrupt, segs[i-1].seq+1, segs[i].name())
		}
	}
	for _, g := range segs[:start] {
		if err := os.Remove(filepath.Join(s.walDir, g.name())); err != nil {
			return err
		}
	}
	segs = segs[start:]

	r := &replayState{s: s, last: segs[0].first - 1, hs: &raftpb.HardState{}}
	if p, hs, ok, err := s.resetPoint(); err != nil {
		return err
	} else if ok {
		r.reset, r.resetHS, r.waiting = p, hs, true
	}
	var end int64
	for i, g := range segs {
		if end, err = s.replaySegment(r, g, i == len(segs)-1); err != nil {
			return err
		}
	}
	liveEnd := pos{segs[len(segs)-1].seq, end}
	if r.waiting && liveEnd.less(r.reset) {
		return fmt.Errorf("%w: snapshot reset point %d:%d is past the end of the log %d:%d",
			ErrCorrupt, r.reset.seq, r.reset.off, liveEnd.seq, liveEnd.off)
	}
	r.at(liveEnd)
	s.ents, s.hardState, s.segs = r.ents, r.hs, segs
	return s.openLive(filepath.Join(s.walDir, segs[len(segs)-1].name()), end)
}

// openLive opens the last segment for appending at end, after zeroing
// everything past end: a crash may have left part of an unacknowledged
// write there, which later appends must never make readable again.
func (s *Store) openLive(path string, end int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	s.f, s.off = f, end
	if err := f.Truncate(end); err != nil {
		return err
	}
	if end < s.opts.SegmentSize {
		if err := preallocate(f, s.opts.SegmentSize); err != nil {
			return err
		}
	}
	s.syncs++
	if s.opts.NoSync {
		return nil
	}
	return f.Sync()
}

// replaySegment feeds segment g's records to r and returns the offset after
// the last good one. In the last segment a torn tail ends the log there
// (package doc, Recovery); anywhere else a bad record is ErrCorrupt.
func (s *Store) replaySegment(r *replayState, g segment, last bool) (int64, error) {
	path := filepath.Join(s.walDir, g.name())
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	br := bufio.NewReaderSize(f, int(min(size, 256<<10)))
	corrupt := func(off int64, format string, args ...any) error {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, path, off, fmt.Sprintf(format, args...))
	}
	var hdr [headerSize]byte
	var payload []byte
	off := int64(0)
	for {
		if size-off < headerSize {
			rest := make([]byte, size-off)
			if _, err := io.ReadFull(br, rest); err != nil {
				return 0, err
			}
			if isZero(rest) {
				break // the end: a file that outgrew its preallocation
			}
			if last {
				break // torn header
			}
			return 0, corrupt(off, "truncated record header")
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return 0, err
		}
		if isZero(hdr[:]) {
			break // the end: zeroed, preallocated space
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if n > size-off-headerSize {
			if last {
				break // the write was cut short
			}
			return 0, corrupt(off, "record of %d bytes runs past the end of the file", n)
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, err
		}
		typ, crc := hdr[8], binary.LittleEndian.Uint32(hdr[4:8])
		if typ < recSegment || typ > recHardState || crc != recordCRC(typ, payload) {
			if last {
				torn, err := tornTail(f, off, hdr[:], payload, size)
				if err != nil {
					return 0, err
				}
				if torn {
					break
				}
			}
			return 0, corrupt(off, "bad record (type %d, crc %08x, want %08x)", typ, crc, recordCRC(typ, payload))
		}
		r.at(pos{g.seq, off})
		if err := s.applyRecord(r, g, off, typ, payload); err != nil {
			return 0, corrupt(off, "%v", err)
		}
		off += headerSize + n
	}
	if off == 0 {
		return 0, corrupt(0, "no segment record")
	}
	return off, nil
}

func (s *Store) applyRecord(r *replayState, g segment, off int64, typ byte, payload []byte) error {
	if (typ == recSegment) != (off == 0) {
		return fmt.Errorf("segment record must be first and only first (type %d)", typ)
	}
	switch typ {
	case recSegment:
		if len(payload) != segmentSize {
			return fmt.Errorf("segment record of %d bytes", len(payload))
		}
		seq, first, id := binary.BigEndian.Uint64(payload), binary.BigEndian.Uint64(payload[8:]), binary.BigEndian.Uint64(payload[16:])
		if seq != g.seq || first != g.first || id != s.nodeID {
			return fmt.Errorf("segment record says seq %d, first %d, node %d", seq, first, id)
		}
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		return r.entry(e)
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("hardstate: %w", err)
		}
		r.hs = hs
	}
	return nil
}

// tornTail reports whether the bad record at off is the unfinished tail of
// the last write rather than damage: a 512-byte sector of it was never
// written (reads as zeros), or nothing but zeros follows it.
func tornTail(f *os.File, off int64, hdr, payload []byte, size int64) (bool, error) {
	rec := slices.Concat(hdr, payload)
	for i := 0; i < len(rec); {
		n := min(len(rec)-i, sectorSize-int((off+int64(i))%sectorSize))
		if isZero(rec[i : i+n]) {
			return true, nil
		}
		i += n
	}
	buf := make([]byte, 1<<20)
	for p := off + int64(len(rec)); p < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-p)], p)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if !isZero(buf[:n]) {
			return false, nil
		}
		p += int64(n)
		if n == 0 {
			break
		}
	}
	return true, nil
}

var zeros [4096]byte

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
