package transport_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/master/transport"
)

// Three transports send each other numbered messages in many small Send
// calls; every receiver sees each sender's messages complete and in order.
func TestExchangeInOrder(t *testing.T) {
	checkLeaks(t)
	const n = 2000
	srvs := map[uint64]*server{1: newServer(t), 2: newServer(t), 3: newServer(t)}
	trs := map[uint64]*transport.Transport{}
	for id, s := range srvs {
		trs[id] = newTransport(t, fastConfig(id, peersOf(srvs)), s)
	}
	waitConnected(t, trs[1], trs[2], trs[3])
	var wg sync.WaitGroup
	got := map[uint64]map[uint64][]uint64{} // receiver -> sender -> indexes
	for id, tr := range trs {
		got[id] = map[uint64][]uint64{}
		wg.Go(func() {
			timeout := time.After(20 * time.Second)
			for total := 0; total < 2*n; total++ {
				select {
				case m := <-tr.Received():
					got[id][m.GetFrom()] = append(got[id][m.GetFrom()], m.GetIndex())
				case <-timeout:
					t.Errorf("receiver %d: timed out after %d messages; stats %s", id, total, describe(tr.Stats()))
					return
				}
			}
		})
	}
	for i := uint64(1); i <= n; i += 10 {
		for id, tr := range trs {
			var batch []*raftpb.Message
			for j := i; j < i+10; j++ {
				for to := range trs {
					if to != id {
						batch = append(batch, msg(raftpb.MessageType_MsgApp, id, to, j))
					}
				}
			}
			tr.Send(batch)
		}
		time.Sleep(100 * time.Microsecond) // stay under the queue bound
	}
	wg.Wait()
	for rcv, bySender := range got {
		for snd, idx := range bySender {
			if len(idx) != n {
				t.Errorf("%d got %d messages from %d, want %d", rcv, len(idx), snd, n)
			}
			for k, v := range idx {
				if v != uint64(k+1) {
					t.Fatalf("%d from %d: message %d has index %d (out of order)", rcv, snd, k, v)
				}
			}
		}
	}
	st := trs[1].Stats()
	if p := st.Peers[2]; p.Sent != n || p.Received != n || p.Dropped != 0 || !p.Connected {
		t.Errorf("stats of 1 for peer 2: %+v", p)
	}
	m := st.Metrics("master/raft_transport/")
	if m["master/raft_transport/peer/3/sent"] != n {
		t.Errorf("metrics: %v", m)
	}
}

// Dropping the connection makes the sender redial; delivery resumes.
func TestReconnectAfterDroppedConnection(t *testing.T) {
	checkLeaks(t)
	s1, s2 := newServer(t), newServer(t)
	peers := map[uint64]string{1: s1.addr, 2: s2.addr}
	a := newTransport(t, fastConfig(1, peers), s1)
	b := newTransport(t, fastConfig(2, peers), s2)

	deliver := func(idx uint64) bool {
		a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 1, 2, idx)})
		timeout := time.After(50 * time.Millisecond)
		for {
			select {
			case m := <-b.Received():
				if m.GetIndex() == idx {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	waitFor(t, 5*time.Second, "first delivery", func() bool { return deliver(1) })
	s2.CloseClientConnections()
	i := uint64(100)
	waitFor(t, 5*time.Second, "delivery after reconnect", func() bool {
		i++
		return a.Stats().Peers[2].Reconnects >= 1 && deliver(i)
	})
	// Messages sent after the reconnect all arrive, in order.
	for j := range uint64(50) {
		a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 1000+j)})
	}
	for j := range uint64(50) {
		select {
		case m := <-b.Received():
			if m.GetIndex() != 1000+j {
				t.Fatalf("after reconnect got index %d, want %d", m.GetIndex(), 1000+j)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not delivered after reconnect", j)
		}
	}
}

