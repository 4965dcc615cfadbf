// Package walstore is the durable half of the master's Raft log: a
// raft.Storage (the read side raft consults) plus the write side the replog
// Ready loop calls. Log entries and HardStates go to an append-only
// write-ahead log; snapshots and the few facts that must never be lost with
// a WAL segment go to a small bbolt file. It is etcd's design (wal +
// snapshotter + MemoryStorage), simplified for one caller.
//
// Why: persisting a Ready in a bbolt transaction costs two fdatasyncs (the
// data pages, then the meta page). A WAL append costs one: Save writes every
// record of a Ready with one pwrite into a preallocated segment and then
// calls fdatasync once. That sync is the commit point, so a Ready costs one
// disk flush, as in etcd.
//
// # Files
//
//	<dir>/snap.db                       bbolt, see below
//	<dir>/wal/<seq>-<first>.wal         segments, 16 hex digits each:
//	                                    seq counts up from 1; first is the
//	                                    log's lastIndex+1 when it was created
//	<dir>/wal/*.wal.tmp                 a segment being created (deleted on Open)
//
// snap.db holds:
//
//	meta/   version          uint64 BE; currently 1
//	        node-id          uint64 BE; raft ID that created this store
//	        wal              present once the first segment exists
//	state/  snapshot-meta    raftpb.SnapshotMetadata of the latest snapshot
//	        snapshot-data    its opaque state machine bytes
//	        compacted        16 bytes: BE index, BE term of the last
//	                         discarded entry (the log holds (index, last])
//	        reset            16 bytes: BE seq, BE offset: WAL position at
//	                         which the last snapshot received through Save
//	                         replaced the log (see Recovery)
//	        reset-hardstate  raftpb.HardState in force at that position
//
// Every snap.db write is one fsynced bbolt transaction; they happen only for
// snapshots, compaction and Open, never per Ready. The bbolt file lock also guards
// the whole directory against a second process (ErrLocked).
//
// # Segments and records
//
// A segment is a file preallocated to Options.SegmentSize (64 MiB), so
// fdatasync never has to flush a size change, holding a sequence of records
// followed by zeros:
//
//	length  uint32 LE   payload length
//	crc     uint32 LE   CRC-32C (Castagnoli) of type and payload
//	type    uint8       1 segment, 2 entry, 3 hardstate
//	payload             segment: BE seq, first, node ID (24 bytes);
//	                    entry: raftpb.Entry; hardstate: raftpb.HardState
//
// Nine zero bytes where a header would start mark the end of the data. A
// segment starts with its segment record and, if there is one, the current
// HardState, so deleting older segments never loses the HardState. It is
// written to a .tmp file, synced, renamed into place and the directory
// synced: a segment with its final name is never torn at its head. When the
// live segment is full, the next Save first switches to a new one (the
// live segment may grow past its preallocation within one Save).
//
// # Invariants
//
//   - Replaying the records in order rebuilds the log: an entry record at
//     index i discards every entry >= i (raft overwriting an uncommitted
//     tail) and must not leave a gap (i <= last+1); the last hardstate
//     record wins. Save truncates the in-memory log the same way at once.
//   - Every entry that survives replay and lies in segment k has an index
//     below first of every later segment (first is lastIndex+1 at creation,
//     and no later record has gone below it without discarding the entry).
//     So segment k can be deleted once first(k+1) <= compacted+1: Compact
//     deletes those segments, oldest first, never the live one.
//   - All entries after the compaction point are in memory (as etcd's
//     MemoryStorage keeps them), so raft.Storage reads never touch disk,
//     except Snapshot, which reads snapshot-data from snap.db.
//   - Data is acknowledged only by a successful Save/CreateSnapshot/Compact.
//     A failed write leaves the store failed: every later write returns the
//     first error (the disk state is unknown after a failed fsync).
//
// # Snapshots
//
// CreateSnapshot writes snapshot-meta and snapshot-data in one transaction.
// A snapshot received through Save replaces the whole log, so before the
// Save's entries reach the WAL, one transaction stores the snapshot, the
// new compaction point and the reset position (the WAL's end) with the
// HardState after the Save. On replay, records before that position
// contribute nothing: the log restarts empty above the snapshot with that
// HardState. Such a Save costs two syncs; snapshots are rare.
//
// # Recovery
//
// Open loads snap.db, then replays the segments from the newest one whose
// first <= compacted+1 (older ones are leftovers of an interrupted Compact
// and are deleted). In the LAST segment, a record that ends past the end of
// the file, that has an all-zero 512-byte sector (a write the disk did not
// finish), or that fails its CRC with only zeros after it, is the tail of a
// Save that never returned: the segment is cut there and the rest of the
// file zeroed and synced, so stale bytes of that write can never be read as
// records after later appends. (A bit flip in the very last record looks
// exactly like that and is dropped too; that record was the newest write.)
// Any other bad record, a record that breaks the replay rules, a missing
// segment or a segment whose first record does not match its name makes
// Open fail with an error wrapping ErrCorrupt that names the file and
// offset: a log that lost acknowledged writes must not be used.
//
// # Concurrency
//
// A Store is not safe for concurrent use. It belongs to the goroutine that
// owns the raft.RawNode, which is the only caller of both the raft.Storage
// methods and the write methods.
//
// # Errors
//
// The raft.Storage methods return raft.ErrCompacted, raft.ErrUnavailable and
// raft.ErrSnapshotTemporarilyUnavailable unwrapped, because raft compares them
// with ==. Every other error is wrapped with %w.
package walstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	// SnapFile is the bbolt file inside the store's directory.
	SnapFile = "snap.db"
	// WALDir is the segment directory inside the store's directory.
	WALDir = "wal"
	// DefaultSegmentSize is the preallocated size of a segment.
	DefaultSegmentSize = 64 << 20

	schemaVersion = 1
)

