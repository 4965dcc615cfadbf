package replog_test

import (
	"testing"
)

// benchSingle proposes batch entries per iteration on a fsynced one-voter
// log and waits until they are applied: batch=1 measures serial commit
// latency, batch=100 the group commit (one WAL append + fdatasync per Ready).
func benchSingle(b *testing.B, batch int) {
	s := openSingle(b, b.TempDir(), []uint64{1})
	defer s.log.Close()
	s.lead()
	data := make([][]byte, batch)
	for i := range data {
		data[i] = make([]byte, 256) // etcd's benchmark value size
	}
	n := 0
	for b.Loop() {
		for _, d := range data {
			if err := s.log.Propose(d); err != nil {
				b.Fatal(err)
			}
		}
		want := uint64(len(s.fsm.data) + batch)
		for uint64(len(s.fsm.data)) < want {
			if _, err := s.log.Process(nil, s.fsm.apply); err != nil {
				b.Fatal(err)
			}
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "commits/s")
}

func BenchmarkProposeCommitSingleNode(b *testing.B)         { benchSingle(b, 1) }
func BenchmarkProposeCommitSingleNodeBatch100(b *testing.B) { benchSingle(b, 100) }

// bench3 does the same on the in-process 3-node cluster: every node has its
// own fsynced store (WAL) on the same disk, and the harness runs the nodes
// one after another on one goroutine, so the three fsyncs per commit are
// serial (a real deployment overlaps them across machines).
func bench3(b *testing.B, batch int) {
	c := newCluster(b, 3, nil)
	lead := c.elect()
	ln := c.nodes[lead]
	data := make([]string, batch)
	for i := range data {
		data[i] = string(make([]byte, 256))
	}
	n := 0
	for b.Loop() {
		for _, d := range data {
			c.propose(lead, d)
		}
		want := len(ln.fsm.data) + batch
		for len(ln.fsm.data) < want {
			c.process()
			c.deliver()
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "commits/s")
}

func BenchmarkProposeCommit3Nodes(b *testing.B)         { bench3(b, 1) }
func BenchmarkProposeCommit3NodesBatch100(b *testing.B) { bench3(b, 100) }
