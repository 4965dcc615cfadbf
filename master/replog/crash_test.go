package replog_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/mesosd/mesosd/master/replog"
	"github.com/mesosd/mesosd/master/replog/walstore"
)

var errCrash = errors.New("test: crash between early sends and persist")

// TestClusterLeaderCrashesAfterEarlySend exercises the one new behaviour of
// Process: a leader sends its appends before its own fsync. Here it dies in
// between (the Ready is never saved), with the appends reaching none, one or
// both followers, and restarts from its store right away, so it competes in
// the next election with a log shorter than what it sent. Whatever wins,
// nothing committed before the crash is lost, the entries a quorum stored
// survive, the entries no quorum stored are never applied anywhere, every
// node ends with the same applied sequence, and each node's earlier applied
// sequence is a prefix of it (no conflicting commits). The harness also
// checks one leader per term, so the restarted node never leads its old
// term again.
//
// Elections are randomized inside raft, so each case runs several times.
func TestClusterLeaderCrashesAfterEarlySend(t *testing.T) {
	for reach := range 3 {
		t.Run(fmt.Sprintf("reaches%d", reach), func(t *testing.T) {
			for i := range 8 {
				crashAfterEarlySend(t, reach, i)
			}
		})
	}
}

func crashAfterEarlySend(t *testing.T, reach, round int) {
	// The crash is simulated above the disk (Save never runs), so fsync
	// would only add time.
	c := newCluster(t, 3, func(cfg *replog.Config) { cfg.NoSync = true })
	lead := c.elect()
	before := payloads(fmt.Sprintf("r%d-before", round), 3)
	for _, d := range before {
		c.propose(lead, d)
	}
	c.stabilize()
	c.tick(2) // heartbeats carry the commit index to the followers
	c.checkSame(before)
	var followers []uint64
	for _, id := range c.ids {
		if id != lead {
			followers = append(followers, id)
		}
	}
	oldTerm := c.nodes[lead].log.Term()

	// The leader proposes lost, sends its MsgApps, and dies before Save.
	ln := c.nodes[lead]
	lost := payloads(fmt.Sprintf("r%d-lost", round), 3)
	for _, d := range lost {
		c.propose(lead, d)
	}
	replog.SetBeforePersist(ln.log, func() error { return errCrash })
	if _, err := ln.log.Process(c.send, ln.fsm.apply); !errors.Is(err, errCrash) || !errors.Is(err, replog.ErrFailed) {
		t.Fatalf("Process with crash hook = %v, want ErrFailed wrapping the crash", err)
	}
	firstLost := checkEarlyAppends(t, c.queue, lead, followers, lost)
	c.stop(lead) // failed Log: Close must not write anything either
	if last := lastStoredIndex(t, ln); last >= firstLost {
		t.Fatalf("crashed leader's store holds index %d >= first unsaved entry %d", last, firstLost)
	}

	// The appends reach `reach` followers; the rest are lost with the leader.
	for _, f := range followers[reach:] {
		c.cut[[2]uint64{lead, f}] = true
	}
	c.deliver()
	c.stabilize() // the reached followers persist and acknowledge a dead node
	c.heal()
	seen := map[uint64][]string{}
	for _, f := range followers {
		seen[f] = slices.Clone(c.nodes[f].fsm.data)
	}

	c.start(ln)
	if got := ln.log.Term(); got < oldTerm {
		t.Fatalf("restarted leader at term %d, had %d durably", got, oldTerm)
	}
	newLead := c.elect()
	if c.nodes[newLead].log.Term() <= oldTerm {
		t.Fatalf("new leader %d in term %d, crashed leader's term was %d", newLead, c.nodes[newLead].log.Term(), oldTerm)
	}
	after := fmt.Sprintf("r%d-after", round)
	c.propose(newLead, after)
	c.stabilize()
	c.tick(2)

	got := c.nodes[newLead].fsm.data
	withLost := slices.Concat(before, lost, []string{after})
	withoutLost := append(slices.Clone(before), after)
	switch {
	case reach == 2 && !slices.Equal(got, withLost):
		// Both followers stored them: a quorum, hence committed.
		t.Fatalf("reach 2: applied %q, want %q (entries a quorum stored were lost)", got, withLost)
	case reach == 0 && !slices.Equal(got, withoutLost):
		t.Fatalf("reach 0: applied %q, want %q (entries nobody stored were applied)", got, withoutLost)
	case !slices.Equal(got, withLost) && !slices.Equal(got, withoutLost):
		t.Fatalf("applied %q, want %q or %q", got, withLost, withoutLost)
	}
	t.Logf("round %d: leader %d crashed in term %d, node %d leads term %d, lost entries kept: %v",
		round, lead, oldTerm, newLead, c.nodes[newLead].log.Term(), len(got) == len(withLost))
	c.checkSame(got)
	for f, s := range seen {
		if !slices.Equal(s, got[:min(len(s), len(got))]) || len(s) > len(got) {
			t.Fatalf("node %d applied %q before recovery, not a prefix of %q", f, s, got)
		}
	}
	for _, nd := range c.nodes {
		_ = nd.log.Close()
		nd.up = false
	}
}

// checkEarlyAppends asserts that the failed Process had already queued, for
// every follower, a MsgApp carrying all of lost (the early send), and
// returns the index of the first lost entry.
func checkEarlyAppends(t *testing.T, queue []*raftpb.Message, lead uint64, followers []uint64, lost []string) uint64 {
	t.Helper()
	var first uint64
	for _, f := range followers {
		var got []string
		for _, m := range queue {
			if m.GetFrom() != lead || m.GetTo() != f || m.GetType() != raftpb.MsgApp {
				continue
			}
			for _, e := range m.GetEntries() {
				if len(e.GetData()) > 0 {
					got = append(got, string(e.GetData()))
					if first == 0 || e.GetIndex() < first {
						first = e.GetIndex()
					}
				}
			}
		}
		if !slices.Equal(got, lost) {
			t.Fatalf("before persisting, the leader sent node %d entries %q, want %q", f, got, lost)
		}
	}
	return first
}

// lastStoredIndex reads the last log index straight from a stopped node's
// store.
func lastStoredIndex(t *testing.T, nd *node) uint64 {
	t.Helper()
	st, err := walstore.Open(nd.dir, nd.id, walstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last, err := st.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return last
}
