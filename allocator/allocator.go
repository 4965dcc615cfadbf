// Package allocator decides which framework is offered which agent's
// resources: Mesos' hierarchical DRF allocator, as pure business logic.
//
// The allocator does no I/O, starts no goroutines and never reads the clock:
// callers pass `now`. It is owned by the master's single state goroutine and
// is NOT safe for concurrent use. Offers leave through a sink callback.
//
// Model (as Mesos' HierarchicalAllocatorProcess):
//   - Each agent has a total; offered and in-use resources are "allocated"
//     until Recover returns them. available = total − allocated.
//   - A cycle visits agents (ID order, or a seeded shuffle). For each agent,
//     roles are taken in role-sorter order and, within a role, frameworks in
//     that role's framework-sorter order (DRF). A framework receives all the
//     agent's remaining resources it may use: unreserved plus reserved to
//     its role, minus revocable/shared/refined-reservation resources it lacks
//     the capability for. One offer per (framework, role, agent) per cycle.
//   - A framework is skipped if it is inactive, suppressed for the role,
//     refuse-filtered for that agent, if the candidate resources contain
//     none of the minimum allocatable quantities, or if the agent has GPUs
//     and the framework lacks GPU_RESOURCES.
//
// Invariants (checked by the allocatortest property tests):
//   - for every agent, allocated ⊆ total at the time of allocation: an
//     offer never contains anything already offered or in use;
//   - the sorters' allocations equal the sum of tracked allocations.
//
// Roles form a tree ("eng/backend" under "eng"); the per-agent role order
// is hierarchical weighted DRF: at every level siblings sort by the
// dominant share of their whole subtree divided by their weight (roles.go).
//
// Quota (quota.go, Mesos 1.9+ semantics): a cycle runs in two stages over
// the same agents. Stage 1 offers only to roles whose own or an ancestor's
// guarantee is unmet, cut to what helps meet it (plus bursting within
// limits and surplus headroom). Stage 2 is plain fair sharing, except that
// unreserved non-revocable cpus/mem/disk/gpus are cut so that no role on
// the path exceeds its limit and the unallocated unreserved pool never
// drops below the headroom still required by unmet guarantees. Quota
// consumption is the subtree's offered-or-in-use non-revocable resources.
// Further invariants:
//   - an unreserved offer never takes a role's (or ancestor's) consumption
//     past its limit; reservations are never cut;
//   - required = Σ max(guarantee − consumed, needs of quota'd children)
//     over the top-most quota'd roles, kept incrementally.
//
// The sink is called synchronously from inside the cycle and must not call
// back into the Allocator; the master queues the offers and acts after the
// cycle returns.
package allocator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mesosd/mesosd/allocator/drf"
	"github.com/mesosd/mesosd/allocator/sorter"
	"github.com/mesosd/mesosd/internal/resources"
)

type allocKey struct{ fw, role int32 }

type refuseFilter struct {
	until int64 // unix nanoseconds
	res   resources.Resources
}

type agent struct {
	id        string
	info      AgentInfo
	total     resources.Resources
	totalQ    resources.Quantities
	allocated resources.Resources
	available resources.Resources
	availQ    resources.Quantities
	freeQ     resources.Quantities // unreserved non-revocable std part of available
	simple    bool                 // total has only plain unreserved resources: the fast path
	hasGPU    bool
	active    bool
	blocked   bool // maintenance: see BlockAgent
	pending   bool
	allocs    map[allocKey]resources.Resources
	filters   map[allocKey][]refuseFilter
	fcache    map[int32]*filterCache // by role index; see filterCache
}

type framework struct {
	id         string
	idx        int32
	known      bool // false for a placeholder holding AddUsed allocations
	active     bool
	caps       Capabilities
	roles      map[int32]bool // subscribed roles
	suppressed map[int32]bool
	minAlloc   map[int32][]resources.Quantities
	// roleEntries counts (agent) allocation entries per role, so a role
	// the framework left stays tracked until its resources come back.
	roleEntries   map[int32]int
	agents        map[*agent]int // allocation entries per agent
	filterAgents  map[*agent]struct{}
	pendingRemove bool
	on            map[int32]bool // roles where the framework is active in the sorter
}

type role struct {
	name    string
	idx     int32
	sorter  sorter.Sorter // the role's frameworks
	members int           // frameworks tracked under the role
	// parent is the enclosing role ("eng" for "eng/backend"), or the root.
	parent *role
	// kids sorts the child roles plus this role's own frameworks (a
	// "self" client whose handle is idx, as Mesos' virtual leaf "eng/.");
	// nil while the role has no children. The root's kids sort top-level
	// roles.
	kids  sorter.Sorter
	nkids int
	// selfAlloc is what this role's own frameworks hold; consumed is the
	// non-revocable scalar allocation (offered or in use) of the whole
	// subtree, which is what quota is charged with.
	selfAlloc resources.Quantities
	consumed  resources.Quantities
	qn        *quotaNode // this role's quota, if any
	limited   bool       // this role or an ancestor has a quota limit
	full      uint8      // standard names (StdMask bits) on which this role is at its limit
	unmetBits uint8      // standard names this role's own guarantee still lacks
	guarded   bool       // this role or an ancestor has a quota guarantee
}

