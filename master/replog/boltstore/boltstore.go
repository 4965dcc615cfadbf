// Package boltstore is a durable Raft log store in one bbolt file: a
// raft.Storage (the read side raft consults) plus the write side the
// replog Ready loop calls.
//
// replog now uses package walstore, which persists a Ready with one
// fdatasync where a bbolt transaction needs two. boltstore stays as the
// simple reference implementation the shared conformance suite (package
// storetest) is checked against.
//
// # Schema
//
//	/                       bbolt root (buckets only)
//	├── meta/
//	│   ├── version         uint64 BE; currently 1
//	│   └── node-id         uint64 BE; raft ID that created this store
//	├── state/
//	│   ├── hardstate       raftpb.HardState (term, vote, commit)
//	│   ├── compacted       16 bytes: BE index, BE term of the last discarded
//	│   │                   entry; log/ holds exactly (index, lastIndex]
//	│   ├── snapshot-meta   raftpb.SnapshotMetadata (index, term, ConfState)
//	│   └── snapshot-data   opaque state machine bytes of that snapshot
//	└── log/
//	    └── <BE uint64 idx> raftpb.Entry
//
// Rule: any change to the layout above bumps version and adds a migration
// step in migrate; a store with an unknown version is refused, never guessed.
//
// The ConfState lives only in snapshot-meta: raft restarts from the
// snapshot's membership and re-applies the conf changes committed after it,
// so a separately stored "latest" ConfState would be one raft must not see.
//
// # Invariants
//
//   - log/ is contiguous: keys are compacted.index+1 .. lastIndex.
//   - compacted.index <= snapshot index once a snapshot exists (Compact refuses
//     to discard entries no snapshot covers), except right after a received
//     snapshot, where compacted equals the snapshot.
//   - Every write is one bbolt transaction, committed with fsync; the
//     in-memory view (tail cache, indexes, hard state) changes only after
//     the commit succeeded.
//
// # Concurrency
//
// A Store is not safe for concurrent use. It belongs to the goroutine that
// owns the raft.RawNode, which is the only caller of both the raft.Storage
// methods and the write methods; that is why there is no lock (the lock in
// raft.MemoryStorage exists only because etcd appends from another goroutine).
//
// # Errors
//
// The raft.Storage methods return raft.ErrCompacted, raft.ErrUnavailable and
// raft.ErrSnapshotTemporarilyUnavailable unwrapped, because raft compares them
// with ==. Every other error is wrapped with %w.
package boltstore

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

// schemaVersion is the layout described in the package doc.
const schemaVersion = 1

var (
	bucketMeta  = []byte("meta")
	bucketState = []byte("state")
	bucketLog   = []byte("log")

	keyVersion      = []byte("version")
	keyNodeID       = []byte("node-id")
	keyHardState    = []byte("hardstate")
	keyCompacted    = []byte("compacted")
	keySnapshotMeta = []byte("snapshot-meta")
	keySnapshotData = []byte("snapshot-data")
)

var (
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("boltstore: database is locked by another mesosd?")
	// ErrVersion means the file was written with a schema this binary does
	// not know.
	ErrVersion = errors.New("boltstore: unsupported schema version")
	// ErrNodeID means the store was created by a different raft node.
	ErrNodeID = errors.New("boltstore: store belongs to another node ID")
	// ErrLogGap means appended entries would leave a hole after lastIndex.
	ErrLogGap = errors.New("boltstore: entries leave a gap in the log")
	// ErrOutOfRange means an index beyond lastIndex was passed to a write.
	ErrOutOfRange = errors.New("boltstore: index beyond last log index")
	// ErrUncovered means Compact would discard entries no snapshot covers,
	// which would leave a slow follower with no way to catch up.
	ErrUncovered = errors.New("boltstore: compaction beyond the latest snapshot")
	// ErrCorrupt means a stored value could not be decoded.
	ErrCorrupt = errors.New("boltstore: corrupt record")
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the file lock (default 1s), so a second
	// master on the same directory fails fast with ErrLocked instead of hanging.
	LockTimeout time.Duration
	// CacheEntries and CacheBytes bound the in-memory tail of the log that
	// Entries and Term serve without touching bbolt (defaults 8192 / 64 MiB).
	// Older entries (a slow follower catching up) are read from disk.
	CacheEntries int
	CacheBytes   int
	// NoSync disables fsync. Only for tests and benchmarks of non-disk cost.
	NoSync bool
}

