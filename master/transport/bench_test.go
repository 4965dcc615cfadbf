package transport_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchCommit measures propose→apply-on-leader on a 3-node cluster whose
// logs fsync (three bbolt files on this machine's disk) and whose messages
// go over loopback HTTP through Transport, with `proposers` goroutines each
// proposing serially. 256-byte values, as etcd's benchmark.
//
//	go test -run '^$' -bench BenchmarkCommit3Nodes -benchtime 5s ./master/transport
func benchCommit(b *testing.B, proposers int, fsync bool) {
	c := newRCluster(b, 3, fsync, 5000)
	lead := c.leader(10 * time.Second)
	// Warm up: streams open, first fsyncs done.
	c.proposeAll(lead, 100)

	var mu sync.Mutex
	var keys atomic.Uint64
	keys.Store(1 << 40) // clear of the warm-up keys
	lat := make([]time.Duration, 0, b.N)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range proposers {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/proposers+1)
			done := make(chan error, 1)
			for next.Add(1) <= int64(b.N) {
				c2 := rcluster{key: keys.Add(1)}
				data := c2.payload(256)
				t0 := time.Now()
				lead.props <- proposal{data: data, done: done}
				if err := <-done; err != nil {
					b.Errorf("proposal: %v", err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // meaningless with concurrent proposers
}

func BenchmarkCommit3NodesSerial(b *testing.B)       { benchCommit(b, 1, true) }
func BenchmarkCommit3Nodes100Proposers(b *testing.B) { benchCommit(b, 100, true) }

// NoSync: the same without fsync, to separate the transport's and the
// loops' cost from the disk's.
func BenchmarkCommit3NodesSerialNoSync(b *testing.B) { benchCommit(b, 1, false) }