// A peer that is down is reported unreachable, Send stays fast, and what
// cannot be sent is dropped and counted.
func TestPeerDownReportedUnreachable(t *testing.T) {
	checkLeaks(t)
	cfg := fastConfig(1, map[uint64]string{2: deadAddr(t)})
	cfg.QueueSize = 16
	a := newTransport(t, cfg, nil)
	start := time.Now()
	for i := range uint64(10000) {
		a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgApp, 1, 2, i)})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10000 Sends to a dead peer took %v", d)
	}
	select {
	case id := <-a.Unreachable():
		if id != 2 {
			t.Fatalf("unreachable %d, want 2", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead peer never reported unreachable")
	}
	waitFor(t, 5*time.Second, "dial failures counted", func() bool {
		p := a.Stats().Peers[2]
		return p.DialFailures > 0 && p.Dropped > 0 && !p.Connected
	})
}

// A peer that takes the stream but stops reading fills the TCP buffers and
// then the queue: Send drops instead of blocking.
func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	checkLeaks(t)
	release := make(chan struct{})
	var stuck sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc(transport.StreamPath, func(w http.ResponseWriter, r *http.Request) {
		stuck.Add(1)
		defer stuck.Done()
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		<-release // never read the body
	})
	srv := &server{sw: &swapHandler{}}
	srv.Server = newRawServer(t, mux)
	srv.addr = srv.Listener.Addr().String()

	cfg := fastConfig(1, map[uint64]string{2: srv.addr})
	cfg.QueueSize = 8
	cfg.WriteTimeout = time.Minute // the write must block, not time out
	a := newTransport(t, cfg, nil)
	waitFor(t, 5*time.Second, "stream up", func() bool { return a.Stats().Peers[2].Connected })

	big := bytes.Repeat([]byte("x"), 64<<10)
	start := time.Now()
	for i := range uint64(1000) { // 64 MB: far more than the socket buffers
		m := msg(raftpb.MessageType_MsgApp, 1, 2, i)
		m.Entries = []*raftpb.Entry{{Data: big}}
		a.Send([]*raftpb.Message{m})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send blocked: 1000 sends took %v", d)
	}
	if p := a.Stats().Peers[2]; p.Dropped == 0 {
		t.Errorf("nothing dropped with a stuck peer: %+v", p)
	}
	select {
	case <-a.Unreachable():
	default:
		t.Error("full queue not reported unreachable")
	}
	close(release)
	_ = a.Close()
	stuck.Wait()
}

// A master of another cluster is refused with 403 and never delivers.
func TestWrongClusterRejected(t *testing.T) {
	checkLeaks(t)
	s1, s2 := newServer(t), newServer(t)
	peers := map[uint64]string{1: s1.addr, 2: s2.addr}
	cfgA := fastConfig(1, peers)
	cfgA.ClusterID = "other-cluster"
	a := newTransport(t, cfgA, s1)
	b := newTransport(t, fastConfig(2, peers), s2)

	a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 1)})
	waitFor(t, 5*time.Second, "refusals", func() bool {
		return b.Stats().Rejected > 0 && a.Stats().Peers[2].DialFailures > 0
	})
	select {
	case m := <-b.Received():
		t.Fatalf("message from another cluster delivered: %v", m)
	case <-time.After(100 * time.Millisecond):
	}

	// The same by hand, to see the status and reason.
	post := func(cluster, from, to string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s2.addr+transport.SnapshotPath, strings.NewReader("x"))
		req.Header.Set(transport.HeaderClusterID, cluster)
		req.Header.Set(transport.HeaderFrom, from)
		req.Header.Set(transport.HeaderTo, to)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String()
	}
	if code, body := post("other-cluster", "1", "2"); code != http.StatusForbidden || !strings.Contains(body, "cluster") {
		t.Errorf("wrong cluster: %d %q", code, body)
	}
	if code, body := post("test-cluster", "9", "2"); code != http.StatusForbidden || !strings.Contains(body, "not a peer") {
		t.Errorf("unknown sender: %d %q", code, body)
	}
	if code, body := post("test-cluster", "1", "3"); code != http.StatusForbidden || !strings.Contains(body, "addressed to") {
		t.Errorf("wrong target: %d %q", code, body)
	}
	if code, _ := post("test-cluster", "1", "2"); code != http.StatusBadRequest {
		t.Errorf("garbage body: %d, want 400", code)
	}
	http.DefaultClient.CloseIdleConnections()
}