// Store is a raft.Storage on bbolt. See the package doc for the schema.
type Store struct {
	db *bolt.DB

	hardState *raftpb.HardState
	snapMeta  *raftpb.SnapshotMetadata // never nil; zero index = no snapshot
	compIndex uint64                   // compacted: last discarded index
	compTerm  uint64                   // term of compIndex
	lastIndex uint64

	// cache holds the log tail: cache[i] has index cacheFirst+i and the last
	// element is lastIndex. Slices handed to callers use full slice
	// expressions, and truncation reallocates, so callers never see a
	// cached slot change under them.
	cache      []*raftpb.Entry
	cacheFirst uint64
	cacheBytes int
	maxEntries int
	maxBytes   int
}

var _ raft.Storage = (*Store)(nil)

// Open opens or creates the store at path for raft node nodeID.
func Open(path string, nodeID uint64, opts Options) (*Store, error) {
	if nodeID == 0 {
		return nil, fmt.Errorf("boltstore: open %s: node ID must be non-zero", path)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 8192
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt by scanning on open instead of being
		// written on every commit: fewer pages per fsync on the hot path,
		// and no failed open because of a torn freelist page (containerd's
		// reason for the same setting).
		NoFreelistSync: true,
		// Map freelist: O(1) allocation; the array type degrades with
		// fragmentation, which truncation and compaction create.
		FreelistType: bolt.FreelistMapType,
		NoSync:       opts.NoSync,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{db: db, maxEntries: opts.CacheEntries, maxBytes: opts.CacheBytes}
	if err := s.init(nodeID); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return s, nil
}

// init creates or checks the buckets and loads the in-memory view.
func (s *Store) init(nodeID uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, u64(schemaVersion)); err != nil {
				return err
			}
			if err := meta.Put(keyNodeID, u64(nodeID)); err != nil {
				return err
			}
		} else if err := migrate(tx, meta, v); err != nil {
			return err
		}
		if id := meta.Get(keyNodeID); len(id) != 8 || binary.BigEndian.Uint64(id) != nodeID {
			return fmt.Errorf("%w: want %d, file has %x", ErrNodeID, nodeID, id)
		}
		for _, b := range [][]byte{bucketState, bucketLog} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.db.View(s.load)
}

// migrate brings an older layout up to schemaVersion. There is only one
// version so far; this is where future steps go, each in the same tx.
func migrate(_ *bolt.Tx, _ *bolt.Bucket, v []byte) error {
	if len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
		return fmt.Errorf("%w: %x (this binary writes %d)", ErrVersion, v, schemaVersion)
	}
	return nil
}

func (s *Store) load(tx *bolt.Tx) error {
	st := tx.Bucket(bucketState)
	s.hardState = &raftpb.HardState{}
	if v := st.Get(keyHardState); v != nil {
		if err := proto.Unmarshal(v, s.hardState); err != nil {
			return fmt.Errorf("%w: hardstate: %w", ErrCorrupt, err)
		}
	}
	s.snapMeta = &raftpb.SnapshotMetadata{}
	if v := st.Get(keySnapshotMeta); v != nil {
		if err := proto.Unmarshal(v, s.snapMeta); err != nil {
			return fmt.Errorf("%w: snapshot-meta: %w", ErrCorrupt, err)
		}
	}
	if v := st.Get(keyCompacted); v != nil {
		if len(v) != 16 {
			return fmt.Errorf("%w: compacted is %d bytes", ErrCorrupt, len(v))
		}
		s.compIndex = binary.BigEndian.Uint64(v[:8])
		s.compTerm = binary.BigEndian.Uint64(v[8:])
	}
	s.lastIndex = s.compIndex
	s.cacheFirst = s.compIndex + 1
	s.cache, s.cacheBytes = nil, 0
	c := tx.Bucket(bucketLog).Cursor()
	k, _ := c.Last()
	if k == nil {
		return nil
	}
	s.lastIndex = binary.BigEndian.Uint64(k)
	if first, _ := c.First(); binary.BigEndian.Uint64(first) != s.compIndex+1 {
		return fmt.Errorf("%w: log starts at %d, compacted index is %d",
			ErrCorrupt, binary.BigEndian.Uint64(first), s.compIndex)
	}
	// Warm the cache with the tail, newest first, within the bounds.
	var tail []*raftpb.Entry
	for k, v := c.Last(); k != nil && len(tail) < s.maxEntries && s.cacheBytes+len(v) <= s.maxBytes; k, v = c.Prev() {
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("%w: entry %d: %w", ErrCorrupt, binary.BigEndian.Uint64(k), err)
		}
		tail = append(tail, e)
		s.cacheBytes += len(v)
	}
	for i, j := 0, len(tail)-1; i < j; i, j = i+1, j-1 {
		tail[i], tail[j] = tail[j], tail[i]
	}
	s.cache = tail
	s.cacheFirst = s.lastIndex - uint64(len(tail)) + 1
	return nil
}

