package replog_test

import (
	"fmt"
	"io"
	"log"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/replog"
)

// quiet keeps raft's election chatter out of test output.
var quiet = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

// fsm is a toy state machine: the ordered list of applied payloads. Its
// snapshot is the list joined by newlines.
type fsm struct {
	t        testing.TB
	name     string
	data     []string
	lastIdx  uint64   // index of the last entry applied, to check order
	restores []uint64 // snapshot indexes restored from the leader
}

func (f *fsm) apply(ents []*raftpb.Entry) error {
	for _, e := range ents {
		if e.GetIndex() <= f.lastIdx {
			f.t.Fatalf("%s: entry %d applied after %d (not in order or twice)", f.name, e.GetIndex(), f.lastIdx)
		}
		f.lastIdx = e.GetIndex()
		if e.GetType() == raftpb.EntryNormal {
			f.data = append(f.data, string(e.GetData()))
		}
	}
	return nil
}

func (f *fsm) restore(index uint64, data []byte) error {
	f.restores = append(f.restores, index)
	f.data = nil
	if len(data) > 0 {
		f.data = strings.Split(string(data), "\n")
	}
	f.lastIdx = index
	return nil
}

func (f *fsm) snapshot() []byte { return []byte(strings.Join(f.data, "\n")) }

// node is one cluster member: its directory survives restarts.
type node struct {
	id  uint64
	dir string
	cfg replog.Config
	log *replog.Log
	fsm *fsm
	up  bool
}

// cluster is an in-process raft cluster with hand-delivered messages and
// explicit ticks: nothing depends on the wall clock. raft randomizes
// election timeouts internally, so tests assert outcomes (one leader per
// term, identical logs) rather than which node wins.
type cluster struct {
	t       testing.TB
	nodes   map[uint64]*node
	ids     []uint64
	queue   []*raftpb.Message
	cut     map[[2]uint64]bool // directed links that drop messages
	leaders map[uint64]uint64  // term -> leader seen in that term
}

func newCluster(t testing.TB, n int, tweak func(*replog.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, nodes: map[uint64]*node{}, cut: map[[2]uint64]bool{}, leaders: map[uint64]uint64{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	base := t.TempDir()
	for _, id := range c.ids {
		nd := &node{id: id, dir: filepath.Join(base, fmt.Sprint(id))}
		nd.cfg = replog.Config{
			Dir: nd.dir, ID: id, Peers: c.ids,
			ElectionTick: 10, HeartbeatTick: 1, Logger: quiet,
		}
		if tweak != nil {
			tweak(&nd.cfg)
		}
		c.nodes[id] = nd
		c.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.up {
				_ = nd.log.Close()
			}
		}
	})
	return c
}

// start opens the node's log and restores its state machine from the
// snapshot, as the master does on boot.
func (c *cluster) start(nd *node) {
	c.t.Helper()
	nd.fsm = &fsm{t: c.t, name: fmt.Sprintf("node %d", nd.id)}
	cfg := nd.cfg
	cfg.Restore = func(i uint64, d []byte) error { return nd.fsm.restore(i, d) }
	l, err := replog.Open(cfg)
	if err != nil {
		c.t.Fatalf("open node %d: %v", nd.id, err)
	}
	nd.log = l
	idx, data := l.SnapshotData()
	if err := nd.fsm.restore(idx, data); err != nil {
		c.t.Fatal(err)
	}
	nd.fsm.restores = nil // the boot restore is not a leader-sent snapshot
	nd.up = true
}

// addNode starts a node with an empty store and no Peers: it waits to be
// added by a conf change and then gets a snapshot from the leader.
func (c *cluster) addNode(id uint64) *node {
	c.t.Helper()
	nd := &node{id: id, dir: filepath.Join(c.t.TempDir(), fmt.Sprint(id))}
	nd.cfg = c.nodes[c.ids[0]].cfg
	nd.cfg.Dir, nd.cfg.ID, nd.cfg.Peers = nd.dir, id, nil
	c.nodes[id] = nd
	c.ids = append(c.ids, id)
	c.start(nd)
	return nd
}

func (c *cluster) stop(id uint64) {
	nd := c.nodes[id]
	if err := nd.log.Close(); err != nil {
		c.t.Fatalf("close node %d: %v", id, err)
	}
	nd.up = false
}

