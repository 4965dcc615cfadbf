package transport_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/mesosd/mesosd/master/replog"
	"github.com/mesosd/mesosd/master/transport"
)

var quietRaft = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

var errNotLeader = errors.New("not the leader")

// proposal carries data whose first 16 bytes are a unique hex key (text,
// so the newline-joined snapshot stays splittable); done gets
// nil once the entry is applied on this node, or an error if this node
// could not take it.
type proposal struct {
	data []byte
	done chan error
}

// rnode is one master in miniature: a replog.Log driven by one goroutine
// exactly as the master loop will drive it, over a real Transport served by
// a real HTTP server on loopback. Its state machine is the list of applied
// payloads.
type rnode struct {
	t     testing.TB
	id    uint64
	dir   string
	srv   *server
	peers map[uint64]string
	ids   []uint64
	sync  bool // fsync on
	catch uint64

	tr    *transport.Transport
	log   *replog.Log
	props chan proposal
	snapc chan chan error
	stop  chan struct{}
	done  chan struct{}

	waiters map[string]chan error // loop-owned

	mu       sync.Mutex // guards the fields below, read by the test
	data     []string
	lastIdx  uint64
	restores int
	st       replog.Status
	err      error
}

func (n *rnode) apply(ents []*raftpb.Entry) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range ents {
		if e.GetIndex() <= n.lastIdx {
			return fmt.Errorf("node %d: entry %d applied after %d", n.id, e.GetIndex(), n.lastIdx)
		}
		n.lastIdx = e.GetIndex()
		if e.GetType() != raftpb.EntryNormal {
			continue
		}
		d := e.GetData()
		n.data = append(n.data, string(d))
		if w := n.waiters[keyOf(d)]; w != nil {
			w <- nil
			delete(n.waiters, keyOf(d))
		}
	}
	return nil
}

func (n *rnode) restore(index uint64, data []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.data = nil
	if len(data) > 0 {
		n.data = strings.Split(string(data), "\n")
	}
	n.lastIdx = index
	n.restores++
	return nil
}

func (n *rnode) snapshotData() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return []byte(strings.Join(n.data, "\n"))
}

// start opens the log on n.dir (bootstrapping it the first time), builds a
// transport and serves it, and starts the loop.
func (n *rnode) start() {
	t := n.t
	t.Helper()
	l, err := replog.Open(replog.Config{
		Dir: n.dir, ID: n.id, Peers: n.ids,
		ElectionTick: 10, HeartbeatTick: 1,
		Logger:                 quietRaft,
		Restore:                n.restore,
		SnapshotCatchUpEntries: n.catch,
		NoSync:                 !n.sync,
	})
	if err != nil {
		t.Fatalf("node %d: %v", n.id, err)
	}
	idx, data := l.SnapshotData()
	_ = n.restore(idx, data)
	n.mu.Lock()
	n.restores = 0 // the boot restore is not a leader-sent snapshot
	n.st = replog.Status{}
	n.mu.Unlock()
	n.log = l
	tr, err := transport.New(fastConfig(n.id, n.peers))
	if err != nil {
		t.Fatal(err)
	}
	n.tr = tr
	n.srv.sw.set(tr.Handler())
	n.props = make(chan proposal, 1024)
	n.snapc = make(chan chan error)
	n.stop = make(chan struct{})
	n.done = make(chan struct{})
	n.waiters = map[string]chan error{}
	go n.run()
}

// halt stops the loop, the transport and the log, like a master exiting.
func (n *rnode) halt() {
	if n.stop == nil {
		return
	}
	close(n.stop)
	<-n.done
	n.srv.sw.set(nil)
	_ = n.tr.Close()
	if err := n.log.Close(); err != nil {
		n.t.Errorf("node %d: close log: %v", n.id, err)
	}
	n.stop = nil
}

// run is the master loop in miniature; see the report for the real one.
func (n *rnode) run() {
	defer close(n.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
			n.log.Tick()
		case m := <-n.tr.Received():
			_ = n.log.Step(m) // errors are stale or foreign messages
		case id := <-n.tr.Unreachable():
			n.log.ReportUnreachable(id)
		case r := <-n.tr.SnapshotStatus():
			st := raft.SnapshotFinish
			if r.Failed {
				st = raft.SnapshotFailure
			}
			n.log.ReportSnapshot(r.ID, st)
		case p := <-n.props:
			n.propose(p)
		case reply := <-n.snapc:
			reply <- n.log.Snapshot(n.log.Applied(), n.snapshotData())
		}
		// Take everything already waiting before the next Ready, so one
		// fsync covers many proposals and acknowledgements.
	drain:
		for range 512 {
			select {
			case m := <-n.tr.Received():
				_ = n.log.Step(m)
			case p := <-n.props:
				n.propose(p)
			default:
				break drain
			}
		}
		for n.log.HasReady() {
			st, err := n.log.Process(n.tr.Send, n.apply)
			if err != nil {
				n.mu.Lock()
				n.err = err
				n.mu.Unlock()
				return
			}
			if st.SnapshotNeeded {
				_ = n.log.Snapshot(st.Applied, n.snapshotData())
			}
			if !st.IsLeader() && len(n.waiters) > 0 {
				for k, w := range n.waiters {
					w <- errNotLeader
					delete(n.waiters, k)
				}
			}
			n.mu.Lock()
			n.st = st
			n.mu.Unlock()
		}
	}
}

func (n *rnode) propose(p proposal) {
	if !n.log.IsLeader() {
		p.done <- errNotLeader
		return
	}
	n.waiters[keyOf(p.data)] = p.done
	if err := n.log.Propose(p.data); err != nil {
		delete(n.waiters, keyOf(p.data))
		p.done <- err
	}
}

