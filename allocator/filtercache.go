package allocator

import "github.com/mesosd/mesosd/internal/resources"

// filterCache remembers, for one (agent, role), which frameworks a refuse
// filter covered last time, so that a cycle skips them with a bit test
// instead of a filter lookup and a Contains, and skips the whole role when
// every active framework is covered. This keeps decline rounds flat as
// filters pile up (Mesos slowed down out of proportion after ~200 rounds).
//
// A bit is learnt only while the candidate was derived from the agent's
// full availability avail. It stays true while the agent's availability is
// a subset of avail (a filter covering a set covers its subsets), no filter
// behind the bits has expired (until), and no filter was removed early nor
// the role's active set changed (epoch). Any doubt resets the bits, which
// only costs re-learning them.
type filterCache struct {
	avail resources.Resources
	epoch uint64
	until int64
	bits  []uint64
	n     int // bits set
}

func (c *filterCache) has(fid int) bool {
	w := fid >> 6
	return w < len(c.bits) && c.bits[w]&(1<<(fid&63)) != 0
}

func (c *filterCache) set(fid int, until int64) {
	w := fid >> 6
	for w >= len(c.bits) {
		c.bits = append(c.bits, 0)
	}
	if c.bits[w]&(1<<(fid&63)) == 0 {
		c.bits[w] |= 1 << (fid & 63)
		c.n++
		c.until = min(c.until, until)
	}
}

func (c *filterCache) reset(avail resources.Resources, epoch uint64) {
	c.avail, c.epoch, c.until, c.n = avail, epoch, 1<<63-1, 0
	clear(c.bits)
}

// filterCacheFor returns the valid cache of (ag, r) and whether new bits
// may be learnt now (the agent's availability is exactly avail).
func (a *Allocator) filterCacheFor(ag *agent, r *role, now int64) (*filterCache, bool) {
	c := ag.fcache[r.idx]
	if c == nil {
		if ag.fcache == nil {
			ag.fcache = map[int32]*filterCache{}
		}
		c = &filterCache{}
		c.reset(ag.available, a.filterEpoch)
		ag.fcache[r.idx] = c
		return c, true
	}
	switch {
	case c.epoch != a.filterEpoch || now >= c.until:
		c.reset(ag.available, a.filterEpoch)
		return c, true
	case c.avail.Equal(ag.available):
		return c, true
	case c.n > 0 && c.avail.Contains(ag.available):
		return c, false
	default:
		c.reset(ag.available, a.filterEpoch)
		return c, true
	}
}
