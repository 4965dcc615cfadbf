// Package sorter defines the fairness seam of the allocator, after Mesos'
// allocator Sorter (src/master/allocator/mesos/sorter/sorter.hpp): a sorter
// orders its active clients (roles, or the frameworks of one role) so that
// the allocator offers to the most deserving first.
//
// Clients are identified by small dense integer handles chosen by the caller
// (the allocator's framework and role indices), so the allocation hot path
// never hashes strings; the name is kept for deterministic tie-breaking.
//
// Sorters track only scalar quantities (resources.Quantities), never full
// Resources: fairness needs amounts, not identities, and quantities keep the
// arithmetic allocation-free. A sorter is not safe for concurrent use.
package sorter

import "github.com/mesosd/mesosd/internal/resources"

// Sorter orders clients by fairness.
type Sorter interface {
	// Add registers an inactive client with weight 1. id must not be present.
	Add(id int, name string)
	// Remove forgets a client and its allocation.
	Remove(id int)
	// Contains reports whether id is registered.
	Contains(id int) bool
	// Activate and Deactivate include or exclude a client from Sort; an
	// inactive client keeps its allocation (Mesos: suppressed or
	// disconnected frameworks still hold resources).
	Activate(id int)
	Deactivate(id int)
	// UpdateWeight sets the client's weight (> 0); shares are divided by it.
	UpdateWeight(id int, weight float64)
	// Allocated and Unallocated adjust the client's allocation.
	Allocated(id int, q resources.Quantities)
	Unallocated(id int, q resources.Quantities)
	// Allocation returns the client's current allocation.
	Allocation(id int) resources.Quantities
	// AddTotal and RemoveTotal adjust the pool that shares are computed
	// against (Mesos addSlave/removeSlave).
	AddTotal(q resources.Quantities)
	RemoveTotal(q resources.Quantities)
	// Sort returns the active clients, most deserving first. The slice is
	// owned by the sorter and valid until the next call other than
	// Allocated, Unallocated, Allocation or Contains: allocation changes
	// made while iterating take effect at the next Sort, as in Mesos where
	// each agent's loop works on one sort result.
	Sort() []int
	// Count is the number of registered clients.
	Count() int
}