func (n *rnode) status() (replog.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st, n.err
}

func (n *rnode) snapshot() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.data)
}

type rcluster struct {
	t     testing.TB
	nodes map[uint64]*rnode
	key   uint64 // next proposal key
}

func newRCluster(t testing.TB, size int, fsync bool, catchUp uint64) *rcluster {
	t.Helper()
	c := &rcluster{t: t, nodes: map[uint64]*rnode{}}
	srvs := map[uint64]*server{}
	var ids []uint64
	for i := uint64(1); i <= uint64(size); i++ {
		srvs[i] = newServer(t)
		ids = append(ids, i)
	}
	base := t.TempDir()
	for id, s := range srvs {
		c.nodes[id] = &rnode{
			t: t, id: id, dir: filepath.Join(base, fmt.Sprint(id)), srv: s,
			peers: peersOf(srvs), ids: ids, sync: fsync, catch: catchUp,
		}
	}
	for _, n := range c.nodes {
		n.start()
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.halt()
		}
	})
	return c
}

// leader waits until the running nodes agree on a leader among them.
func (c *rcluster) leader(d time.Duration) *rnode {
	c.t.Helper()
	var lead *rnode
	waitFor(c.t, d, "a leader", func() bool {
		lead = nil
		var seen uint64
		for _, n := range c.nodes {
			if n.stop == nil {
				continue
			}
			st, err := n.status()
			if err != nil {
				c.t.Fatalf("node %d failed: %v", n.id, err)
			}
			if st.Leader == 0 || (seen != 0 && st.Leader != seen) {
				return false
			}
			seen = st.Leader
			if st.IsLeader() && st.LeaderReady() {
				lead = n
			}
		}
		return lead != nil && lead.id == seen
	})
	return lead
}

// payload builds a proposal: a 16-byte hex key then filler up to size.
func (c *rcluster) payload(size int) []byte {
	c.key++
	b := []byte(fmt.Sprintf("%016x", c.key))
	for len(b) < size {
		b = append(b, '.')
	}
	return b
}

func keyOf(d []byte) string { return string(d[:16]) }

// proposeAll pipelines count proposals to the leader and waits for all.
func (c *rcluster) proposeAll(lead *rnode, count int) {
	c.t.Helper()
	dones := make([]chan error, count)
	for i := range dones {
		dones[i] = make(chan error, 1)
		lead.props <- proposal{data: c.payload(16), done: dones[i]}
	}
	timeout := time.After(30 * time.Second)
	for i, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				c.t.Fatalf("proposal %d on leader %d: %v", i, lead.id, err)
			}
		case <-timeout:
			c.t.Fatalf("proposal %d on leader %d not applied in time", i, lead.id)
		}
	}
}

// converge waits until every running node has applied the same data as
// the leader, and returns it.
func (c *rcluster) converge(lead *rnode, d time.Duration) []string {
	c.t.Helper()
	var want []string
	defer func() {
		if c.t.Failed() {
			for _, n := range c.nodes {
				st, err := n.status()
				n.mu.Lock()
				c.t.Logf("node %d: up=%v %+v err=%v data=%d restores=%d", n.id, n.stop != nil, st, err, len(n.data), n.restores)
				n.mu.Unlock()
				if n.stop != nil {
					c.t.Logf("  transport: %s", describe(n.tr.Stats()))
				}
			}
		}
	}()
	waitFor(c.t, d, "all nodes to apply the same log", func() bool {
		want = lead.snapshot()
		for _, n := range c.nodes {
			if n.stop != nil && !slices.Equal(n.snapshot(), want) {
				return false
			}
		}
		return true
	})
	return want
}

func TestRaftOverTransport(t *testing.T) {
	checkLeaks(t)
	if testing.Short() {
		t.Skip("real raft cluster over loopback HTTP")
	}
	c := newRCluster(t, 3, false, 50)
	lead := c.leader(10 * time.Second)
	t.Logf("leader %d", lead.id)

	c.proposeAll(lead, 1000)
	data := c.converge(lead, 10*time.Second)
	if len(data) != 1000 {
		t.Fatalf("applied %d entries, want 1000", len(data))
	}

	// Kill the leader: a new one is elected and commits continue.
	old := lead
	old.halt()
	lead = c.leader(10 * time.Second)
	if lead == old {
		t.Fatal("stopped node still leads")
	}
	t.Logf("new leader %d", lead.id)
	c.proposeAll(lead, 500)
	c.converge(lead, 10*time.Second)

	// The survivors snapshot and compact past everything the old node
	// has, so it can only catch up by snapshot.
	for _, n := range c.nodes {
		if n.stop == nil {
			continue
		}
		reply := make(chan error)
		n.snapc <- reply
		if err := <-reply; err != nil {
			t.Fatalf("node %d snapshot: %v", n.id, err)
		}
	}
	c.proposeAll(lead, 100)

	old.start()
	c.proposeAll(lead, 100)
	data = c.converge(lead, 20*time.Second)
	if len(data) != 1700 {
		t.Fatalf("applied %d entries, want 1700", len(data))
	}
	old.mu.Lock()
	restores := old.restores
	old.mu.Unlock()
	if restores == 0 {
		t.Fatal("restarted node caught up without a snapshot; compaction did not cut its log")
	}
	for i, d := range data {
		if want := fmt.Sprintf("%016x", i+1); keyOf([]byte(d)) != want {
			t.Fatalf("entry %d has key %q, want %s (lost or duplicated)", i, keyOf([]byte(d)), want)
		}
	}
	ls := lead.tr.Stats()
	if p := ls.Peers[old.id]; p.SnapshotsSent == 0 {
		t.Errorf("leader stats for restarted peer: %+v", p)
	}
}
