package master

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Linearizable reads. A leader cut off from its peers keeps answering until
// CheckQuorum demotes it (about an election timeout), so a read served from
// its memory could miss writes a new leader already committed. Reads that
// must not be stale first confirm leadership with Raft's ReadIndex: the
// leader learns the commit index a quorum acknowledges now, waits until it
// has applied that far, then answers from its state.

// readWaiter is a pending ReadIndex request.
type readWaiter struct {
	index uint64 // 0 until Raft answers
	reply func(error)
	timer *time.Timer
}

// readIndexTimeout bounds how long a read waits for a quorum.
const readIndexTimeout = 5 * time.Second

// confirmLeadership calls reply(nil) once it is certain this master still
// leads and has applied everything committed before the call.
func (m *Master) confirmLeadership(reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	if m.tr == nil {
		reply(nil) // a single master is its own quorum
		return
	}
	m.nextReadID++
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], m.nextReadID)
	key := string(rctx[:])
	w := &readWaiter{reply: reply}
	w.timer = m.after(readIndexTimeout, func() {
		if cur, ok := m.readWaiters[key]; ok && cur == w {
			delete(m.readWaiters, key)
			w.reply(fmt.Errorf("%w: no quorum confirmed leadership within %v", ErrUnavailable, readIndexTimeout))
		}
	})
	m.readWaiters[key] = w
	m.rl.ReadIndex(rctx[:])
}

// onReadStates matches Raft's ReadIndex answers to waiters, and releases
// every waiter whose index has been applied.
func (m *Master) onReadStates(states []readState) {
	for _, rs := range states {
		if w, ok := m.readWaiters[string(rs.RequestCtx)]; ok {
			w.index = rs.Index
		}
	}
	applied := m.reg.AppliedIndex()
	for key, w := range m.readWaiters {
		if w.index != 0 && w.index <= applied {
			delete(m.readWaiters, key)
			w.timer.Stop()
			w.reply(nil)
		}
	}
}

// failReads fails every pending read (leadership ended).
func (m *Master) failReads(err error) {
	for key, w := range m.readWaiters {
		delete(m.readWaiters, key)
		w.timer.Stop()
		w.reply(err)
	}
}

// linearizable blocks the calling handler until a read may be served.
func (m *Master) linearizable(ctx context.Context) error {
	res, err := await(ctx, m, m.confirmLeadership)
	if err != nil {
		return err
	}
	return res
}
