package allocator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mesosd/mesosd/internal/resources"
)

// Quota is a role's quota (Mesos 1.9+ QuotaConfig): Guarantee is what the
// role is offered ahead of fair sharing, and what other roles' offers leave
// room for; Limit caps what the role's subtree may hold (offered or in use).
// Only cpus, mem, disk and gpus may be named. A name absent from Limit is
// unlimited (so a zero limit cannot be expressed); a name absent from
// Guarantee is not guaranteed. The zero Quota is the default: no quota.
type Quota struct {
	Guarantee resources.Quantities
	Limit     resources.Quantities
}

// IsZero reports whether q is the default quota.
func (q Quota) IsZero() bool { return q.Guarantee.IsZero() && q.Limit.IsZero() }

// quotaNode is one configured quota. Nodes form a forest by nearest
// quota'd ancestor, over which the required headroom is kept:
//
//	need(n) = max(guarantee(n) − consumed(n), Σ need(quota'd children))
//
// per name, and required = Σ need(top-most nodes). A child's guarantee is
// part of its parent's (validated), so resources that help a child also
// help the parent and nothing is counted twice.
type quotaNode struct {
	name      string
	q         Quota
	parent    *quotaNode
	role      *role // nil while the role has no frameworks
	need      resources.Quantities
	childNeed resources.Quantities
	depth     int
}

func (n *quotaNode) unmet() resources.Quantities {
	if n.role == nil {
		return n.q.Guarantee
	}
	return n.q.Guarantee.Sub(n.role.consumed)
}

// UpdateQuota sets role's quota; the zero Quota removes it. Errors (all
// wrapping ErrInvalid, nothing changed): an invalid role or "*"; names
// other than cpus, mem, disk, gpus; a guarantee above the limit; for nested
// roles, children's guarantees summing above the nearest quota'd
// ancestor's guarantee; and, unless force, top-level guarantees summing
// above the cluster's total resources (Mesos' capacity check).
func (a *Allocator) UpdateQuota(role string, q Quota, force bool) error {
	if err := resources.ValidateRole(role); err != nil {
		return fmt.Errorf("%w: quota: %w", ErrInvalid, err)
	}
	if role == "*" {
		return fmt.Errorf("%w: quota: role \"*\" cannot have quota", ErrInvalid)
	}
	if !q.Guarantee.OnlyStandard() || !q.Limit.OnlyStandard() {
		return fmt.Errorf("%w: quota for role %q: only cpus, mem, disk and gpus may be set", ErrInvalid, role)
	}
	if !q.Limit.LimitRoom(resources.Quantities{}).Contains(q.Guarantee) {
		return fmt.Errorf("%w: quota for role %q: guarantee (%v) exceeds limit (%v)", ErrInvalid, role, q.Guarantee, q.Limit)
	}
	next := a.withQuota(role, q)
	if err := checkHierarchy(next); err != nil {
		return fmt.Errorf("%w: quota for role %q: %w", ErrInvalid, role, err)
	}
	if !force && !q.Guarantee.IsZero() {
		if sum := topGuarantees(next); !a.totalQ.Contains(sum) {
			return fmt.Errorf("%w: quota for role %q: total guarantees (%v) exceed the cluster's capacity (%v); use force to set it anyway",
				ErrInvalid, role, sum, a.totalQ)
		}
	}
	if q.IsZero() {
		delete(a.quotas, role)
	} else {
		a.quotas[role] = &quotaNode{name: role, q: q, depth: strings.Count(role, "/")}
	}
	a.quotaDirty = true
	a.dirtyAll = true
	return nil
}

// withQuota returns the guarantees by role as they would be after setting
// role's quota to q.
func (a *Allocator) withQuota(role string, q Quota) map[string]resources.Quantities {
	g := make(map[string]resources.Quantities, len(a.quotas)+1)
	for n, qn := range a.quotas {
		if !qn.q.Guarantee.IsZero() {
			g[n] = qn.q.Guarantee
		}
	}
	delete(g, role)
	if !q.Guarantee.IsZero() {
		g[role] = q.Guarantee
	}
	return g
}

// nearestAncestor is the closest proper ancestor of role in set, or "".
func nearestAncestor[V any](role string, set map[string]V) string {
	for i := strings.LastIndexByte(role, '/'); i > 0; i = strings.LastIndexByte(role[:i], '/') {
		if _, ok := set[role[:i]]; ok {
			return role[:i]
		}
	}
	return ""
}

