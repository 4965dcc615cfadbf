package mastersim

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a lock-free log-linear latency histogram: 8 sub-buckets per
// power of two of nanoseconds, so a quantile is within 12.5 % of the truth.
// Recording is one atomic add; safe for concurrent use.
type Histogram struct {
	counts [64 * 8]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
}

func bucketOf(ns int64) int {
	if ns < 8 {
		if ns < 0 {
			ns = 0
		}
		return int(ns)
	}
	u := uint64(ns)
	e := bits.Len64(u) - 1 // 2^e <= u < 2^(e+1), e >= 3
	sub := (u >> (e - 3)) & 7
	return e*8 + int(sub)
}

// lowerBound is the smallest value that falls in bucket i.
func lowerBound(i int) int64 {
	if i < 8 {
		return int64(i)
	}
	e, sub := i/8, uint64(i%8)
	return int64((8 + sub) << (e - 3))
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(int64(d))].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Mean returns the average observation.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	target := uint64(q*float64(n) + 0.5)
	if target == 0 {
		target = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= target {
			if i+1 < len(h.counts) {
				return time.Duration(lowerBound(i + 1))
			}
			return time.Duration(lowerBound(i))
		}
	}
	return time.Duration(lowerBound(len(h.counts) - 1))
}

// Reset clears the histogram (not atomic with respect to concurrent Records;
// call between measurement windows).
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
}

// Counters are the simulator's monotonic counters, updated atomically by
// agents and frameworks. Rates come from differencing two Snapshots.
type Counters struct {
	AgentRegistrations   atomic.Int64 // REGISTERED events received by agents
	AgentSubscribeErrors atomic.Int64 // subscribe attempts that failed
	FrameworkSubscribed  atomic.Int64 // SUBSCRIBED events received
	Offers               atomic.Int64 // offers received by frameworks
	OffersDeclined       atomic.Int64
	Accepts              atomic.Int64 // ACCEPT calls sent
	TasksLaunched        atomic.Int64 // tasks in ACCEPTs sent
	RunTasks             atomic.Int64 // RUN_TASK events received by agents
	TasksRunning         atomic.Int64 // TASK_RUNNING updates received by frameworks
	TasksFinished        atomic.Int64 // TASK_FINISHED updates received by frameworks
	TasksOther           atomic.Int64 // other updates (LOST, KILLED, ERROR...)
	UpdatesSent          atomic.Int64 // STATUS_UPDATE calls by agents, retries included
	UpdateRetries        atomic.Int64
	AcksReceived         atomic.Int64 // ACKNOWLEDGE events received by agents
	Pings                atomic.Int64
	CallErrors           atomic.Int64 // calls answered with an unexpected status or failed
	Rescinds             atomic.Int64
}

// Snapshot is a point-in-time copy of Counters.
type Snapshot struct {
	At                                                   time.Time
	AgentRegistrations, AgentSubscribeErrors             int64
	FrameworkSubscribed, Offers, OffersDeclined, Accepts int64
	TasksLaunched, RunTasks, TasksRunning, TasksFinished int64
	TasksOther, UpdatesSent, UpdateRetries, AcksReceived int64
	Pings, CallErrors, Rescinds                          int64
}

func (c *Counters) snapshot() Snapshot {
	return Snapshot{
		At:                   time.Now(),
		AgentRegistrations:   c.AgentRegistrations.Load(),
		AgentSubscribeErrors: c.AgentSubscribeErrors.Load(),
		FrameworkSubscribed:  c.FrameworkSubscribed.Load(),
		Offers:               c.Offers.Load(),
		OffersDeclined:       c.OffersDeclined.Load(),
		Accepts:              c.Accepts.Load(),
		TasksLaunched:        c.TasksLaunched.Load(),
		RunTasks:             c.RunTasks.Load(),
		TasksRunning:         c.TasksRunning.Load(),
		TasksFinished:        c.TasksFinished.Load(),
		TasksOther:           c.TasksOther.Load(),
		UpdatesSent:          c.UpdatesSent.Load(),
		UpdateRetries:        c.UpdateRetries.Load(),
		AcksReceived:         c.AcksReceived.Load(),
		Pings:                c.Pings.Load(),
		CallErrors:           c.CallErrors.Load(),
		Rescinds:             c.Rescinds.Load(),
	}
}

// Rates are per-second rates between two snapshots.
type Rates struct {
	Window                                         time.Duration
	TasksLaunched, RunTasks, TasksRunning          float64
	TasksFinished, Offers, UpdatesSent, CallErrors float64
}

// RatesBetween computes per-second rates from a to b.
func RatesBetween(a, b Snapshot) Rates {
	w := b.At.Sub(a.At)
	s := w.Seconds()
	if s <= 0 {
		return Rates{Window: w}
	}
	per := func(x, y int64) float64 { return float64(y-x) / s }
	return Rates{
		Window:        w,
		TasksLaunched: per(a.TasksLaunched, b.TasksLaunched),
		RunTasks:      per(a.RunTasks, b.RunTasks),
		TasksRunning:  per(a.TasksRunning, b.TasksRunning),
		TasksFinished: per(a.TasksFinished, b.TasksFinished),
		Offers:        per(a.Offers, b.Offers),
		UpdatesSent:   per(a.UpdatesSent, b.UpdatesSent),
		CallErrors:    per(a.CallErrors, b.CallErrors),
	}
}