var (
	bucketMeta  = []byte("meta")
	bucketState = []byte("state")

	keyVersion        = []byte("version")
	keyNodeID         = []byte("node-id")
	keyWAL            = []byte("wal")
	keySnapshotMeta   = []byte("snapshot-meta")
	keySnapshotData   = []byte("snapshot-data")
	keyCompacted      = []byte("compacted")
	keyReset          = []byte("reset")
	keyResetHardState = []byte("reset-hardstate")
)

var (
	// ErrLocked means another process holds the store's directory.
	ErrLocked = errors.New("walstore: store is locked by another mesosd?")
	// ErrVersion means snap.db was written with a schema this binary does
	// not know.
	ErrVersion = errors.New("walstore: unsupported schema version")
	// ErrNodeID means the store was created by a different raft node.
	ErrNodeID = errors.New("walstore: store belongs to another node ID")
	// ErrLogGap means appended entries would leave a hole after lastIndex.
	ErrLogGap = errors.New("walstore: entries leave a gap in the log")
	// ErrOutOfRange means an index beyond lastIndex was passed to a write.
	ErrOutOfRange = errors.New("walstore: index beyond last log index")
	// ErrUncovered means Compact would discard entries no snapshot covers,
	// which would leave a slow follower with no way to catch up.
	ErrUncovered = errors.New("walstore: compaction beyond the latest snapshot")
	// ErrCorrupt means the stored log is damaged somewhere other than a torn
	// tail; Open refuses it.
	ErrCorrupt = errors.New("walstore: corrupt log")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("walstore: closed")
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the directory lock (default 1s), so a
	// second master on the same directory fails fast with ErrLocked.
	LockTimeout time.Duration
	// SegmentSize is the preallocated size of a WAL segment (default
	// DefaultSegmentSize). Small values are for tests.
	SegmentSize int64
	// NoSync disables every fsync. Only for tests and benchmarks of
	// non-disk cost: it voids every durability claim.
	NoSync bool
}