// Close closes the database file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// IsEmpty reports whether nothing was ever persisted: no entries, no hard
// state, no snapshot. replog bootstraps only an empty store.
func (s *Store) IsEmpty() bool {
	return s.lastIndex == 0 && raft.IsEmptyHardState(s.hardState) && s.snapMeta.GetIndex() == 0
}

// HardState returns the last persisted HardState (a copy).
func (s *Store) HardState() *raftpb.HardState {
	return proto.CloneOf(s.hardState)
}

// SnapshotMetadata returns the metadata of the latest snapshot (a copy); its
// index is 0 when there is none.
func (s *Store) SnapshotMetadata() *raftpb.SnapshotMetadata {
	return proto.CloneOf(s.snapMeta)
}

// InitialState implements raft.Storage.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	return proto.CloneOf(s.hardState), raftpb.EnsureConfState(proto.CloneOf(s.snapMeta.GetConfState())), nil
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) { return s.compIndex + 1, nil }

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) { return s.lastIndex, nil }

// Term implements raft.Storage. i may be FirstIndex()-1, whose term is kept
// for log matching after compaction.
func (s *Store) Term(i uint64) (uint64, error) {
	switch {
	case i < s.compIndex:
		return 0, raft.ErrCompacted
	case i == s.compIndex:
		return s.compTerm, nil
	case i > s.lastIndex:
		return 0, raft.ErrUnavailable
	case i >= s.cacheFirst:
		return s.cache[i-s.cacheFirst].GetTerm(), nil
	}
	var term uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		e, err := getEntry(tx.Bucket(bucketLog), i)
		if err != nil {
			return err
		}
		term = e.GetTerm()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: term %d: %w", i, err)
	}
	return term, nil
}