// Allocator is the allocation state machine. Create it with New.
type Allocator struct {
	opts     Options
	minAlloc []resources.Quantities
	rng      *rand.Rand

	agents     map[string]*agent
	order      []*agent
	orderDirty bool

	frameworks map[string]*framework
	fwByIdx    []*framework
	freeFw     []int32

	roles      map[string]*role
	roleByIdx  []*role
	freeRoles  []int32
	roleSorter sorter.Sorter // == root.kids
	root       *role
	orderBuf   []*role
	newSorter  func() sorter.Sorter
	totalQ     resources.Quantities
	weights    map[string]float64

	quotas     map[string]*quotaNode
	quotaDirty bool // the quota forest must be rebuilt before use
	// required is the unreserved headroom that unmet guarantees still need
	// (Mesos "required headroom"); freeQ is the unreserved, non-revocable
	// cpus/mem/disk/gpus not offered or in use on any agent ("available
	// headroom"). Both are kept up to date incrementally.
	required resources.Quantities
	freeQ    resources.Quantities

	dirtyAll bool
	pending  []*agent
	// filterEpoch invalidates every filterCache: bumped when a filter is
	// removed early (revive, framework removal or update) or a role's set
	// of active frameworks changes.
	filterEpoch   uint64
	blocked       map[string]bool // agent IDs excluded by BlockAgent (maintenance.go)
	noFilterCache bool            // tests: the reference behaviour the cache must match
}

// New returns an empty allocator.
func New(opts Options) *Allocator {
	a := &Allocator{
		opts:       opts,
		minAlloc:   opts.MinAllocatable,
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		roles:      map[string]*role{},
		newSorter:  func() sorter.Sorter { return drf.New() },
	}
	if a.minAlloc == nil {
		a.minAlloc = DefaultMinAllocatable
	}
	if opts.Shuffle {
		a.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	}
	a.roleSorter = a.newSorter()
	a.root = &role{idx: -1, kids: a.roleSorter}
	a.weights = map[string]float64{}
	a.quotas = map[string]*quotaNode{}
	return a
}

// ---- agents ----

// AddAgent registers an active agent with its total resources. Resources
// already in use on it (tasks found at re-registration) are declared with
// AddUsed.
func (a *Allocator) AddAgent(id string, info AgentInfo, total resources.Resources) error {
	if _, ok := a.agents[id]; ok {
		return fmt.Errorf("agent %q: %w", id, ErrExists)
	}
	ag := &agent{id: id, info: info, active: true, blocked: a.blocked[id],
		allocs: map[allocKey]resources.Resources{}, filters: map[allocKey][]refuseFilter{}}
	a.agents[id] = ag
	a.setTotal(ag, total.Unallocated())
	a.order = append(a.order, ag)
	a.orderDirty = true
	a.markAgent(ag)
	return nil
}

func (a *Allocator) setTotal(ag *agent, total resources.Resources) {
	if !ag.totalQ.IsZero() {
		a.removeTotal(ag.totalQ)
	}
	ag.total = total
	ag.totalQ = total.Quantities()
	ag.simple = total.Simple()
	ag.hasGPU = total.HasGPUs()
	a.addTotal(ag.totalQ)
	a.updateAvailable(ag)
}

func (a *Allocator) addTotal(q resources.Quantities) {
	a.totalQ = a.totalQ.Add(q)
	a.roleSorter.AddTotal(q)
	for _, r := range a.roleByIdx {
		if r != nil {
			r.sorter.AddTotal(q)
			if r.kids != nil {
				r.kids.AddTotal(q)
			}
		}
	}
}

func (a *Allocator) removeTotal(q resources.Quantities) {
	a.totalQ = a.totalQ.Sub(q)
	a.roleSorter.RemoveTotal(q)
	for _, r := range a.roleByIdx {
		if r != nil {
			r.sorter.RemoveTotal(q)
			if r.kids != nil {
				r.kids.RemoveTotal(q)
			}
		}
	}
}

func (a *Allocator) updateAvailable(ag *agent) {
	if ag.allocated.IsEmpty() {
		ag.available = ag.total
	} else {
		ag.available = ag.total.Subtract(ag.allocated)
	}
	ag.availQ = ag.available.Quantities()
	a.setFree(ag)
}

// setFree recomputes the agent's contribution to the available headroom.
func (a *Allocator) setFree(ag *agent) {
	var free resources.Quantities
	if ag.simple {
		free = ag.availQ.Std()
	} else {
		qres, _ := ag.available.QuotaSplit()
		free = qres.Quantities()
	}
	a.freeQ = a.freeQ.Sub(ag.freeQ).Add(free)
	ag.freeQ = free
}

// UpdateAgent replaces an agent's info and total (e.g. oversubscribed
// revocable resources changed, or the agent re-registered with a new
// total). Allocations are kept; if they exceed the new total the agent
// simply has nothing available until they are recovered.
func (a *Allocator) UpdateAgent(id string, info AgentInfo, total resources.Resources) error {
	ag, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("agent %q: %w", id, ErrNotFound)
	}
	ag.info = info
	a.setTotal(ag, total.Unallocated())
	a.markAgent(ag)
	return nil
}

