package allocator

import (
	"fmt"
	"math"
	"slices"

	"github.com/mesosd/mesosd/internal/resources"
)

// The role tree (Mesos' hierarchical DRF sorter). Every role with
// frameworks, and every ancestor of one, is a node; "eng/backend" is a
// child of "eng", top-level roles are children of the root. A node's kids
// sorter orders its children by the weighted dominant share of their whole
// subtree, plus one "self" client for the node's own frameworks. The
// per-agent role order is the depth-first walk of those sorters, so a
// subtree that already holds much is visited late as a whole.
//
// Invariant: for every node n ≠ root, n.parent.kids' allocation of n equals
// the sum of the framework-sorter allocations in n's subtree, and n.kids'
// allocation of its self client equals n.selfAlloc.

// attach registers r with its parent's kids sorter, creating that sorter
// (with the parent's self client) on the parent's first child.
func (a *Allocator) attach(r *role) {
	p := r.parent
	if p.kids == nil {
		p.kids = a.newSorter()
		p.kids.AddTotal(a.totalQ)
		p.kids.Add(int(p.idx), p.name)
		p.kids.Activate(int(p.idx))
		if w := a.weight(p.name); w != 1 {
			p.kids.UpdateWeight(int(p.idx), w)
		}
		if !p.selfAlloc.IsZero() {
			p.kids.Allocated(int(p.idx), p.selfAlloc)
		}
	}
	p.kids.Add(int(r.idx), r.name)
	p.kids.Activate(int(r.idx))
	if w := a.weight(r.name); w != 1 {
		p.kids.UpdateWeight(int(r.idx), w)
	}
	p.nkids++
}

// detach removes r (which holds nothing) from its parent and returns the
// parent. A parent left without children drops its kids sorter: its own
// frameworks are then its whole subtree again.
func (a *Allocator) detach(r *role) *role {
	p := r.parent
	p.kids.Remove(int(r.idx))
	p.nkids--
	if p != a.root && p.nkids == 0 {
		p.kids = nil
	}
	return p
}

// charge books q (all scalars) and qq (its non-revocable part, for quota)
// against r and its ancestors, in every sorter on the path.
func (a *Allocator) charge(r *role, q, qq resources.Quantities, add bool) {
	if add {
		r.selfAlloc = r.selfAlloc.Add(q)
	} else {
		r.selfAlloc = r.selfAlloc.Sub(q)
	}
	if r.kids != nil {
		if add {
			r.kids.Allocated(int(r.idx), q)
		} else {
			r.kids.Unallocated(int(r.idx), q)
		}
	}
	for n := r; n != a.root; n = n.parent {
		if add {
			n.parent.kids.Allocated(int(n.idx), q)
			n.consumed = n.consumed.Add(qq)
		} else {
			n.parent.kids.Unallocated(int(n.idx), q)
			n.consumed = n.consumed.Sub(qq)
		}
	}
	if r.limited || r.guarded {
		for n := r; n != a.root; n = n.parent {
			a.setFull(n)
		}
	}
	if r.guarded && !a.quotaDirty {
		a.propagateNeed(r)
	}
}

// quotaQuantities is the part of res (on ag, with quantities q) that counts
// against quota: everything but revocable resources.
func (a *Allocator) quotaQuantities(ag *agent, res resources.Resources, q resources.Quantities) resources.Quantities {
	if ag.simple {
		return q
	}
	return res.NonRevocable().Quantities()
}

// roleOrder is the per-agent role order: a depth-first walk of the kids
// sorters, each giving its children most-deserving first. The slice is
// reused by the next call.
func (a *Allocator) roleOrder() []*role {
	a.orderBuf = a.appendOrder(a.orderBuf[:0], a.root)
	return a.orderBuf
}

func (a *Allocator) appendOrder(buf []*role, n *role) []*role {
	for _, id := range n.kids.Sort() {
		c := a.roleByIdx[id]
		switch {
		case c == n, c.kids == nil:
			buf = append(buf, c)
		default:
			buf = a.appendOrder(buf, c)
		}
	}
	return buf
}

func (a *Allocator) weight(role string) float64 {
	if w, ok := a.weights[role]; ok {
		return w
	}
	return 1
}

// UpdateWeights sets role weights (UPDATE_WEIGHTS): a role's share among its
// siblings is divided by its weight. Roles not named keep their weight; a
// weight of 1 is the default and is forgotten. The update is all or
// nothing: a bad role name or a weight that is not a finite number > 0
// fails with ErrInvalid and changes nothing.
func (a *Allocator) UpdateWeights(weights map[string]float64) error {
	names := make([]string, 0, len(weights))
	for n, w := range weights {
		if err := resources.ValidateRole(n); err != nil {
			return fmt.Errorf("%w: weight: %w", ErrInvalid, err)
		}
		if !(w > 0) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: weight of role %q must be a finite number > 0, got %v", ErrInvalid, n, w)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w := weights[n]
		if w == 1 {
			delete(a.weights, n)
		} else {
			a.weights[n] = w
		}
		if r, ok := a.roles[n]; ok {
			r.parent.kids.UpdateWeight(int(r.idx), w)
			if r.kids != nil {
				r.kids.UpdateWeight(int(r.idx), w)
			}
		}
	}
	if len(names) > 0 {
		a.dirtyAll = true
	}
	return nil
}

// Weights returns the configured weights (roles with weight ≠ 1).
func (a *Allocator) Weights() map[string]float64 {
	out := make(map[string]float64, len(a.weights))
	for n, w := range a.weights {
		out[n] = w
	}
	return out
}