// Store is a raft.Storage on a WAL plus bbolt. See the package doc.
type Store struct {
	dir    string
	walDir string
	nodeID uint64
	opts   Options
	db     *bolt.DB

	hardState *raftpb.HardState        // never nil
	snapMeta  *raftpb.SnapshotMetadata // never nil; zero index = no snapshot
	compIndex uint64                   // last discarded index
	compTerm  uint64                   // term of compIndex
	// ents holds the log (compIndex, compIndex+len(ents)]. Entries are never
	// modified and slots handed out are never rewritten: truncation and
	// compaction reallocate (raft may still hold slices returned by Entries).
	ents []*raftpb.Entry

	segs []segment // live segments, oldest first; the last is written
	f    *os.File  // the last segment
	off  int64     // where the next record goes in f
	buf  []byte    // encoding buffer, reused across Saves

	err    error // sticky write failure
	closed bool

	// Test hooks (export_test.go).
	syncs           int          // data syncs (fdatasync or bbolt commits) done or skipped by NoSync
	afterSnapshotTx func() error // runs between the snapshot transaction and the WAL write
}

var _ raft.Storage = (*Store)(nil)

// Open opens or creates the store in dir for raft node nodeID.
func Open(dir string, nodeID uint64, opts Options) (*Store, error) {
	if nodeID == 0 {
		return nil, fmt.Errorf("walstore: open %s: node ID must be non-zero", dir)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	s := &Store{dir: dir, walDir: filepath.Join(dir, WALDir), nodeID: nodeID, opts: opts}
	if err := s.open(); err != nil {
		s.closeFiles()
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("walstore: open %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) open() error {
	if err := os.MkdirAll(s.walDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(s.dir, SnapFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: s.opts.LockTimeout,
		// No freelist write per commit, map freelist: snap.db is small
		// and rewritten rarely; a lost freelist is rebuilt on open.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         s.opts.NoSync,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%w: %s: %w", ErrLocked, path, err)
	}
	if err != nil {
		return err
	}
	s.db = db
	walReady, err := s.initDB()
	if err != nil {
		return err
	}
	if err := s.db.View(s.load); err != nil {
		return err
	}
	if !walReady {
		return s.createWAL()
	}
	return s.replay()
}

// initDB creates or checks the buckets and reports whether the WAL was
// created already.
func (s *Store) initDB() (walReady bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, u64(schemaVersion)); err != nil {
				return err
			}
			if err := meta.Put(keyNodeID, u64(s.nodeID)); err != nil {
				return err
			}
		} else if len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
			return fmt.Errorf("%w: %x (this binary writes %d)", ErrVersion, v, schemaVersion)
		}
		if id := meta.Get(keyNodeID); len(id) != 8 || binary.BigEndian.Uint64(id) != s.nodeID {
			return fmt.Errorf("%w: want %d, store has %x", ErrNodeID, s.nodeID, id)
		}
		walReady = meta.Get(keyWAL) != nil
		_, err = tx.CreateBucketIfNotExists(bucketState)
		return err
	})
	return walReady, err
}

// load reads the snapshot, compaction point and reset point from snap.db.
func (s *Store) load(tx *bolt.Tx) error {
	st := tx.Bucket(bucketState)
	s.hardState = &raftpb.HardState{}
	s.snapMeta = &raftpb.SnapshotMetadata{}
	if v := st.Get(keySnapshotMeta); v != nil {
		if err := proto.Unmarshal(v, s.snapMeta); err != nil {
			return fmt.Errorf("%w: snap.db snapshot-meta: %w", ErrCorrupt, err)
		}
	}
	if v := st.Get(keyCompacted); v != nil {
		if len(v) != 16 {
			return fmt.Errorf("%w: snap.db compacted is %d bytes", ErrCorrupt, len(v))
		}
		s.compIndex = binary.BigEndian.Uint64(v[:8])
		s.compTerm = binary.BigEndian.Uint64(v[8:])
	}
	return nil
}

// resetPoint reads the reset position and HardState; ok is false if no
// snapshot was ever received through Save.
func (s *Store) resetPoint() (p pos, hs *raftpb.HardState, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		v := st.Get(keyReset)
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return fmt.Errorf("%w: snap.db reset is %d bytes", ErrCorrupt, len(v))
		}
		p = pos{binary.BigEndian.Uint64(v[:8]), int64(binary.BigEndian.Uint64(v[8:]))}
		hs = &raftpb.HardState{}
		if err := proto.Unmarshal(st.Get(keyResetHardState), hs); err != nil {
			return fmt.Errorf("%w: snap.db reset-hardstate: %w", ErrCorrupt, err)
		}
		ok = true
		return nil
	})
	return p, hs, ok, err
}