// AllowUnknownPeers admits a sender that is not in the peer list.
func TestAllowUnknownPeers(t *testing.T) {
	checkLeaks(t)
	s2 := newServer(t)
	cfgB := fastConfig(2, nil)
	cfgB.AllowUnknownPeers = true
	b := newTransport(t, cfgB, s2)
	a := newTransport(t, fastConfig(7, map[uint64]string{2: s2.addr}), nil)
	a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 7, 2, 1)})
	select {
	case m := <-b.Received():
		if m.GetFrom() != 7 {
			t.Fatalf("got %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
}

// A 5 MiB snapshot goes over the one-shot path while heartbeats keep
// flowing, arrives intact and is reported finished; to a dead peer it is
// reported failed.
func TestSnapshot(t *testing.T) {
	checkLeaks(t)
	s1, s2 := newServer(t), newServer(t)
	dead := deadAddr(t)
	peers := map[uint64]string{1: s1.addr, 2: s2.addr, 3: dead}
	a := newTransport(t, fastConfig(1, peers), s1)
	b := newTransport(t, fastConfig(2, peers), s2)
	waitFor(t, 5*time.Second, "stream up", func() bool { return a.Stats().Peers[2].Connected })

	data := bytes.Repeat([]byte("snapshot"), (5<<20)/8)
	snap := func(to uint64) *raftpb.Message {
		m := msg(raftpb.MessageType_MsgSnap, 1, to, 0)
		m.Snapshot = &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(4242), Term: proto.Uint64(3), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		}}
		return m
	}
	a.Send([]*raftpb.Message{snap(2), msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 7)})
	var gotSnap, gotHB bool
	for !gotSnap || !gotHB {
		select {
		case m := <-b.Received():
			switch m.GetType() {
			case raftpb.MessageType_MsgSnap:
				gotSnap = true
				if !bytes.Equal(m.GetSnapshot().GetData(), data) || m.GetSnapshot().GetMetadata().GetIndex() != 4242 {
					t.Fatalf("snapshot corrupted: %d bytes, index %d", len(m.GetSnapshot().GetData()), m.GetSnapshot().GetMetadata().GetIndex())
				}
			case raftpb.MessageType_MsgHeartbeat:
				gotHB = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("snapshot %v heartbeat %v", gotSnap, gotHB)
		}
	}
	select {
	case r := <-a.SnapshotStatus():
		if r != (transport.SnapshotReport{ID: 2, Failed: false}) {
			t.Fatalf("report %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot report")
	}

	a.Send([]*raftpb.Message{snap(3)})
	select {
	case r := <-a.SnapshotStatus():
		if r != (transport.SnapshotReport{ID: 3, Failed: true}) {
			t.Fatalf("report %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failure report for a dead peer")
	}
	// A snapshot for a peer not in the list is reported failed too.
	a.Send([]*raftpb.Message{snap(4)})
	select {
	case r := <-a.SnapshotStatus():
		if r != (transport.SnapshotReport{ID: 4, Failed: true}) {
			t.Fatalf("report %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failure report for an unknown peer")
	}
	st := a.Stats()
	if st.Peers[2].SnapshotsSent != 1 || st.Peers[3].SnapshotsFailed != 1 || st.UnknownPeerDropped != 1 {
		t.Errorf("stats %s unknown=%d", describe(st), st.UnknownPeerDropped)
	}
}

// Size limits: a message over MaxMessageSize takes the one-shot path; one
// over the receiver's MaxSnapshotSize is refused and, for a snapshot,
// reported failed.
func TestSizeLimits(t *testing.T) {
	checkLeaks(t)
	s1, s2 := newServer(t), newServer(t)
	peers := map[uint64]string{1: s1.addr, 2: s2.addr}
	cfgA := fastConfig(1, peers)
	cfgA.MaxMessageSize = 1 << 10
	a := newTransport(t, cfgA, s1)
	cfgB := fastConfig(2, peers)
	cfgB.MaxSnapshotSize = 64 << 10
	b := newTransport(t, cfgB, s2)

	m := msg(raftpb.MessageType_MsgApp, 1, 2, 5)
	m.Entries = []*raftpb.Entry{{Data: make([]byte, 8<<10)}}
	a.Send([]*raftpb.Message{m})
	select {
	case got := <-b.Received():
		if got.GetIndex() != 5 || len(got.GetEntries()[0].GetData()) != 8<<10 {
			t.Fatalf("got %v", got.GetIndex())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("oversized append not delivered on the one-shot path")
	}

	s := msg(raftpb.MessageType_MsgSnap, 1, 2, 0)
	s.Snapshot = &raftpb.Snapshot{Data: make([]byte, 128<<10), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(9)}}
	a.Send([]*raftpb.Message{s})
	select {
	case r := <-a.SnapshotStatus():
		if !r.Failed {
			t.Fatalf("oversized snapshot reported %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no report")
	}
	if p := b.Stats().Peers[1]; p.Rejected != 1 {
		t.Errorf("receiver stats %+v", p)
	}
}

// Peers can be added, moved and removed at runtime.
func TestPeerChanges(t *testing.T) {
	checkLeaks(t)
	s1, s2, s3 := newServer(t), newServer(t), newServer(t)
	a := newTransport(t, fastConfig(1, map[uint64]string{1: s1.addr}), s1)
	b := newTransport(t, fastConfig(2, map[uint64]string{1: s1.addr}), s2)
	// 2 moves to s3 later: a second transport with the same ID there.
	b2 := newTransport(t, fastConfig(2, map[uint64]string{1: s1.addr}), s3)

	if len(a.Peers()) != 0 {
		t.Fatalf("self listed as a peer: %v", a.Peers())
	}
	expect := func(rcv *transport.Transport, idx uint64) {
		t.Helper()
		waitFor(t, 5*time.Second, "delivery", func() bool {
			a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 1, 2, idx)})
			select {
			case m := <-rcv.Received():
				return m.GetIndex() == idx
			case <-time.After(20 * time.Millisecond):
				return false
			}
		})
	}
	if err := a.AddPeer(2, s2.addr); err != nil {
		t.Fatal(err)
	}
	expect(b, 1)
	if err := a.UpdatePeer(2, s3.addr); err != nil {
		t.Fatal(err)
	}
	expect(b2, 2)
	a.RemovePeer(2)
	a.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 3)})
	if st := a.Stats(); st.UnknownPeerDropped != 1 {
		t.Errorf("send to removed peer: %d unknown drops", st.UnknownPeerDropped)
	}
	if err := a.AddPeer(0, "x:1"); err == nil {
		t.Error("AddPeer(0) accepted")
	}
	if err := a.AddPeer(3, "no-port"); err == nil {
		t.Error("AddPeer without a port accepted")
	}
}

// Close ends inbound streams it serves and is idempotent; Send after Close
// is a no-op.
func TestCloseStopsEverything(t *testing.T) {
	checkLeaks(t)
	s1, s2 := newServer(t), newServer(t)
	peers := map[uint64]string{1: s1.addr, 2: s2.addr}
	a := newTransport(t, fastConfig(1, peers), s1)
	b := newTransport(t, fastConfig(2, peers), s2)
	waitFor(t, 5*time.Second, "streams up", func() bool {
		return a.Stats().Peers[2].Connected && b.Stats().Peers[1].Connected
	})
	waitFor(t, 5*time.Second, "inbound streams", func() bool {
		return b.Stats().Peers[1].InboundStreams == 1
	})
	done := make(chan struct{})
	go func() {
		_ = b.Close() // must end a's inbound stream handler on s2
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	_ = b.Close()
	b.Send([]*raftpb.Message{msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 1)})
}