// RemoveAgent forgets an agent, its allocations and the filters on it. The
// master handles the tasks and offers that were on it.
func (a *Allocator) RemoveAgent(id string) error {
	ag, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("agent %q: %w", id, ErrNotFound)
	}
	for k, res := range ag.allocs {
		a.untrack(ag, a.fwByIdx[k.fw], a.roleByIdx[k.role], res)
	}
	for k := range ag.filters {
		if f := a.fwByIdx[k.fw]; f != nil {
			delete(f.filterAgents, ag)
		}
	}
	a.removeTotal(ag.totalQ)
	a.freeQ = a.freeQ.Sub(ag.freeQ)
	delete(a.agents, id)
	a.orderDirty = true
	if ag.pending {
		ag.pending = false
		a.pending = slices.DeleteFunc(a.pending, func(x *agent) bool { return x == ag })
	}
	return nil
}

// ActivateAgent makes an agent offerable again.
func (a *Allocator) ActivateAgent(id string) error {
	ag, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("agent %q: %w", id, ErrNotFound)
	}
	ag.active = true
	a.markAgent(ag)
	return nil
}

// DeactivateAgent stops offering an agent (disconnected, or being drained);
// its allocations stay tracked.
func (a *Allocator) DeactivateAgent(id string) error {
	ag, ok := a.agents[id]
	if !ok {
		return fmt.Errorf("agent %q: %w", id, ErrNotFound)
	}
	ag.active = false
	return nil
}

// ---- frameworks ----

// AddFramework registers a framework. If AddUsed already recorded
// allocations for this ID (agents re-registered before the framework did),
// they are adopted.
func (a *Allocator) AddFramework(id string, fw Framework) error {
	f, ok := a.frameworks[id]
	if ok && f.known {
		return fmt.Errorf("framework %q: %w", id, ErrExists)
	}
	if err := validateRoles(fw.Roles); err != nil {
		return fmt.Errorf("framework %q: %w", id, err)
	}
	if !ok {
		f = a.newFramework(id)
	}
	f.known = true
	a.applyFramework(f, fw)
	if f.active {
		a.dirtyAll = true
	}
	return nil
}

