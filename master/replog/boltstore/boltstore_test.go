package boltstore

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/replog/storetest"
)

var (
	ent  = storetest.Ent
	ents = storetest.Ents
)

// TestConformance runs the storage behaviour shared with walstore.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		Open: func(_ testing.TB, dir string, nodeID uint64) (storetest.Store, error) {
			s, err := Open(filepath.Join(dir, "raft.db"), nodeID, Options{LockTimeout: 50 * time.Millisecond, NoSync: true})
			if err != nil {
				return nil, err // not a typed nil
			}
			return s, nil
		},
		ErrLogGap: ErrLogGap, ErrOutOfRange: ErrOutOfRange, ErrUncovered: ErrUncovered,
		ErrLocked: ErrLocked, ErrNodeID: ErrNodeID,
	})
}

// TestSmallCache forces reads through bbolt: the cache holds 3 entries.
func TestSmallCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := Open(path, 1, Options{CacheEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustSave := func(es []*raftpb.Entry) {
		t.Helper()
		if err := s.Save(nil, es, nil); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	mustSave(ents(1, 10, 1))
	mustSave(ents(11, 20, 2))
	if len(s.cache) != 3 || s.cacheFirst != 18 {
		t.Fatalf("cache = %d entries from %d, want 3 from 18", len(s.cache), s.cacheFirst)
	}
	term := func(i uint64) uint64 {
		if i > 10 {
			return 2
		}
		return 1
	}
	storetest.CheckLog(t, s, 1, 20, term)
	one := uint64(proto.Size(ent(15, 2)))
	got, err := s.Entries(16, 21, 3*one) // crosses from disk into the cache
	if err != nil || len(got) != 3 || got[2].GetIndex() != 18 {
		t.Fatalf("Entries across cache boundary = %v, %v", got, err)
	}
	// Overwrite below the cache start, then from inside it.
	mustSave(ents(15, 16, 3))
	storetest.CheckLog(t, s, 1, 16, func(i uint64) uint64 {
		if i >= 15 {
			return 3
		}
		return term(i)
	})
	mustSave(ents(16, 17, 4))
	if err := s.Compact(5); !errors.Is(err, ErrUncovered) {
		t.Fatalf("Compact without snapshot err = %v, want ErrUncovered", err)
	}
}

// BenchmarkTermHot measures the cached read path raft hits on every append.
func BenchmarkTermHot(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "raft.db"), 1, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(nil, ents(1, 1000, 1), nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Term(uint64(i%1000) + 1); err != nil {
			b.Fatal(err)
		}
	}
}