// Entries implements raft.Storage: entries [lo, hi) limited to maxSize bytes
// (at least one entry). The caller owns the returned slice.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if lo <= s.compIndex {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex+1 || s.lastIndex == s.compIndex {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	if lo >= s.cacheFirst {
		ents := limitSize(s.cache[lo-s.cacheFirst:hi-s.cacheFirst], maxSize)
		return ents[:len(ents):len(ents)], nil
	}
	// Slow path: the head of the range predates the cache.
	var out []*raftpb.Entry
	var size uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		end := min(hi, s.cacheFirst)
		want := lo
		for k, v := c.Seek(u64(lo)); k != nil && want < end; k, v = c.Next() {
			if idx := binary.BigEndian.Uint64(k); idx != want {
				return fmt.Errorf("%w: expected entry %d, found %d", ErrCorrupt, want, idx)
			}
			e := &raftpb.Entry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrCorrupt, want, err)
			}
			size += uint64(proto.Size(e))
			if len(out) > 0 && size > maxSize {
				return nil
			}
			out = append(out, e)
			want++
		}
		if want < end {
			return fmt.Errorf("%w: entry %d missing", ErrCorrupt, want)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: entries [%d,%d): %w", lo, hi, err)
	}
	if next := lo + uint64(len(out)); next == s.cacheFirst && next < hi {
		for _, e := range s.cache[:hi-s.cacheFirst] {
			size += uint64(proto.Size(e))
			if size > maxSize {
				break
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Snapshot implements raft.Storage. It reads the data from disk: snapshots
// are sent rarely and may be large, so they are not kept in memory.
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
		return nil, fmt.Errorf("boltstore: snapshot: %w", err)
	}
	return raftpb.EnsureSnapshot(snap), nil
}

// Save persists one Ready's worth of state in a single fsynced transaction,
// in the order raft requires: the snapshot (which replaces the whole log),
// then the entries (an entry at index i discards every stored entry >= i),
// then the HardState. Empty arguments (nil, zero length, raft.IsEmptySnap,
// raft.IsEmptyHardState) are skipped. On error nothing changed on disk or
// in memory; the caller must treat the store as failed anyway.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	hasSnap := !raft.IsEmptySnap(snap)
	hasHS := !raft.IsEmptyHardState(hs)
	if !hasSnap && !hasHS && len(ents) == 0 {
		return nil
	}
	// Work out the new view first; apply it only after the commit.
	compIndex, compTerm, lastIndex := s.compIndex, s.compTerm, s.lastIndex
	if hasSnap {
		m := snap.GetMetadata()
		if m.GetIndex() <= s.snapMeta.GetIndex() {
			return fmt.Errorf("boltstore: save snapshot %d (have %d): %w",
				m.GetIndex(), s.snapMeta.GetIndex(), raft.ErrSnapOutOfDate)
		}
		// raft emits a snapshot only when its log no longer matches ours, so
		// everything stored goes, not just the prefix (as MemoryStorage does).
		compIndex, compTerm, lastIndex = m.GetIndex(), m.GetTerm(), m.GetIndex()
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
	var truncFrom uint64 // first stored index the new entries overwrite
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
		truncFrom = first
		lastIndex = first + uint64(len(ents)) - 1
	}

	encoded := make([][]byte, len(ents))
	err := s.db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		lb := tx.Bucket(bucketLog)
		// Sequential keys: pack pages fully instead of splitting at 50%.
		lb.FillPercent = 0.9
		if hasSnap {
			if err := deleteRange(lb, s.compIndex+1, s.lastIndex); err != nil {
				return err
			}
			if err := putProto(st, keySnapshotMeta, snap.GetMetadata()); err != nil {
				return err
			}
			if err := st.Put(keySnapshotData, nonNil(snap.GetData())); err != nil {
				return err
			}
			if err := st.Put(keyCompacted, u64pair(compIndex, compTerm)); err != nil {
				return err
			}
		}
		if len(ents) > 0 {
			// After a snapshot the range is already empty; otherwise drop the
			// conflicting suffix [truncFrom, old last].
			if !hasSnap && truncFrom <= s.lastIndex {
				if err := deleteRange(lb, truncFrom, s.lastIndex); err != nil {
					return err
				}
			}
			for i, e := range ents {
				b, err := proto.Marshal(e)
				if err != nil {
					return fmt.Errorf("marshal entry %d: %w", e.GetIndex(), err)
				}
				if err := lb.Put(u64(e.GetIndex()), b); err != nil {
					return err
				}
				encoded[i] = b
			}
		}
		if hasHS {
			return putProto(st, keyHardState, hs)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: save: %w", err)
	}

	// Commit succeeded: update the in-memory view.
	if hasSnap {
		s.snapMeta = proto.CloneOf(snap.GetMetadata())
		s.compIndex, s.compTerm = compIndex, compTerm
		s.cache, s.cacheFirst, s.cacheBytes = nil, compIndex+1, 0
	}
	if len(ents) > 0 {
		s.cacheAppend(ents, encoded)
	}
	s.lastIndex = lastIndex
	if hasHS {
		s.hardState = proto.CloneOf(hs)
	}
	return nil
}

// cacheAppend puts ents (contiguous, first <= lastIndex+1) into the tail
// cache, truncating any conflicting cached suffix, then trims the head.
func (s *Store) cacheAppend(ents []*raftpb.Entry, encoded [][]byte) {
	first := ents[0].GetIndex()
	switch {
	case len(s.cache) == 0 || first < s.cacheFirst:
		// Empty cache, or the overwrite reaches below it: restart the cache.
		s.cache = append([]*raftpb.Entry(nil), ents...)
		s.cacheFirst = first
		s.cacheBytes = 0
		for _, b := range encoded {
			s.cacheBytes += len(b)
		}
	default:
		keep := first - s.cacheFirst
		if keep < uint64(len(s.cache)) {
			for _, e := range s.cache[keep:] {
				s.cacheBytes -= proto.Size(e)
			}
			// Reallocate so slices already handed out keep their contents.
			s.cache = append(s.cache[:keep:keep], ents...)
		} else {
			s.cache = append(s.cache, ents...)
		}
		for _, b := range encoded {
			s.cacheBytes += len(b)
		}
	}
	s.trimCache()
}

