package walstore_test

import (
	"testing"
	"time"

	"github.com/mesosd/mesosd/master/replog/storetest"
	"github.com/mesosd/mesosd/master/replog/walstore"
)

func config(segSize int64) storetest.Config {
	return storetest.Config{
		Open: func(_ testing.TB, dir string, nodeID uint64) (storetest.Store, error) {
			s, err := walstore.Open(dir, nodeID, walstore.Options{
				LockTimeout: 50 * time.Millisecond, SegmentSize: segSize, NoSync: true})
			if err != nil {
				return nil, err // not a typed nil
			}
			return s, nil
		},
		ErrLogGap: walstore.ErrLogGap, ErrOutOfRange: walstore.ErrOutOfRange, ErrUncovered: walstore.ErrUncovered,
		ErrLocked: walstore.ErrLocked, ErrNodeID: walstore.ErrNodeID,
	}
}

// TestConformance runs the storage contract replog relies on.
func TestConformance(t *testing.T) { storetest.Run(t, config(0)) }

// TestConformanceSmallSegments runs it again with segments so small that
// most Saves start a new one and Compact deletes files all the time.
func TestConformanceSmallSegments(t *testing.T) { storetest.Run(t, config(1024)) }