func (c *cluster) restart(id uint64) {
	c.stop(id)
	c.start(c.nodes[id])
}

// isolate cuts id off from every other node, both directions.
func (c *cluster) isolate(id uint64) {
	for _, o := range c.ids {
		if o != id {
			c.cut[[2]uint64{id, o}] = true
			c.cut[[2]uint64{o, id}] = true
		}
	}
}

func (c *cluster) heal() { clear(c.cut) }

func (c *cluster) send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		// Copy, as a real transport marshals: the receiver must not share
		// memory with the sender's log.
		c.queue = append(c.queue, proto.CloneOf(m))
	}
}

// process runs every ready node until none has a Ready left.
func (c *cluster) process() {
	c.t.Helper()
	for _, id := range c.ids {
		nd := c.nodes[id]
		for nd.up && nd.log.HasReady() {
			st, err := nd.log.Process(c.send, nd.fsm.apply)
			if err != nil {
				c.t.Fatalf("node %d: Process: %v", id, err)
			}
			if st.SnapshotNeeded {
				if err := nd.log.Snapshot(st.Applied, nd.fsm.snapshot()); err != nil {
					c.t.Fatalf("node %d: Snapshot: %v", id, err)
				}
			}
			if st.IsLeader() {
				if prev, ok := c.leaders[st.Term]; ok && prev != id {
					c.t.Fatalf("two leaders in term %d: %d and %d", st.Term, prev, id)
				}
				c.leaders[st.Term] = id
			}
		}
	}
}

// deliver hands every queued message to its recipient (or drops it).
func (c *cluster) deliver() {
	q := c.queue
	c.queue = nil
	for _, m := range q {
		from, to := m.GetFrom(), m.GetTo()
		dst := c.nodes[to]
		dropped := dst == nil || !dst.up || c.cut[[2]uint64{from, to}]
		if !dropped {
			_ = dst.log.Step(m) // stale/unknown-peer messages are expected
		}
		if m.GetType() == raftpb.MsgSnap {
			if src := c.nodes[from]; src.up {
				status := raft.SnapshotFinish
				if dropped {
					status = raft.SnapshotFailure
				}
				src.log.ReportSnapshot(to, status)
			}
		}
	}
}

// stabilize processes and delivers until the cluster is quiet.
func (c *cluster) stabilize() {
	c.t.Helper()
	for range 10000 {
		c.process()
		if len(c.queue) == 0 {
			return
		}
		c.deliver()
	}
	c.t.Fatal("cluster did not stabilize")
}

// tick advances every live node's clock n times, stabilizing after each.
func (c *cluster) tick(n int) {
	c.t.Helper()
	for range n {
		for _, id := range c.ids {
			if nd := c.nodes[id]; nd.up {
				nd.log.Tick()
			}
		}
		c.stabilize()
	}
}

// leader returns the leader the live nodes agree on, or 0.
func (c *cluster) leader() uint64 {
	var lead uint64
	for _, id := range c.ids {
		nd := c.nodes[id]
		if !nd.up {
			continue
		}
		if nd.log.IsLeader() {
			if lead != 0 {
				return 0
			}
			lead = id
		}
	}
	return lead
}

// elect ticks until there is a leader (bounded) and returns it.
func (c *cluster) elect() uint64 {
	c.t.Helper()
	for range 100 {
		if l := c.leader(); l != 0 {
			return l
		}
		c.tick(1)
	}
	c.t.Fatal("no leader elected")
	return 0
}

func (c *cluster) propose(id uint64, data string) {
	c.t.Helper()
	if err := c.nodes[id].log.Propose([]byte(data)); err != nil {
		c.t.Fatalf("node %d: propose %q: %v", id, data, err)
	}
}

// checkSame asserts every live node applied the same payloads.
func (c *cluster) checkSame(want []string) {
	c.t.Helper()
	for _, id := range c.ids {
		nd := c.nodes[id]
		if !nd.up {
			continue
		}
		if !slices.Equal(nd.fsm.data, want) {
			c.t.Fatalf("node %d applied %d entries %q..., want %d", id, len(nd.fsm.data), head(nd.fsm.data), len(want))
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func payloads(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}