// closeFiles releases whatever open managed to open.
func (s *Store) closeFiles() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	if s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

// Close closes the files. Every write is already durable when it returns,
// so there is nothing to flush. Later writes return ErrClosed.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("walstore: close: %w", err)
	}
	return nil
}

// lastIndex is the index of the last entry (compIndex when there is none).
func (s *Store) lastIndex() uint64 { return s.compIndex + uint64(len(s.ents)) }

// IsEmpty reports whether nothing was ever persisted: no entries, no hard
// state, no snapshot. replog bootstraps only an empty store.
func (s *Store) IsEmpty() bool {
	return s.lastIndex() == 0 && raft.IsEmptyHardState(s.hardState) && s.snapMeta.GetIndex() == 0
}

// HardState returns the last persisted HardState (a copy).
func (s *Store) HardState() *raftpb.HardState { return proto.CloneOf(s.hardState) }

// SnapshotMetadata returns the metadata of the latest snapshot (a copy); its
// index is 0 when there is none.
func (s *Store) SnapshotMetadata() *raftpb.SnapshotMetadata { return proto.CloneOf(s.snapMeta) }

// InitialState implements raft.Storage.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	return proto.CloneOf(s.hardState), raftpb.EnsureConfState(proto.CloneOf(s.snapMeta.GetConfState())), nil
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) { return s.compIndex + 1, nil }

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) { return s.lastIndex(), nil }

// Term implements raft.Storage. i may be FirstIndex()-1, whose term is kept
// for log matching after compaction.
func (s *Store) Term(i uint64) (uint64, error) {
	switch {
	case i < s.compIndex:
		return 0, raft.ErrCompacted
	case i == s.compIndex:
		return s.compTerm, nil
	case i > s.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.ents[i-s.compIndex-1].GetTerm(), nil
}

// Entries implements raft.Storage: entries [lo, hi) limited to maxSize bytes
// (at least one entry). The caller may append to the returned slice but
// must not modify the entries.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if lo <= s.compIndex {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex()+1 || len(s.ents) == 0 {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	ents := limitSize(s.ents[lo-s.compIndex-1:hi-s.compIndex-1], maxSize)
	return ents[:len(ents):len(ents)], nil
}

// Snapshot implements raft.Storage. It reads the data from snap.db:
// snapshots are sent rarely and may be large, so they are not kept in
// memory.
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	snap := &raftpb.Snapshot{Metadata: proto.CloneOf(s.snapMeta)}
	if s.snapMeta.GetIndex() == 0 {
		return raftpb.EnsureSnapshot(snap), nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketState).Get(keySnapshotData); v != nil {
			snap.Data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walstore: snapshot: %w", err)
	}
	return raftpb.EnsureSnapshot(snap), nil
}

// writable returns the error a write must fail with, if any.
func (s *Store) writable() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// fail makes a write error sticky and returns it.
func (s *Store) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

