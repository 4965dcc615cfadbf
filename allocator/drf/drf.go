// Package drf is the Dominant Resource Fairness sorter (Ghodsi et al.,
// NSDI'11), as Mesos' DRFSorter: a client's share is the largest fraction it
// holds of any scalar resource in the pool, divided by its weight; clients
// sort by ascending share, ties broken by name (then handle) so that the
// order is deterministic.
//
// The sorted order is maintained incrementally. Allocation changes only mark
// a client dirty; the next Sort re-inserts the dirty clients by binary search
// (O(d·(log n + n)) memmove-cheap work instead of a full O(n log n) sort).
// A change of the pool total changes every share, so it triggers one full
// re-sort. In an allocation cycle the total is fixed and each agent dirties
// at most a few clients, which is what makes the cycle cheap.
package drf

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mesosd/mesosd/allocator/sorter"
	"github.com/mesosd/mesosd/internal/resources"
)

type client struct {
	present, active, dirty bool
	name                   string
	weight                 float64
	alloc                  resources.Quantities
	// share is the sort key: it changes only while the client is out of
	// sorted (or during a full re-sort), so sorted stays ordered by it and
	// a client's position can be found by binary search.
	share float64
}

// Sorter implements sorter.Sorter with DRF. The zero value is not usable;
// call New.
type Sorter struct {
	// clients are stored densely; slot maps a handle to its index + 1
	// (0: absent). Handles are the caller's global indices (every
	// framework's, in every role's sorter), so a per-handle client array
	// would cost O(roles × frameworks) memory; a per-handle int32 is 25×
	// smaller and keeps lookups a slice index.
	clients  []client
	slot     []int32
	free     []int32 // unused client slots
	sorted   []int   // active handles in order
	total    resources.Quantities
	dirty    []int // handles with a stale share
	dirtyAll bool  // total changed: every share is stale
	count    int
}

var _ sorter.Sorter = (*Sorter)(nil)

// New returns an empty DRF sorter.
func New() *Sorter { return &Sorter{} }

func (s *Sorter) get(id int) *client {
	if !s.Contains(id) {
		panic(fmt.Sprintf("drf: unknown client %d", id))
	}
	return &s.clients[s.slot[id]-1]
}

// at is get without the check, for handles known to be present.
func (s *Sorter) at(id int) *client {
	return &s.clients[s.slot[id]-1]
}

// less is the DRF order: share, then name, then handle.
func (s *Sorter) less(a, b int) bool {
	ca, cb := s.at(a), s.at(b)
	if ca.share != cb.share {
		return ca.share < cb.share
	}
	if c := strings.Compare(ca.name, cb.name); c != 0 {
		return c < 0
	}
	return a < b
}

func (s *Sorter) cmp(a, b int) int {
	switch {
	case s.less(a, b):
		return -1
	case s.less(b, a):
		return 1
	}
	return 0
}

func (s *Sorter) computeShare(c *client) {
	c.share = c.alloc.DominantShare(s.total) / c.weight
}

// Add implements sorter.Sorter.
func (s *Sorter) Add(id int, name string) {
	if id < 0 {
		panic("drf: negative client handle")
	}
	for id >= len(s.slot) {
		s.slot = append(s.slot, 0)
	}
	if s.slot[id] != 0 {
		panic(fmt.Sprintf("drf: client %d already present", id))
	}
	if n := len(s.free); n > 0 {
		s.slot[id] = s.free[n-1] + 1
		s.free = s.free[:n-1]
	} else {
		s.clients = append(s.clients, client{})
		s.slot[id] = int32(len(s.clients))
	}
	*s.at(id) = client{present: true, name: name, weight: 1}
	s.count++
}

// Remove implements sorter.Sorter.
func (s *Sorter) Remove(id int) {
	s.Deactivate(id)
	c := s.get(id)
	if c.dirty {
		s.dirty = slices.DeleteFunc(s.dirty, func(x int) bool { return x == id })
	}
	*c = client{}
	s.free = append(s.free, s.slot[id]-1)
	s.slot[id] = 0
	s.count--
}

// Contains implements sorter.Sorter.
func (s *Sorter) Contains(id int) bool {
	return id >= 0 && id < len(s.slot) && s.slot[id] != 0
}

// Count implements sorter.Sorter.
func (s *Sorter) Count() int { return s.count }