func (s *Store) trimCache() {
	n := 0
	for n < len(s.cache)-1 && (len(s.cache)-n > s.maxEntries || s.cacheBytes > s.maxBytes) {
		s.cacheBytes -= proto.Size(s.cache[n])
		s.cache[n] = nil // let the entry be collected
		n++
	}
	s.cache = s.cache[n:]
	s.cacheFirst += uint64(n)
}

// Compact discards the log entries before index, keeping index itself as the
// new match point (FirstIndex becomes index+1). It returns raft.ErrCompacted
// if index is already compacted, ErrOutOfRange past the last index and
// ErrUncovered past the latest snapshot.
func (s *Store) Compact(index uint64) error {
	switch {
	case index <= s.compIndex:
		return fmt.Errorf("boltstore: compact %d (compacted %d): %w", index, s.compIndex, raft.ErrCompacted)
	case index > s.lastIndex:
		return fmt.Errorf("boltstore: compact %d: %w (%d)", index, ErrOutOfRange, s.lastIndex)
	case index > s.snapMeta.GetIndex():
		return fmt.Errorf("boltstore: compact %d: %w (%d)", index, ErrUncovered, s.snapMeta.GetIndex())
	}
	term, err := s.Term(index)
	if err != nil {
		return fmt.Errorf("boltstore: compact %d: %w", index, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := deleteRange(tx.Bucket(bucketLog), s.compIndex+1, index); err != nil {
			return err
		}
		return tx.Bucket(bucketState).Put(keyCompacted, u64pair(index, term))
	})
	if err != nil {
		return fmt.Errorf("boltstore: compact %d: %w", index, err)
	}
	s.compIndex, s.compTerm = index, term
	if index >= s.cacheFirst {
		n := index - s.cacheFirst + 1
		for i := range s.cache[:n] {
			s.cacheBytes -= proto.Size(s.cache[i])
			s.cache[i] = nil
		}
		s.cache = s.cache[n:]
		s.cacheFirst = index + 1
	}
	return nil
}

// CreateSnapshot records a state machine snapshot taken at index (which must
// be in the log) with membership cs. It does not compact; see Compact.
// It returns raft.ErrSnapOutOfDate if index is not newer than the latest
// snapshot.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) error {
	if index <= s.snapMeta.GetIndex() {
		return fmt.Errorf("boltstore: snapshot %d (have %d): %w", index, s.snapMeta.GetIndex(), raft.ErrSnapOutOfDate)
	}
	if index > s.lastIndex {
		return fmt.Errorf("boltstore: snapshot %d: %w (%d)", index, ErrOutOfRange, s.lastIndex)
	}
	term, err := s.Term(index)
	if err != nil {
		return fmt.Errorf("boltstore: snapshot %d: %w", index, err)
	}
	meta := &raftpb.SnapshotMetadata{
		Index:     new(index),
		Term:      new(term),
		ConfState: raftpb.EnsureConfState(proto.CloneOf(cs)),
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		if err := putProto(st, keySnapshotMeta, meta); err != nil {
			return err
		}
		return st.Put(keySnapshotData, nonNil(data))
	})
	if err != nil {
		return fmt.Errorf("boltstore: snapshot %d: %w", index, err)
	}
	s.snapMeta = meta
	return nil
}

func getEntry(b *bolt.Bucket, i uint64) (*raftpb.Entry, error) {
	v := b.Get(u64(i))
	if v == nil {
		return nil, fmt.Errorf("%w: entry %d missing", ErrCorrupt, i)
	}
	e := &raftpb.Entry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("%w: entry %d: %w", ErrCorrupt, i, err)
	}
	return e, nil
}

// deleteRange deletes log keys lo..hi inclusive. Keys are known from the
// in-memory indexes, so no cursor is needed (bbolt cursors skip entries
// when deleting while iterating).
func deleteRange(b *bolt.Bucket, lo, hi uint64) error {
	for i := lo; i <= hi && i != 0; i++ {
		if err := b.Delete(u64(i)); err != nil {
			return fmt.Errorf("delete entry %d: %w", i, err)
		}
	}
	return nil
}

func putProto(b *bolt.Bucket, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", key, err)
	}
	if err := b.Put(key, v); err != nil {
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
// value" on some paths, and we want snapshot-data present when meta is.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
