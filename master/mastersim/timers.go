package mastersim

import (
	"container/heap"
	"sync"
	"time"
)

// timerWheel runs callbacks at given times from one goroutine, so that
// 10k agents' task run times, update retries and registration backoffs cost
// one heap entry each instead of one runtime timer and goroutine each.
// Callbacks must be short: they run inline and typically only enqueue work.
type timerWheel struct {
	mu    sync.Mutex
	h     timerHeap
	seq   uint64
	wake  chan struct{}
	stopc chan struct{}
	done  chan struct{}
}

type timerEntry struct {
	at  time.Time
	seq uint64 // FIFO among equal times
	f   func()
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return e
}

func newTimerWheel() *timerWheel {
	w := &timerWheel{wake: make(chan struct{}, 1), stopc: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// after runs f after d (d <= 0: as soon as possible, still on the wheel).
func (w *timerWheel) after(d time.Duration, f func()) {
	w.mu.Lock()
	w.seq++
	heap.Push(&w.h, timerEntry{at: time.Now().Add(d), seq: w.seq, f: f})
	first := w.h[0].seq == w.seq
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *timerWheel) stop() {
	close(w.stopc)
	<-w.done
}

func (w *timerWheel) run() {
	defer close(w.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []func()
	for {
		w.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(w.h) > 0 && !w.h[0].at.After(now) {
			due = append(due, heap.Pop(&w.h).(timerEntry).f)
		}
		next := time.Hour
		if len(w.h) > 0 {
			next = w.h[0].at.Sub(now)
		}
		w.mu.Unlock()
		for _, f := range due {
			f()
		}
		if len(due) > 0 {
			clear(due)
			continue // time moved while callbacks ran
		}
		t.Reset(next)
		select {
		case <-t.C:
		case <-w.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-w.stopc:
			return
		}
	}
}