// UpdateFramework changes a framework's roles, capabilities, activity,
// suppressed roles and minimum allocatable resources (UPDATE_FRAMEWORK, or
// re-subscription). Resources held under a role it leaves stay tracked under
// that role until recovered.
func (a *Allocator) UpdateFramework(id string, fw Framework) error {
	f, ok := a.frameworks[id]
	if !ok || !f.known {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	if err := validateRoles(fw.Roles); err != nil {
		return fmt.Errorf("framework %q: %w", id, err)
	}
	a.applyFramework(f, fw)
	a.dirtyAll = true
	a.filterEpoch++ // filters or capabilities changed: cached filter bits are stale
	return nil
}

func validateRoles(roles []string) error {
	if len(roles) == 0 {
		return fmt.Errorf("%w: a framework needs at least one role", ErrInvalid)
	}
	for _, r := range roles {
		if err := resources.ValidateRole(r); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

func (a *Allocator) newFramework(id string) *framework {
	f := &framework{id: id, roles: map[int32]bool{}, suppressed: map[int32]bool{}, on: map[int32]bool{},
		roleEntries: map[int32]int{}, agents: map[*agent]int{}, filterAgents: map[*agent]struct{}{}}
	a.filterEpoch++ // the index may be reused: no cached filter bit may carry over
	if n := len(a.freeFw); n > 0 {
		f.idx = a.freeFw[n-1]
		a.freeFw = a.freeFw[:n-1]
		a.fwByIdx[f.idx] = f
	} else {
		f.idx = int32(len(a.fwByIdx))
		a.fwByIdx = append(a.fwByIdx, f)
	}
	a.frameworks[id] = f
	return f
}

func (a *Allocator) applyFramework(f *framework, fw Framework) {
	f.caps = fw.Capabilities
	f.active = fw.Active
	old := f.roles
	f.roles = map[int32]bool{}
	for _, name := range fw.Roles {
		f.roles[a.role(name).idx] = true
	}
	f.suppressed = map[int32]bool{}
	for _, name := range fw.SuppressedRoles {
		f.suppressed[a.role(name).idx] = true
	}
	f.minAlloc = nil
	for name, qs := range fw.MinAllocatable {
		if f.minAlloc == nil {
			f.minAlloc = map[int32][]resources.Quantities{}
		}
		f.minAlloc[a.role(name).idx] = slices.Clone(qs)
	}
	touched := map[int32]bool{}
	for r := range old {
		touched[r] = true
	}
	for r := range f.roles {
		touched[r] = true
	}
	for r := range f.suppressed {
		touched[r] = true
	}
	for r := range f.minAlloc {
		touched[r] = true
	}
	for _, r := range sortedKeys(touched) {
		a.syncRole(f, a.roleByIdx[r])
	}
}

func sortedKeys(m map[int32]bool) []int32 {
	ks := make([]int32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// role returns the role named name, creating it (and its framework sorter).
// Roles without frameworks are dropped again by syncRole.
func (a *Allocator) role(name string) *role {
	if r, ok := a.roles[name]; ok {
		return r
	}
	parent := a.root
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		parent = a.role(name[:i])
	}
	r := &role{name: name, sorter: a.newSorter(), parent: parent}
	if n := len(a.freeRoles); n > 0 {
		r.idx = a.freeRoles[n-1]
		a.freeRoles = a.freeRoles[:n-1]
		a.roleByIdx[r.idx] = r
	} else {
		r.idx = int32(len(a.roleByIdx))
		a.roleByIdx = append(a.roleByIdx, r)
	}
	r.sorter.AddTotal(a.totalQ)
	a.roles[name] = r
	a.attach(r)
	r.qn = a.quotas[name]
	if r.qn != nil {
		r.qn.role = r
	}
	r.limited = parent.limited || (r.qn != nil && !r.qn.q.Limit.IsZero())
	r.guarded = parent.guarded || (r.qn != nil && !r.qn.q.Guarantee.IsZero())
	a.setFull(r)
	return r
}

// syncRole makes the sorters agree with the framework's state for one role:
// tracked while subscribed or holding resources there; active while also
// known, active and not suppressed. Empty roles are removed.
func (a *Allocator) syncRole(f *framework, r *role) {
	id := int(f.idx)
	tracked := !f.pendingRemove && (f.roles[r.idx] || f.roleEntries[r.idx] > 0)
	if tracked && !r.sorter.Contains(id) {
		r.sorter.Add(id, f.id)
		r.members++
	}
	if r.sorter.Contains(id) {
		on := f.known && f.active && f.roles[r.idx] && !f.suppressed[r.idx]
		if on {
			r.sorter.Activate(id)
		} else {
			r.sorter.Deactivate(id)
		}
		if f.on[r.idx] != on {
			// The role's active set changed: cached "all filtered"
			// counts no longer describe it.
			a.filterEpoch++
			if on {
				f.on[r.idx] = true
			} else {
				delete(f.on, r.idx)
			}
		}
		if !tracked {
			r.sorter.Remove(id)
			r.members--
		}
	}
	if r.members == 0 && r.nkids == 0 {
		a.dropRole(r)
	}
}

// dropRole removes a role without frameworks unless some framework still
// refers to it (suppressed or per-role minimums), which keeps role indices
// stable while referenced. O(frameworks), on rare events only.
func (a *Allocator) dropRole(r *role) {
	if a.roles[r.name] != r || r.members > 0 || r.nkids > 0 {
		return
	}
	for _, f := range a.fwByIdx {
		if f != nil && !f.pendingRemove && (f.suppressed[r.idx] || f.roles[r.idx] || f.minAlloc[r.idx] != nil) {
			return
		}
	}
	delete(a.roles, r.name)
	if r.qn != nil {
		r.qn.role = nil
	}
	a.roleByIdx[r.idx] = nil
	a.freeRoles = append(a.freeRoles, r.idx)
	if p := a.detach(r); p != a.root && p.members == 0 && p.nkids == 0 {
		a.dropRole(p)
	}
}

// RemoveFramework forgets a framework: its allocations are released (the
// master has already dealt with its tasks and offers), its filters dropped.
func (a *Allocator) RemoveFramework(id string) error {
	f, ok := a.frameworks[id]
	if !ok {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	for _, ag := range a.sortedAgents(f.agents) {
		for k, res := range ag.allocs {
			if k.fw == f.idx {
				a.untrack(ag, f, a.roleByIdx[k.role], res)
			}
		}
		a.markAgent(ag)
	}
	for ag := range f.filterAgents {
		for k := range ag.filters {
			if k.fw == f.idx {
				delete(ag.filters, k)
			}
		}
	}
	f.pendingRemove = true
	a.filterEpoch++
	touched := map[int32]bool{}
	for _, r := range a.roleByIdx {
		if r != nil && r.sorter.Contains(int(f.idx)) {
			touched[r.idx] = true
		}
	}
	for r := range f.roles {
		touched[r] = true
	}
	for r := range f.suppressed {
		touched[r] = true
	}
	for r := range f.minAlloc {
		touched[r] = true
	}
	for _, r := range sortedKeys(touched) {
		if a.roleByIdx[r] != nil {
			a.syncRole(f, a.roleByIdx[r])
		}
	}
	delete(a.frameworks, id)
	a.fwByIdx[f.idx] = nil
	a.freeFw = append(a.freeFw, f.idx)
	return nil
}

func (a *Allocator) sortedAgents(m map[*agent]int) []*agent {
	out := make([]*agent, 0, len(m))
	for ag := range m {
		out = append(out, ag)
	}
	slices.SortFunc(out, func(x, y *agent) int { return cmp.Compare(x.id, y.id) })
	return out
}

// ActivateFramework resumes offers to a framework (it reconnected).
func (a *Allocator) ActivateFramework(id string) error {
	return a.setActive(id, true)
}

// DeactivateFramework stops offers to a framework (it disconnected); its
// allocations and filters stay.
func (a *Allocator) DeactivateFramework(id string) error {
	return a.setActive(id, false)
}

func (a *Allocator) setActive(id string, active bool) error {
	f, ok := a.frameworks[id]
	if !ok || !f.known {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	f.active = active
	for _, r := range sortedKeys(f.roles) {
		a.syncRole(f, a.roleByIdx[r])
	}
	if active {
		a.dirtyAll = true
	}
	return nil
}

// Suppress stops offers to the framework for roles (nil: all its roles),
// as SUPPRESS. Filters are kept.
func (a *Allocator) Suppress(id string, roles []string) error {
	f, ok := a.frameworks[id]
	if !ok || !f.known {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	for _, r := range a.rolesOf(f, roles) {
		f.suppressed[r.idx] = true
		a.syncRole(f, r)
	}
	return nil
}

// Revive resumes offers for roles (nil: all its roles) and clears the
// framework's refuse filters for them, as REVIVE.
func (a *Allocator) Revive(id string, roles []string) error {
	f, ok := a.frameworks[id]
	if !ok || !f.known {
		return fmt.Errorf("framework %q: %w", id, ErrNotFound)
	}
	rs := a.rolesOf(f, roles)
	want := map[int32]bool{}
	for _, r := range rs {
		want[r.idx] = true
		delete(f.suppressed, r.idx)
		a.syncRole(f, r)
	}
	for ag := range f.filterAgents {
		for k := range ag.filters {
			if k.fw == f.idx && (roles == nil || want[k.role]) {
				delete(ag.filters, k)
			}
		}
	}
	if roles == nil {
		clear(f.filterAgents)
	}
	a.dirtyAll = true
	a.filterEpoch++ // filters or capabilities changed: cached filter bits are stale
	return nil
}

// rolesOf resolves role names for Suppress/Revive; nil means the
// framework's subscribed roles. Unknown names are created so that a
// framework may suppress a role before subscribing to it.
func (a *Allocator) rolesOf(f *framework, names []string) []*role {
	var out []*role
	if names == nil {
		for _, r := range sortedKeys(f.roles) {
			out = append(out, a.roleByIdx[r])
		}
		return out
	}
	for _, n := range names {
		out = append(out, a.role(n))
	}
	return out
}

// ---- usage ----

// AddUsed records resources in use outside offers, e.g. tasks reported by
// an agent that re-registers after master failover. The framework need not
// be registered yet; it adopts the allocation when it is.
func (a *Allocator) AddUsed(fwID, agentID, roleName string, res resources.Resources) error {
	ag, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("agent %q: %w", agentID, ErrNotFound)
	}
	if err := resources.ValidateRole(roleName); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	res = res.Unallocated()
	if res.IsEmpty() {
		return nil
	}
	if !ag.available.Contains(res) {
		return fmt.Errorf("%w: agent %q does not have %v available (has %v)", ErrInvalid, agentID, res, ag.available)
	}
	f, ok := a.frameworks[fwID]
	if !ok {
		f = a.newFramework(fwID)
	}
	r := a.role(roleName)
	a.track(ag, f, r, res)
	a.syncRole(f, r)
	return nil
}

// Recover returns resources of fwID on agentID (under role) to the pool:
// a declined, rescinded or timed-out offer, or a finished task. refuse > 0
// (capped at MaxRefuse) installs a refuse filter: the framework is not
// offered a subset of res on that agent for that role before now+refuse.
// Resources of unknown agents or frameworks are ignored (they left with
// their owner); resources not tracked as allocated are an error.
func (a *Allocator) Recover(fwID, agentID, roleName string, res resources.Resources, refuse time.Duration, now time.Time) error {
	ag, ok := a.agents[agentID]
	if !ok {
		return nil
	}
	f, ok := a.frameworks[fwID]
	if !ok {
		return nil
	}
	r, ok := a.roles[roleName]
	if !ok {
		return fmt.Errorf("%w: framework %q holds nothing under role %q", ErrInvalid, fwID, roleName)
	}
	res = res.Unallocated()
	if res.IsEmpty() {
		return nil
	}
	k := allocKey{f.idx, r.idx}
	if !ag.allocs[k].Contains(res) {
		return fmt.Errorf("%w: framework %q does not hold %v on agent %q under role %q", ErrInvalid, fwID, res, agentID, roleName)
	}
	a.untrack(ag, f, r, res)
	a.syncRole(f, r)
	if refuse > 0 && !res.IsEmpty() && f.known {
		refuse = min(refuse, MaxRefuse)
		ag.filters[k] = append(ag.filters[k], refuseFilter{until: now.Add(refuse).UnixNano(), res: res})
		f.filterAgents[ag] = struct{}{}
	}
	a.markAgent(ag)
	return nil
}

func (a *Allocator) track(ag *agent, f *framework, r *role, res resources.Resources) {
	k := allocKey{f.idx, r.idx}
	prev, had := ag.allocs[k]
	if !had {
		f.roleEntries[r.idx]++
		f.agents[ag]++
	}
	ag.allocs[k] = prev.Add(res)
	if res.Equal(ag.available) {
		// Common case: the whole remainder was offered.
		ag.allocated = ag.allocated.Add(res)
		ag.available = resources.Resources{}
		ag.availQ = resources.Quantities{}
		a.freeQ = a.freeQ.Sub(ag.freeQ)
		ag.freeQ = resources.Quantities{}
	} else {
		ag.allocated = ag.allocated.Add(res)
		a.updateAvailable(ag)
	}
	if !r.sorter.Contains(int(f.idx)) {
		r.sorter.Add(int(f.idx), f.id)
		r.members++
	}
	q := res.Quantities()
	r.sorter.Allocated(int(f.idx), q)
	a.charge(r, q, a.quotaQuantities(ag, res, q), true)
}

func (a *Allocator) untrack(ag *agent, f *framework, r *role, res resources.Resources) {
	k := allocKey{f.idx, r.idx}
	left := ag.allocs[k].Subtract(res)
	if left.IsEmpty() {
		delete(ag.allocs, k)
		f.roleEntries[r.idx]--
		if f.roleEntries[r.idx] == 0 {
			delete(f.roleEntries, r.idx)
		}
		if f.agents[ag]--; f.agents[ag] == 0 {
			delete(f.agents, ag)
		}
	} else {
		ag.allocs[k] = left
	}
	ag.allocated = ag.allocated.Subtract(res)
	a.updateAvailable(ag)
	q := res.Quantities()
	r.sorter.Unallocated(int(f.idx), q)
	a.charge(r, q, a.quotaQuantities(ag, res, q), false)
}

// ---- allocation ----

func (a *Allocator) markAgent(ag *agent) {
	if !ag.pending {
		ag.pending = true
		a.pending = append(a.pending, ag)
	}
}

// Dirty reports whether anything changed since the last allocation that
// could produce offers. The master coalesces events while a run is queued
// and then calls AllocatePending once (Mesos MESOS-6904 batching).
func (a *Allocator) Dirty() bool { return a.dirtyAll || len(a.pending) > 0 }

// AllocatePending runs the cheapest allocation that covers every change
// since the last run: a full cycle if a framework-level event happened
// (added, activated, revived, updated), otherwise only the agents that
// changed (added, updated, activated, or had resources recovered).
func (a *Allocator) AllocatePending(now time.Time, sink func(Offer)) {
	if a.dirtyAll {
		a.Allocate(now, sink)
		return
	}
	batch := a.pending
	a.pending = nil
	slices.SortFunc(batch, func(x, y *agent) int { return cmp.Compare(x.id, y.id) })
	for _, ag := range batch {
		ag.pending = false
	}
	a.run(batch, now.UnixNano(), sink)
}

// Allocate runs one full cycle over every agent (ID order, or a seeded
// shuffle with Options.Shuffle). It also clears all pending work. Expired
// refuse filters stop applying at now; the master runs a full cycle every
// allocation_interval so that expiries are noticed.
func (a *Allocator) Allocate(now time.Time, sink func(Offer)) {
	if a.orderDirty {
		a.order = a.order[:0]
		for _, ag := range a.agents {
			a.order = append(a.order, ag)
		}
		slices.SortFunc(a.order, func(x, y *agent) int { return cmp.Compare(x.id, y.id) })
		a.orderDirty = false
	}
	if a.rng != nil {
		a.rng.Shuffle(len(a.order), func(i, j int) { a.order[i], a.order[j] = a.order[j], a.order[i] })
	}
	for _, ag := range a.pending {
		ag.pending = false
	}
	a.pending = a.pending[:0]
	a.dirtyAll = false
	a.run(a.order, now.UnixNano(), sink)
}

// AllocateAgents runs allocation for the given agents only, in the given
// order (unknown IDs are ignored), and clears their pending state.
func (a *Allocator) AllocateAgents(now time.Time, agentIDs []string, sink func(Offer)) {
	var ags []*agent
	for _, id := range agentIDs {
		ag, ok := a.agents[id]
		if !ok {
			continue
		}
		if ag.pending {
			ag.pending = false
			a.pending = slices.DeleteFunc(a.pending, func(x *agent) bool { return x == ag })
		}
		ags = append(ags, ag)
	}
	a.run(ags, now.UnixNano(), sink)
}

// run allocates the given agents in two stages, as Mesos: first only to
// roles with unmet quota guarantees (skipped when none are unmet), then
// to every role by fair share within limits and headroom.
func (a *Allocator) run(ags []*agent, now int64, sink func(Offer)) {
	if a.quotaDirty {
		a.rebuildQuota()
	}
	if !a.required.IsZero() {
		for _, ag := range ags {
			a.allocateGuarantees(ag, now, sink)
		}
	}
	for _, ag := range ags {
		a.allocateAgent(ag, now, sink)
	}
}

// allocateGuarantees is stage 1 on one agent: roles (in fair order) whose
// own or ancestor's guarantee is unmet are offered the unreserved
// resources that help meet it, plus, within limits and the surplus over
// the headroom still required, whatever else of the agent they may use
// (Mesos lets them burst here to avoid fragmenting the agent).
func (a *Allocator) allocateGuarantees(ag *agent, now int64, sink func(Offer)) {
	if !ag.active || ag.blocked || ag.available.IsEmpty() {
		return
	}
	for _, r := range a.roleOrder() {
		if !r.guarded || !a.helps(r, ag.availQ.StdMask()) {
			continue
		}
		for _, fid := range r.sorter.Sort() {
			if ag.available.IsEmpty() {
				return
			}
			unmet := a.unmetPath(r)
			if unmet.IsZero() {
				break
			}
			f := a.fwByIdx[fid]
			if ag.hasGPU && !a.opts.OfferGPUsToAll && !f.caps.Has(GPUResources) {
				continue
			}
			cand, q := a.offerable(ag, f, r)
			room := a.limitRoom(r)
			if ag.simple && q.Std().Min(unmet).Min(room).IsZero() {
				continue // cheap early out: nothing here helps
			}
			qres, rest := cand.QuotaSplit()
			qresQ := qres.Quantities()
			g := qresQ.Min(unmet).Min(room)
			if g.IsZero() {
				continue
			}
			extra := qresQ.Sub(g).Min(room.Sub(g)).Min(a.surplus())
			toOffer := rest.Add(qres.Shrink(g.Add(extra)))
			q = toOffer.Quantities()
			if !a.allocatable(q, f, r) {
				continue
			}
			if len(ag.filters) > 0 {
				if hit, _ := a.filtered(ag, allocKey{f.idx, r.idx}, toOffer, now); hit {
					continue
				}
			}
			sink(Offer{FrameworkID: f.id, AgentID: ag.id, Role: r.name, Resources: toOffer})
			a.track(ag, f, r, toOffer)
		}
	}
}

// allocateAgent is the hot path: one agent, every role, every framework.
func (a *Allocator) allocateAgent(ag *agent, now int64, sink func(Offer)) {
	if !ag.active || ag.blocked || ag.available.IsEmpty() {
		return
	}
	quota := len(a.quotas) > 0
	offered := false // bits may only be learnt against the agent's full availability
	var restQ resources.Quantities
	restKnown := false
	for _, r := range a.roleOrder() {
		fws := r.sorter.Sort()
		if len(fws) == 0 {
			continue
		}
		// Quota enforcement: never past a limit on the role's path, and
		// never into the headroom unmet guarantees need.
		enforce := quota && (r.limited || !a.required.IsZero())
		var fc *filterCache
		writable := false
		if len(ag.filters) > 0 && !a.noFilterCache {
			fc, writable = a.filterCacheFor(ag, r, now)
			writable = writable && !enforce && !offered
			if fc.n == len(fws) {
				continue // every active framework of the role refused this agent
			}
		}
		for _, fid := range fws {
			if ag.available.IsEmpty() {
				return
			}
			if fc != nil && fc.has(fid) {
				continue
			}
			f := a.fwByIdx[fid]
			if ag.hasGPU && !a.opts.OfferGPUsToAll && !f.caps.Has(GPUResources) {
				continue
			}
			toOffer, q := a.offerable(ag, f, r)
			if enforce && ag.simple && r.limited && a.saturated(r, ag.availQ.StdMask()) {
				// At its limit on every quota resource: only what quota
				// never cuts (ports, custom scalars) could go to r. The
				// common answer, "not enough to be allocatable", needs no
				// Resources to be built.
				if !restKnown {
					restQ, restKnown = ag.availQ.Sub(ag.availQ.Std()), true
				}
				if !a.allocatable(restQ, f, r) {
					continue
				}
			}
			if enforce {
				room := a.limitRoom(r).Min(a.surplus())
				if !room.Contains(q.Std()) {
					if ag.simple && !a.allocatable(q.Sub(q.Std()).Add(q.Std().Min(room)), f, r) {
						continue // cheap early out before building the cut offer
					}
					qres, rest := toOffer.QuotaSplit()
					toOffer = rest.Add(qres.Shrink(room))
					q = toOffer.Quantities()
				}
			}
			if toOffer.IsEmpty() || !a.allocatable(q, f, r) {
				continue
			}
			if len(ag.filters) > 0 {
				if hit, until := a.filtered(ag, allocKey{f.idx, r.idx}, toOffer, now); hit {
					if writable {
						fc.set(fid, until)
					}
					continue
				}
			}
			sink(Offer{FrameworkID: f.id, AgentID: ag.id, Role: r.name, Resources: toOffer})
			a.track(ag, f, r, toOffer)
			offered, writable, restKnown = true, false, false
		}
	}
}

// offerable is what framework f may be offered from the agent under role r.
func (a *Allocator) offerable(ag *agent, f *framework, r *role) (resources.Resources, resources.Quantities) {
	if ag.simple {
		return ag.available, ag.availQ
	}
	res := ag.available.AllocatableTo(r.name)
	if !f.caps.Has(RevocableResources) {
		res = res.NonRevocable()
	}
	if !f.caps.Has(SharedResources) {
		res = res.NonShared()
	}
	if !f.caps.Has(ReservationRefinement) {
		res = res.Filter(func(x resources.Resource) bool { return len(x.Reservations) <= 1 })
	}
	return res, res.Quantities()
}

// allocatable is Mesos' minimum-allocatable check: q must contain at least
// one of the framework's per-role minimums, or else the global ones.
func (a *Allocator) allocatable(q resources.Quantities, f *framework, r *role) bool {
	mins := a.minAlloc
	if m, ok := f.minAlloc[r.idx]; ok {
		mins = m
	}
	if len(mins) == 0 {
		return true
	}
	for _, m := range mins {
		if q.Contains(m) {
			return true
		}
	}
	return false
}

// filtered reports whether a live refuse filter covers toOffer. As in
// Mesos, a filter applies only while the candidate is a subset of what was
// refused, so more resources on the agent lift it early. Expired filters
// are dropped here.
func (a *Allocator) filtered(ag *agent, k allocKey, toOffer resources.Resources, now int64) (hit bool, until int64) {
	fs, ok := ag.filters[k]
	if !ok {
		return false, 0
	}
	live := fs[:0]
	for _, flt := range fs {
		if now >= flt.until {
			continue
		}
		live = append(live, flt)
		if !hit && flt.res.Contains(toOffer) {
			hit, until = true, flt.until
		}
	}
	if len(live) == 0 {
		delete(ag.filters, k)
	} else {
		ag.filters[k] = live
	}
	return hit, until
}

// ---- inspection (for the master's state endpoints and tests) ----

// Available returns what an agent has neither offered nor in use.
func (a *Allocator) Available(agentID string) (resources.Resources, bool) {
	ag, ok := a.agents[agentID]
	if !ok {
		return resources.Resources{}, false
	}
	return ag.available, true
}

// Allocated returns what is offered or in use on an agent.
func (a *Allocator) Allocated(agentID string) (resources.Resources, bool) {
	ag, ok := a.agents[agentID]
	if !ok {
		return resources.Resources{}, false
	}
	return ag.allocated, true
}

// Allocation returns what a framework holds on an agent under a role.
func (a *Allocator) Allocation(fwID, agentID, roleName string) resources.Resources {
	ag, ok1 := a.agents[agentID]
	f, ok2 := a.frameworks[fwID]
	r, ok3 := a.roles[roleName]
	if !ok1 || !ok2 || !ok3 {
		return resources.Resources{}
	}
	return ag.allocs[allocKey{f.idx, r.idx}]
}

// Total returns the sum of all agents' scalar totals.
func (a *Allocator) Total() resources.Quantities { return a.totalQ }

// ---- operations on resources (reservations, persistent volumes) ----

// UpdateAllocation applies an offer operation to resources a framework
// holds: from (part of what fwID holds on agentID under role) becomes to,
// in the allocation and in the agent's total (Mesos updateAllocation). It
// is how RESERVE, UNRESERVE, CREATE and DESTROY through ACCEPT take effect
// before the rest of the ACCEPT uses the converted resources.
func (a *Allocator) UpdateAllocation(fwID, agentID, roleName string, from, to resources.Resources) error {
	ag, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("agent %q: %w", agentID, ErrNotFound)
	}
	f, ok := a.frameworks[fwID]
	if !ok {
		return fmt.Errorf("framework %q: %w", fwID, ErrNotFound)
	}
	r, ok := a.roles[roleName]
	if !ok {
		return fmt.Errorf("%w: framework %q holds nothing under role %q", ErrInvalid, fwID, roleName)
	}
	from, to = from.Unallocated(), to.Unallocated()
	k := allocKey{f.idx, r.idx}
	if !ag.allocs[k].Contains(from) {
		return fmt.Errorf("%w: framework %q does not hold %v on agent %q under role %q", ErrInvalid, fwID, from, agentID, roleName)
	}
	if !from.IsEmpty() {
		a.untrack(ag, f, r, from)
	}
	a.setTotal(ag, ag.total.Subtract(from).Add(to))
	if !to.IsEmpty() {
		a.track(ag, f, r, to)
	}
	a.syncRole(f, r)
	return nil
}

// UpdateAvailable applies an operation to resources nobody holds on an
// agent: from (which must be available) becomes to in the agent's total.
// It is how the operator API's RESERVE_RESOURCES, UNRESERVE_RESOURCES,
// CREATE_VOLUMES and DESTROY_VOLUMES take effect.
func (a *Allocator) UpdateAvailable(agentID string, from, to resources.Resources) error {
	ag, ok := a.agents[agentID]
	if !ok {
		return fmt.Errorf("agent %q: %w", agentID, ErrNotFound)
	}
	from, to = from.Unallocated(), to.Unallocated()
	if !ag.available.Contains(from) {
		return fmt.Errorf("%w: agent %q does not have %v available (has %v)", ErrInvalid, agentID, from, ag.available)
	}
	a.setTotal(ag, ag.total.Subtract(from).Add(to))
	a.markAgent(ag)
	return nil
}

// AgentTotal returns an agent's total resources.
func (a *Allocator) AgentTotal(agentID string) (resources.Resources, bool) {
	ag, ok := a.agents[agentID]
	if !ok {
		return resources.Resources{}, false
	}
	return ag.total, true
}