// checkHierarchy verifies that the guarantees of each role's nearest
// guaranteed descendants fit in its own guarantee.
func checkHierarchy(g map[string]resources.Quantities) error {
	sums := map[string]resources.Quantities{}
	for n, q := range g {
		if strings.Contains(n, "/") {
			if p := nearestAncestor(n, g); p != "" {
				sums[p] = sums[p].Add(q)
			}
		}
	}
	for _, p := range slices.Sorted(mapsKeys(sums)) {
		if !g[p].Contains(sums[p]) {
			return fmt.Errorf("guarantees of the roles under %q (%v) exceed its guarantee (%v)", p, sums[p], g[p])
		}
	}
	return nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// topGuarantees sums the guarantees of roles with no guaranteed ancestor.
func topGuarantees(g map[string]resources.Quantities) resources.Quantities {
	var sum resources.Quantities
	for n, q := range g {
		if !strings.Contains(n, "/") || nearestAncestor(n, g) == "" {
			sum = sum.Add(q)
		}
	}
	return sum
}

// Quota returns role's quota and whether one is set.
func (a *Allocator) Quota(role string) (Quota, bool) {
	if n, ok := a.quotas[role]; ok {
		return n.q, true
	}
	return Quota{}, false
}

// Quotas returns every configured quota by role.
func (a *Allocator) Quotas() map[string]Quota {
	out := make(map[string]Quota, len(a.quotas))
	for n, qn := range a.quotas {
		out[n] = qn.q
	}
	return out
}

// rebuildQuota relinks the quota forest and the roles after a quota change
// and recomputes every need and the required headroom from the roles'
// consumption. O(quotas·depth + roles·depth); only after UpdateQuota.
func (a *Allocator) rebuildQuota() {
	nodes := make([]*quotaNode, 0, len(a.quotas))
	for _, n := range a.quotas {
		nodes = append(nodes, n)
	}
	// Deepest first, so children's needs are known before their parent's.
	slices.SortFunc(nodes, func(x, y *quotaNode) int {
		if x.depth != y.depth {
			return y.depth - x.depth
		}
		return strings.Compare(x.name, y.name)
	})
	for _, n := range nodes {
		n.parent = nil
		if n.depth > 0 {
			if p := nearestAncestor(n.name, a.quotas); p != "" {
				n.parent = a.quotas[p]
			}
		}
		n.role = a.roles[n.name]
		n.childNeed = resources.Quantities{}
	}
	a.required = resources.Quantities{}
	for _, n := range nodes {
		n.need = n.unmet().Max(n.childNeed)
		if n.parent != nil {
			n.parent.childNeed = n.parent.childNeed.Add(n.need)
		} else {
			a.required = a.required.Add(n.need)
		}
	}
	// Roles: links and path flags, parents before children.
	rs := make([]*role, 0, len(a.roles))
	for _, r := range a.roles {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(x, y *role) int { return strings.Compare(x.name, y.name) })
	for _, r := range rs {
		r.qn = a.quotas[r.name]
		r.limited = r.parent.limited || (r.qn != nil && !r.qn.q.Limit.IsZero())
		r.guarded = r.parent.guarded || (r.qn != nil && !r.qn.q.Guarantee.IsZero())
		a.setFull(r)
	}
	a.quotaDirty = false
}

// propagateNeed updates needs along r's path after its consumption changed.
func (a *Allocator) propagateNeed(r *role) {
	var from *quotaNode
	var oldNeed, newNeed resources.Quantities
	for n := r; n != a.root; n = n.parent {
		qn := n.qn
		if qn == nil {
			continue
		}
		if from != nil {
			qn.childNeed = qn.childNeed.Sub(oldNeed).Add(newNeed)
		}
		oldNeed, newNeed, from = qn.need, qn.unmet().Max(qn.childNeed), qn
		qn.need = newNeed
	}
	if from != nil {
		a.required = a.required.Sub(oldNeed).Add(newNeed)
	}
}

// unmetPath is what allocating to r would still help satisfy: per name,
// the largest unmet guarantee among r and its ancestors.
func (a *Allocator) unmetPath(r *role) resources.Quantities {
	var u resources.Quantities
	for n := r; n != a.root; n = n.parent {
		if n.qn != nil && !n.qn.q.Guarantee.IsZero() {
			u = u.Max(n.qn.unmet())
		}
	}
	return u
}

// limitRoom is how much more of each standard name r may be offered
// without any role on its path exceeding its limit.
func (a *Allocator) limitRoom(r *role) resources.Quantities {
	room := resources.UnlimitedRoom()
	if !r.limited {
		return room
	}
	for n := r; n != a.root; n = n.parent {
		if n.qn != nil && !n.qn.q.Limit.IsZero() {
			room = room.Min(n.qn.q.Limit.LimitRoom(n.consumed))
		}
	}
	return room
}

// surplus is the unreserved headroom beyond what unmet guarantees need:
// the most that may go to anything that does not satisfy a guarantee.
func (a *Allocator) surplus() resources.Quantities {
	if a.required.IsZero() {
		return resources.UnlimitedRoom()
	}
	return a.freeQ.Sub(a.required)
}

// setFull refreshes r.full, the standard names (StdMask bits) on which r
// is at its limit, and r.unmetBits, those its guarantee still lacks, after
// its consumption or quota changed.
func (a *Allocator) setFull(r *role) {
	r.unmetBits = 0
	if r.qn != nil && !r.qn.q.Guarantee.IsZero() {
		r.unmetBits = r.qn.unmet().StdMask()
	}
	r.full = 0
	if r.qn != nil && !r.qn.q.Limit.IsZero() {
		r.full = ^r.qn.q.Limit.LimitRoom(r.consumed).StdMask() & 0xf
	}
}

// saturated reports whether r can get none of the quota resources in have
// (a StdMask): each is at the limit of some role on r's path.
func (a *Allocator) saturated(r *role, have uint8) bool {
	var full uint8
	for n := r; n != a.root; n = n.parent {
		full |= n.full
	}
	return full&have == have
}

// helps reports whether offering some of have (a StdMask) to r would help
// meet an unmet guarantee on r's path.
func (a *Allocator) helps(r *role, have uint8) bool {
	var unmet uint8
	for n := r; n != a.root; n = n.parent {
		unmet |= n.unmetBits
	}
	return unmet&have != 0
}