// Save persists one Ready's worth of state, in the order raft requires:
// the snapshot (which replaces the whole log), then the entries (an entry
// at index i discards every stored entry >= i), then the HardState. Empty
// arguments (nil, zero length, raft.IsEmptySnap, raft.IsEmptyHardState) are
// skipped. Entries and HardState are appended to the WAL with one write and
// one fdatasync; a snapshot first costs one bbolt transaction (package doc).
// On a validation error nothing changed; on an I/O error the store is
// failed and the caller must stop.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if err := s.writable(); err != nil {
		return fmt.Errorf("walstore: save: %w", err)
	}
	hasSnap := !raft.IsEmptySnap(snap)
	hasHS := !raft.IsEmptyHardState(hs)
	if !hasSnap && !hasHS && len(ents) == 0 {
		return nil
	}
	// Validate against the view after the snapshot, changing nothing yet.
	compIndex, lastIndex := s.compIndex, s.lastIndex()
	if hasSnap {
		m := snap.GetMetadata()
		if m.GetIndex() <= s.snapMeta.GetIndex() {
			return fmt.Errorf("walstore: save snapshot %d (have %d): %w",
				m.GetIndex(), s.snapMeta.GetIndex(), raft.ErrSnapOutOfDate)
		}
		compIndex, lastIndex = m.GetIndex(), m.GetIndex()
	}
	if len(ents) > 0 && ents[0].GetIndex() <= compIndex {
		// The head is already covered by the snapshot/compaction.
		skip := compIndex + 1 - ents[0].GetIndex()
		if skip >= uint64(len(ents)) {
			ents = nil
		} else {
			ents = ents[skip:]
		}
	}
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first > lastIndex+1 {
			return fmt.Errorf("%w: append at %d, last index %d", ErrLogGap, first, lastIndex)
		}
		for i, e := range ents {
			if e.GetIndex() != first+uint64(i) {
				return fmt.Errorf("%w: entry %d at position %d of a batch starting at %d",
					ErrLogGap, e.GetIndex(), i, first)
			}
		}
	}

	// Encode before touching the disk, so a marshal error changes nothing.
	buf := s.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = appendRecord(buf, recEntry, e); err != nil {
			return fmt.Errorf("walstore: save: entry %d: %w", e.GetIndex(), err)
		}
	}
	if hasHS && !hasSnap { // with a snapshot, hs is stored as reset-hardstate
		if buf, err = appendRecord(buf, recHardState, hs); err != nil {
			return fmt.Errorf("walstore: save: hardstate: %w", err)
		}
	}
	if cap(buf) <= 4<<20 {
		s.buf = buf // keep a buffer of ordinary size for the next Save
	}

	if len(buf) > 0 && s.off >= s.opts.SegmentSize {
		// Switch segments before anything else, so a failure leaves the
		// disk as it was and the reset position below lies in the new one.
		if err := s.cut(); err != nil {
			return s.fail(fmt.Errorf("walstore: save: new segment: %w", err))
		}
	}
	if hasSnap {
		if !hasHS {
			hs = s.hardState
		}
		if err := s.saveSnapshot(snap, hs); err != nil {
			return s.fail(fmt.Errorf("walstore: save snapshot %d: %w", snap.GetMetadata().GetIndex(), err))
		}
		if s.afterSnapshotTx != nil {
			if err := s.afterSnapshotTx(); err != nil {
				return s.fail(err)
			}
		}
	}
	if len(buf) > 0 {
		if _, err := s.f.WriteAt(buf, s.off); err != nil {
			return s.fail(fmt.Errorf("walstore: save: %w", err))
		}
		if err := s.sync(); err != nil {
			return s.fail(fmt.Errorf("walstore: save: %w", err))
		}
		s.off += int64(len(buf))
	}

	// Durable: update the in-memory view.
	if len(ents) > 0 {
		keep := ents[0].GetIndex() - s.compIndex - 1
		if keep < uint64(len(s.ents)) {
			// Overwrite: reallocate so slices handed out keep their contents.
			s.ents = append(s.ents[:keep:keep], ents...)
		} else {
			s.ents = append(s.ents, ents...)
		}
	}
	if hasHS {
		s.hardState = proto.CloneOf(hs)
	}
	return nil
}

// saveSnapshot stores a snapshot received from the leader, which replaces
// the log, in one transaction: data, new compaction point, and the reset
// position (the WAL's end: records before it no longer count) with the
// HardState that holds from there. Then it updates the in-memory view.
func (s *Store) saveSnapshot(snap *raftpb.Snapshot, hs *raftpb.HardState) error {
	m := snap.GetMetadata()
	err := s.update(func(st *bolt.Bucket) error {
		if err := putProto(st, keySnapshotMeta, m); err != nil {
			return err
		}
		if err := st.Put(keySnapshotData, nonNil(snap.GetData())); err != nil {
			return err
		}
		if err := st.Put(keyCompacted, u64pair(m.GetIndex(), m.GetTerm())); err != nil {
			return err
		}
		if err := st.Put(keyReset, u64pair(s.segs[len(s.segs)-1].seq, uint64(s.off))); err != nil {
			return err
		}
		return putProto(st, keyResetHardState, hs)
	})
	if err != nil {
		return err
	}
	s.snapMeta = proto.CloneOf(m)
	s.compIndex, s.compTerm = m.GetIndex(), m.GetTerm()
	s.ents = nil
	s.hardState = proto.CloneOf(hs)
	return nil
}

