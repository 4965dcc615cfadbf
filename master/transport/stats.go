package transport

import (
	"strconv"
	"sync/atomic"
)

type counter = atomic.Uint64

// outCounters are a peer's outbound counters.
type outCounters struct {
	sent, dropped        counter
	connects, reconnects counter
	dialFailures         counter
	snapSent, snapFailed counter
	connected            atomic.Bool
}

// inCounters are the inbound counters for one sender. They outlive the
// peer's removal so a metric never goes backwards.
type inCounters struct {
	received, dropped, rejected counter
	streams                     counter // open inbound streams
}

// PeerStats are the counters for one peer since New.
type PeerStats struct {
	Addr string
	// Connected: the outbound stream is up.
	Connected bool
	// Sent counts messages written to the stream or accepted by a
	// one-shot POST; Dropped those discarded (queue full, peer down,
	// failed write).
	Sent, Dropped uint64
	// Reconnects counts streams opened after the first one;
	// DialFailures failed attempts to open one.
	Reconnects, DialFailures uint64
	// SnapshotsSent / SnapshotsFailed count MsgSnap outcomes.
	SnapshotsSent, SnapshotsFailed uint64
	// Received counts messages from this peer handed to Received;
	// ReceiveDropped those dropped because Received was full (or, for
	// one-shot messages, stayed full past DeliverTimeout); Rejected
	// requests or records refused as malformed or oversized.
	Received, ReceiveDropped, Rejected uint64
	// InboundStreams is the number of open streams from this peer
	// (normally 0 or 1).
	InboundStreams uint64
}

// Stats is a snapshot of the transport's counters.
type Stats struct {
	// Peers are keyed by raft ID: current peers, plus senders seen
	// earlier (inbound counters only, Addr empty).
	Peers map[uint64]PeerStats
	// UnknownPeerDropped counts messages Send got for IDs not in the peer
	// list; Rejected inbound requests refused before a sender was known
	// (wrong cluster, wrong target, unknown sender, bad headers);
	// MarshalErrors messages Send could not encode.
	UnknownPeerDropped, Rejected, MarshalErrors uint64
}

// Stats returns the current counters.
func (t *Transport) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Stats{
		Peers:              make(map[uint64]PeerStats, len(t.peers)),
		UnknownPeerDropped: t.unknown.Load(),
		Rejected:           t.rejected.Load(),
		MarshalErrors:      t.badMsgs.Load(),
	}
	for id, p := range t.peers {
		s.Peers[id] = PeerStats{
			Addr:            *p.addr.Load(),
			Connected:       p.st.connected.Load(),
			Sent:            p.st.sent.Load(),
			Dropped:         p.st.dropped.Load(),
			Reconnects:      p.st.reconnects.Load(),
			DialFailures:    p.st.dialFailures.Load(),
			SnapshotsSent:   p.st.snapSent.Load(),
			SnapshotsFailed: p.st.snapFailed.Load(),
		}
	}
	for id, in := range t.inbound {
		ps := s.Peers[id]
		ps.Received = in.received.Load()
		ps.ReceiveDropped = in.dropped.Load()
		ps.Rejected = in.rejected.Load()
		ps.InboundStreams = in.streams.Load()
		s.Peers[id] = ps
	}
	return s
}

// Metrics flattens s for /metrics/snapshot, keys under prefix (for example
// "master/raft_transport/"): "<prefix>peer/<id>/sent" and so on.
func (s Stats) Metrics(prefix string) map[string]float64 {
	out := map[string]float64{
		prefix + "unknown_peer_dropped": float64(s.UnknownPeerDropped),
		prefix + "rejected":             float64(s.Rejected),
		prefix + "marshal_errors":       float64(s.MarshalErrors),
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for id, p := range s.Peers {
		k := prefix + "peer/" + strconv.FormatUint(id, 10) + "/"
		out[k+"connected"] = b2f(p.Connected)
		out[k+"sent"] = float64(p.Sent)
		out[k+"dropped"] = float64(p.Dropped)
		out[k+"reconnects"] = float64(p.Reconnects)
		out[k+"dial_failures"] = float64(p.DialFailures)
		out[k+"snapshots_sent"] = float64(p.SnapshotsSent)
		out[k+"snapshots_failed"] = float64(p.SnapshotsFailed)
		out[k+"received"] = float64(p.Received)
		out[k+"receive_dropped"] = float64(p.ReceiveDropped)
		out[k+"rejected"] = float64(p.Rejected)
		out[k+"inbound_streams"] = float64(p.InboundStreams)
	}
	return out
}