// Activate implements sorter.Sorter.
func (s *Sorter) Activate(id int) {
	c := s.get(id)
	if c.active {
		return
	}
	s.settle() // while c is inactive, so settle cannot insert it
	c.active = true
	s.computeShare(c)
	c.dirty = false
	s.insert(id)
}

// Deactivate implements sorter.Sorter.
func (s *Sorter) Deactivate(id int) {
	c := s.get(id)
	if !c.active {
		return
	}
	s.remove(id)
	c.active = false
}

// UpdateWeight implements sorter.Sorter.
func (s *Sorter) UpdateWeight(id int, weight float64) {
	if !(weight > 0) {
		panic("drf: weight must be > 0")
	}
	c := s.get(id)
	c.weight = weight
	s.markDirty(id, c)
}

// Allocated implements sorter.Sorter.
func (s *Sorter) Allocated(id int, q resources.Quantities) {
	c := s.get(id)
	c.alloc = c.alloc.Add(q)
	s.markDirty(id, c)
}

// Unallocated implements sorter.Sorter.
func (s *Sorter) Unallocated(id int, q resources.Quantities) {
	c := s.get(id)
	c.alloc = c.alloc.Sub(q)
	s.markDirty(id, c)
}

// Allocation implements sorter.Sorter.
func (s *Sorter) Allocation(id int) resources.Quantities { return s.get(id).alloc }

// Share returns the client's current weighted dominant share.
func (s *Sorter) Share(id int) float64 {
	c := s.get(id)
	return c.alloc.DominantShare(s.total) / c.weight
}

// AddTotal implements sorter.Sorter.
func (s *Sorter) AddTotal(q resources.Quantities) {
	s.total = s.total.Add(q)
	s.dirtyAll = true
}

// RemoveTotal implements sorter.Sorter.
func (s *Sorter) RemoveTotal(q resources.Quantities) {
	s.total = s.total.Sub(q)
	s.dirtyAll = true
}

// Total returns the pool shares are computed against.
func (s *Sorter) Total() resources.Quantities { return s.total }

func (s *Sorter) markDirty(id int, c *client) {
	if c.dirty || !c.active || s.dirtyAll {
		return
	}
	c.dirty = true
	s.dirty = append(s.dirty, id)
}

// Sort implements sorter.Sorter.
func (s *Sorter) Sort() []int {
	s.settle()
	return s.sorted
}

// settle brings sorted up to date with all pending share changes.
func (s *Sorter) settle() {
	switch {
	case s.dirtyAll || len(s.dirty) > len(s.sorted)/4+8:
		for _, id := range s.dirty {
			s.at(id).dirty = false
		}
		for _, id := range s.sorted {
			c := s.at(id)
			s.computeShare(c)
			c.dirty = false
		}
		slices.SortFunc(s.sorted, s.cmp)
	case len(s.dirty) == 1:
		id := s.dirty[0]
		c := s.at(id)
		c.dirty = false
		if c.active {
			s.remove(id)
			s.computeShare(c)
			s.insert(id)
		}
	case len(s.dirty) > 1:
		// Pull every dirty client out first so that the remainder is
		// sorted by current shares, then re-insert each.
		kept := s.sorted[:0]
		for _, id := range s.sorted {
			if !s.at(id).dirty {
				kept = append(kept, id)
			}
		}
		s.sorted = kept
		for _, id := range s.dirty {
			c := s.at(id)
			if !c.dirty {
				continue
			}
			c.dirty = false
			if c.active {
				s.computeShare(c)
				s.insert(id)
			}
		}
	}
	s.dirty = s.dirty[:0]
	s.dirtyAll = false
}

// insert places an active client (share computed, not in sorted) by binary
// search; the shift is a memmove.
func (s *Sorter) insert(id int) {
	i := sort.Search(len(s.sorted), func(i int) bool { return s.less(id, s.sorted[i]) })
	s.sorted = slices.Insert(s.sorted, i, id)
}

// remove takes an active client out of sorted, finding it by binary search
// on its current sort key.
func (s *Sorter) remove(id int) {
	i := sort.Search(len(s.sorted), func(i int) bool { return !s.less(s.sorted[i], id) })
	if i < len(s.sorted) && s.sorted[i] == id {
		s.sorted = slices.Delete(s.sorted, i, i+1)
	}
}