// update runs fn on the state bucket in one fsynced bbolt transaction.
func (s *Store) update(fn func(st *bolt.Bucket) error) error {
	s.syncs++
	return s.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketState)) })
}

// sync makes the live segment's data durable (one fdatasync).
func (s *Store) sync() error {
	s.syncs++
	if s.opts.NoSync {
		return nil
	}
	return fdatasync(s.f)
}

// Compact discards the log entries before index, keeping index itself as the
// new match point (FirstIndex becomes index+1), and deletes the segments
// that hold nothing after it. It returns raft.ErrCompacted if index is
// already compacted, ErrOutOfRange past the last index and ErrUncovered
// past the latest snapshot.
func (s *Store) Compact(index uint64) error {
	if err := s.writable(); err != nil {
		return fmt.Errorf("walstore: compact %d: %w", index, err)
	}
	switch {
	case index <= s.compIndex:
		return fmt.Errorf("walstore: compact %d (compacted %d): %w", index, s.compIndex, raft.ErrCompacted)
	case index > s.lastIndex():
		return fmt.Errorf("walstore: compact %d: %w (%d)", index, ErrOutOfRange, s.lastIndex())
	case index > s.snapMeta.GetIndex():
		return fmt.Errorf("walstore: compact %d: %w (%d)", index, ErrUncovered, s.snapMeta.GetIndex())
	}
	term := s.ents[index-s.compIndex-1].GetTerm()
	err := s.update(func(st *bolt.Bucket) error {
		return st.Put(keyCompacted, u64pair(index, term))
	})
	if err != nil {
		return s.fail(fmt.Errorf("walstore: compact %d: %w", index, err))
	}
	// Reallocate: slices handed out by Entries must keep their contents.
	s.ents = append([]*raftpb.Entry(nil), s.ents[index-s.compIndex:]...)
	s.compIndex, s.compTerm = index, term
	if err := s.deleteSegments(); err != nil {
		return s.fail(fmt.Errorf("walstore: compact %d: %w", index, err))
	}
	return nil
}

// CreateSnapshot records a state machine snapshot taken at index (which must
// be in the log) with membership cs, in one fsynced transaction. It does not
// compact; see Compact. It returns raft.ErrSnapOutOfDate if index is not
// newer than the latest snapshot.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) error {
	if err := s.writable(); err != nil {
		return fmt.Errorf("walstore: snapshot %d: %w", index, err)
	}
	if index <= s.snapMeta.GetIndex() {
		return fmt.Errorf("walstore: snapshot %d (have %d): %w", index, s.snapMeta.GetIndex(), raft.ErrSnapOutOfDate)
	}
	if index > s.lastIndex() {
		return fmt.Errorf("walstore: snapshot %d: %w (%d)", index, ErrOutOfRange, s.lastIndex())
	}
	term, err := s.Term(index)
	if err != nil {
		return fmt.Errorf("walstore: snapshot %d: %w", index, err)
	}
	meta := &raftpb.SnapshotMetadata{
		Index:     new(index),
		Term:      new(term),
		ConfState: raftpb.EnsureConfState(proto.CloneOf(cs)),
	}
	err = s.update(func(st *bolt.Bucket) error {
		if err := putProto(st, keySnapshotMeta, meta); err != nil {
			return err
		}
		return st.Put(keySnapshotData, nonNil(data))
	})
	if err != nil {
		return s.fail(fmt.Errorf("walstore: snapshot %d: %w", index, err))
	}
	s.snapMeta = meta
	return nil
}

func putProto(b *bolt.Bucket, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", key, err)
	}
	if err := b.Put(key, nonNil(v)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// limitSize mirrors raft's rule: keep entries while the total encoded size
// stays within maxSize, but always at least one.
func limitSize(ents []*raftpb.Entry, maxSize uint64) []*raftpb.Entry {
	if len(ents) == 0 {
		return ents
	}
	size := uint64(proto.Size(ents[0]))
	for n := 1; n < len(ents); n++ {
		size += uint64(proto.Size(ents[n]))
		if size > maxSize {
			return ents[:n]
		}
	}
	return ents
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func u64pair(a, b uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), a), b)
}

// nonNil makes an empty value storable: bbolt treats a nil value as "no
// value" on some paths.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
