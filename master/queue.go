package master

import (
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

type (
	raftMessage = raftpb.Message
	raftEntry   = raftpb.Entry
	readState   = raft.ReadState
)

// queue is an unbounded FIFO between the master loop (producer) and one
// stream goroutine (consumer). The loop must never block on a slow client, so
// push only appends; a consumer that falls too far behind is cut off instead
// (the client reconnects and reconciles), which bounds memory.
type queue[T any] struct {
	mu      sync.Mutex
	items   []T
	notify  chan struct{} // capacity 1: "there may be items"
	done    chan struct{} // closed by close()
	closed  bool
	maxSize int
}

func newQueue[T any](maxSize int) *queue[T] {
	return &queue[T]{notify: make(chan struct{}, 1), done: make(chan struct{}), maxSize: maxSize}
}

// push appends v. It reports false if the queue is closed or overflowed (and
// then closes it).
func (q *queue[T]) push(v T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.maxSize > 0 && len(q.items) >= q.maxSize {
		q.mu.Unlock()
		q.close()
		return false
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// drain takes everything queued so far.
func (q *queue[T]) drain() []T {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}

func (q *queue[T]) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.done)
}
