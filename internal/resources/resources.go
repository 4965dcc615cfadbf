// Package resources implements Mesos resource arithmetic for mesosd.
//
// A Resources value is an immutable, canonical multiset of resources: every
// operation returns a new value and never modifies or aliases its operands'
// storage, so values can be shared freely (between the allocator, offers and
// tasks) without copying.
//
// Invariants of a Resources value:
//   - entries are sorted by identity key and no two entries share a key;
//   - no entry is empty (zero scalar, no ranges, no set items, zero count);
//   - ranges are coalesced and sets are sorted and duplicate-free;
//   - scalars are fixed point with three decimals (Scalar), as in Mesos.
//
// Identity decides what combines: two resources add up only if they agree on
// name, type, reservation stack, allocation role, disk info, revocability,
// sharedness and resource provider. Shared resources are counted rather than
// summed (two identical shared volumes are "the same volume, used twice"), and
// non-shared persistent volumes only subtract or compare as a whole, as in
// Mesos (src/common/resources.cpp).
package resources

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every validation and parse error of this package.
var ErrInvalid = errors.New("invalid resource")

// Standard resource names.
const (
	CPUs  = "cpus"
	Mem   = "mem"
	Disk  = "disk"
	GPUs  = "gpus"
	Ports = "ports"
)

// Kind is the value type of a resource (Mesos Value.Type without TEXT, which
// resources cannot carry).
type Kind uint8

// Value kinds; numbers match mesos.v1 Value.Type.
const (
	KindScalar Kind = 0
	KindRanges Kind = 1
	KindSet    Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindScalar:
		return "SCALAR"
	case KindRanges:
		return "RANGES"
	case KindSet:
		return "SET"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ReservationType mirrors Resource.ReservationInfo.Type.
type ReservationType uint8

// Reservation types; numbers match mesos.v1.
const (
	ReservationUnknown ReservationType = 0
	ReservationStatic  ReservationType = 1
	ReservationDynamic ReservationType = 2
)

// Label is a key/value pair of a Mesos Labels message.
type Label struct{ Key, Value string }

// Reservation is one level of a reservation refinement stack.
type Reservation struct {
	Type      ReservationType
	Role      string
	Principal string
	Labels    []Label
}

// VolumeMode mirrors Volume.Mode.
type VolumeMode uint8

// Volume modes; numbers match mesos.v1.
const (
	VolumeRW VolumeMode = 1
	VolumeRO VolumeMode = 2
)

// DiskSourceType mirrors Resource.DiskInfo.Source.Type.
type DiskSourceType uint8

// Disk source types; numbers match mesos.v1.
const (
	DiskSourceUnknown DiskSourceType = 0
	DiskSourcePath    DiskSourceType = 1
	DiskSourceMount   DiskSourceType = 2
	DiskSourceBlock   DiskSourceType = 3
	DiskSourceRaw     DiskSourceType = 4
)

// DiskInfo is the part of Resource.DiskInfo that defines identity.
type DiskInfo struct {
	PersistenceID        string // non-empty for a persistent volume
	PersistencePrincipal string
	// Volume, when set, is the container mapping of a persistent volume.
	HasVolume           bool
	VolumeContainerPath string
	VolumeHostPath      string
	VolumeMode          VolumeMode
	// Source, when set, names a non-root disk.
	HasSource      bool
	SourceType     DiskSourceType
	SourceRoot     string // path.root or mount.root
	SourceID       string
	SourceProfile  string
	SourceVendor   string
	SourceMetadata []Label
}

// Resource is a plain view of one resource, used to build Resources (New)
// and to inspect them (Items). Exactly one of Scalar, Ranges and Set is
// meaningful, according to Kind.
type Resource struct {
	Name   string
	Kind   Kind
	Scalar Scalar
	Ranges Ranges
	Set    []string

	// Reservations is the refinement stack, outermost role last; empty means
	// unreserved ("*").
	Reservations []Reservation
	// AllocationRole is Resource.allocation_info.role; empty when unallocated.
	AllocationRole string
	Disk           *DiskInfo
	Revocable      bool
	Shared         bool
	// SharedCount is how many times a shared resource is present (>= 1).
	SharedCount int
	ProviderID  string
}

// Role returns the role the resource is reserved to (the top of the
// reservation stack), or "*" when unreserved.
func (r *Resource) Role() string {
	if len(r.Reservations) == 0 {
		return "*"
	}
	return r.Reservations[len(r.Reservations)-1].Role
}

// identity is everything but the value. It is immutable once built and shared
// by pointer, so copying entries is cheap and equal pointers short-cut key
// comparison.
type identity struct {
	name         string
	kind         Kind
	reservations []Reservation
	allocRole    string
	disk         *DiskInfo
	revocable    bool
	shared       bool
	provider     string
	// key orders and identifies entries; it starts with the name so that
	// canonical order is by name first.
	key string
}

func (id *identity) persistent() bool {
	return id.disk != nil && id.disk.PersistenceID != "" && !id.shared
}

// simple reports whether the identity carries nothing but a name and type:
// the common case for agent totals.
func (id *identity) simple() bool {
	return len(id.reservations) == 0 && id.allocRole == "" && id.disk == nil &&
		!id.revocable && !id.shared && id.provider == ""
}

type entry struct {
	id     *identity
	scalar Scalar
	ranges Ranges
	set    []string
	count  int // shared resources only
}

func (e *entry) empty() bool {
	if e.id.shared {
		return e.count <= 0
	}
	switch e.id.kind {
	case KindScalar:
		return e.scalar <= 0
	case KindRanges:
		return len(e.ranges) == 0
	default:
		return len(e.set) == 0
	}
}

// Resources is an immutable multiset of resources. The zero value is empty.
type Resources struct {
	e []entry
}

// New validates rs and returns their sum.
func New(rs ...Resource) (Resources, error) {
	var out Resources
	for i := range rs {
		e, err := newEntry(&rs[i])
		if err != nil {
			return Resources{}, err
		}
		if e.empty() {
			continue
		}
		out = out.Add(Resources{e: []entry{e}})
	}
	return out, nil
}

// MustParse is Parse for tests and constants; it panics on error.
func MustParse(s string) Resources {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

func newEntry(r *Resource) (entry, error) {
	if err := validate(r); err != nil {
		return entry{}, err
	}
	id := &identity{
		name:         r.Name,
		kind:         r.Kind,
		reservations: cloneReservations(r.Reservations),
		allocRole:    r.AllocationRole,
		revocable:    r.Revocable,
		shared:       r.Shared,
		provider:     r.ProviderID,
	}
	if r.Disk != nil {
		d := *r.Disk
		d.SourceMetadata = slices.Clone(d.SourceMetadata)
		id.disk = &d
	}
	e := entry{id: id}
	switch r.Kind {
	case KindScalar:
		e.scalar = r.Scalar
	case KindRanges:
		rs, err := NewRanges(r.Ranges...)
		if err != nil {
			return entry{}, fmt.Errorf("%s: %w", r.Name, err)
		}
		e.ranges = rs
	case KindSet:
		e.set = slices.Clone(r.Set)
		slices.Sort(e.set)
	}
	if r.Shared {
		e.count = max(r.SharedCount, 1)
	}
	id.key = buildKey(id, &e)
	return e, nil
}

func cloneReservations(rs []Reservation) []Reservation {
	if len(rs) == 0 {
		return nil
	}
	out := make([]Reservation, len(rs))
	for i, r := range rs {
		out[i] = r
		out[i].Labels = slices.Clone(r.Labels)
	}
	return out
}

// buildKey encodes an identity unambiguously: the name, a NUL, then
// length-prefixed fields. Shared resources also key on their value, because
// only identical shared resources combine (by count).
func buildKey(id *identity, e *entry) string {
	var b strings.Builder
	b.WriteString(id.name)
	b.WriteByte(0)
	b.WriteByte(byte('0' + id.kind))
	w := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	labels := func(ls []Label) {
		w(strconv.Itoa(len(ls)))
		for _, l := range ls {
			w(l.Key)
			w(l.Value)
		}
	}
	w(strconv.Itoa(len(id.reservations)))
	for _, r := range id.reservations {
		w(strconv.Itoa(int(r.Type)))
		w(r.Role)
		w(r.Principal)
		labels(r.Labels)
	}
	w(id.allocRole)
	if d := id.disk; d != nil {
		b.WriteByte('D')
		w(d.PersistenceID)
		w(d.PersistencePrincipal)
		if d.HasVolume {
			b.WriteByte('V')
			w(d.VolumeContainerPath)
			w(d.VolumeHostPath)
			w(strconv.Itoa(int(d.VolumeMode)))
		}
		if d.HasSource {
			b.WriteByte('S')
			w(strconv.Itoa(int(d.SourceType)))
			w(d.SourceRoot)
			w(d.SourceID)
			w(d.SourceProfile)
			w(d.SourceVendor)
			labels(d.SourceMetadata)
		}
	}
	if id.revocable {
		b.WriteByte('R')
	}
	if id.shared {
		b.WriteByte('H')
		switch id.kind {
		case KindScalar:
			w(strconv.FormatInt(int64(e.scalar), 10))
		case KindRanges:
			w(e.ranges.String())
		case KindSet:
			w(strings.Join(e.set, ","))
		}
	}
	w(id.provider)
	return b.String()
}

func cmpID(a, b *identity) int {
	if a == b {
		return 0
	}
	return strings.Compare(a.key, b.key)
}

// combine returns a+b for entries of the same identity.
func combine(a, b *entry) entry {
	out := entry{id: a.id}
	if a.id.shared {
		out.scalar, out.ranges, out.set = a.scalar, a.ranges, a.set
		out.count = a.count + b.count
		return out
	}
	switch a.id.kind {
	case KindScalar:
		out.scalar = a.scalar + b.scalar
	case KindRanges:
		out.ranges = addRanges(a.ranges, b.ranges)
	case KindSet:
		out.set = addSet(a.set, b.set)
	}
	return out
}

// minus returns a-b for entries of the same identity (possibly empty).
func minus(a, b *entry) entry {
	out := entry{id: a.id}
	switch {
	case a.id.shared:
		out.scalar, out.ranges, out.set = a.scalar, a.ranges, a.set
		out.count = a.count - b.count
		return out
	case a.id.persistent():
		// A persistent volume is removed only as a whole.
		if valueEqual(a, b) {
			return out
		}
		return *a
	}
	switch a.id.kind {
	case KindScalar:
		out.scalar = subSat(a.scalar, b.scalar)
	case KindRanges:
		out.ranges = subRanges(a.ranges, b.ranges)
	case KindSet:
		out.set = subSet(a.set, b.set)
	}
	return out
}

// covers reports b ⊆ a for entries of the same identity.
func covers(a, b *entry) bool {
	switch {
	case a.id.shared:
		return a.count >= b.count
	case a.id.persistent():
		return valueEqual(a, b)
	}
	switch a.id.kind {
	case KindScalar:
		return a.scalar >= b.scalar
	case KindRanges:
		return containsRanges(a.ranges, b.ranges)
	default:
		return containsSet(a.set, b.set)
	}
}

func valueEqual(a, b *entry) bool {
	if a.count != b.count {
		return false
	}
	switch a.id.kind {
	case KindScalar:
		return a.scalar == b.scalar
	case KindRanges:
		return slices.Equal(a.ranges, b.ranges)
	default:
		return slices.Equal(a.set, b.set)
	}
}

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool { return len(r.e) == 0 }

// Len is the number of distinct resources (entries) in r.
func (r Resources) Len() int { return len(r.e) }

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	if len(o.e) == 0 {
		return r
	}
	if len(r.e) == 0 {
		return o
	}
	out := make([]entry, 0, len(r.e)+len(o.e))
	i, j := 0, 0
	for i < len(r.e) && j < len(o.e) {
		switch c := cmpID(r.e[i].id, o.e[j].id); {
		case c < 0:
			out = append(out, r.e[i])
			i++
		case c > 0:
			out = append(out, o.e[j])
			j++
		default:
			out = append(out, combine(&r.e[i], &o.e[j]))
			i++
			j++
		}
	}
	out = append(out, r.e[i:]...)
	out = append(out, o.e[j:]...)
	return Resources{e: out}
}

// Subtract returns r - o. Parts of o that r does not hold are ignored and
// scalars saturate at zero, as Mesos drops resources that would go negative;
// use Contains first when that matters.
func (r Resources) Subtract(o Resources) Resources {
	if len(o.e) == 0 || len(r.e) == 0 {
		return r
	}
	out := make([]entry, 0, len(r.e))
	j := 0
	for i := range r.e {
		for j < len(o.e) && cmpID(o.e[j].id, r.e[i].id) < 0 {
			j++
		}
		if j < len(o.e) && cmpID(o.e[j].id, r.e[i].id) == 0 {
			if d := minus(&r.e[i], &o.e[j]); !d.empty() {
				out = append(out, d)
			}
			continue
		}
		out = append(out, r.e[i])
	}
	if len(out) == 0 {
		return Resources{}
	}
	return Resources{e: out}
}

// Contains reports whether o ⊆ r (Mesos Resources::contains).
func (r Resources) Contains(o Resources) bool {
	if len(o.e) > len(r.e) {
		return false
	}
	i := 0
	for j := range o.e {
		for i < len(r.e) && cmpID(r.e[i].id, o.e[j].id) < 0 {
			i++
		}
		if i == len(r.e) || cmpID(r.e[i].id, o.e[j].id) != 0 || !covers(&r.e[i], &o.e[j]) {
			return false
		}
		i++
	}
	return true
}

// Equal reports whether r and o hold exactly the same resources.
func (r Resources) Equal(o Resources) bool {
	if len(r.e) != len(o.e) {
		return false
	}
	for i := range r.e {
		if cmpID(r.e[i].id, o.e[i].id) != 0 || !valueEqual(&r.e[i], &o.e[i]) {
			return false
		}
	}
	return true
}

// filter returns the entries whose identity satisfies keep, sharing r's
// storage when everything is kept.
func (r Resources) filter(keep func(*identity) bool) Resources {
	for i := range r.e {
		if keep(r.e[i].id) {
			continue
		}
		out := make([]entry, i, len(r.e))
		copy(out, r.e[:i])
		for _, e := range r.e[i+1:] {
			if keep(e.id) {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return Resources{}
		}
		return Resources{e: out}
	}
	return r
}

// Filter returns the resources for which keep returns true.
func (r Resources) Filter(keep func(Resource) bool) Resources {
	return r.filter(func(id *identity) bool {
		return keep(Resource{Name: id.name, Kind: id.kind, Reservations: id.reservations,
			AllocationRole: id.allocRole, Disk: id.disk, Revocable: id.revocable,
			Shared: id.shared, ProviderID: id.provider})
	})
}

// Simple reports whether every resource is unreserved, unallocated,
// non-revocable, non-shared, without disk info or provider: the allocator's
// fast path, where "allocatable to role R" is everything.
func (r Resources) Simple() bool {
	for i := range r.e {
		if !r.e[i].id.simple() {
			return false
		}
	}
	return true
}

// Unreserved returns the resources with an empty reservation stack.
func (r Resources) Unreserved() Resources {
	return r.filter(func(id *identity) bool { return len(id.reservations) == 0 })
}

// Reserved returns the resources reserved to role exactly (top of the
// stack), or all reserved resources when role is "".
func (r Resources) Reserved(role string) Resources {
	return r.filter(func(id *identity) bool {
		n := len(id.reservations)
		return n > 0 && (role == "" || id.reservations[n-1].Role == role)
	})
}

// AllocatableTo returns what may be offered to role: unreserved resources
// plus those reserved to role or one of its ancestors (hierarchical roles,
// "a/b" may use reservations of "a"), as Mesos allocatableTo.
func (r Resources) AllocatableTo(role string) Resources {
	return r.filter(func(id *identity) bool {
		n := len(id.reservations)
		if n == 0 {
			return true
		}
		rr := id.reservations[n-1].Role
		return rr == role || (strings.HasPrefix(role, rr) && len(role) > len(rr) && role[len(rr)] == '/')
	})
}

// Revocable returns the revocable resources.
func (r Resources) Revocable() Resources {
	return r.filter(func(id *identity) bool { return id.revocable })
}

// NonRevocable returns the resources that are not revocable.
func (r Resources) NonRevocable() Resources {
	return r.filter(func(id *identity) bool { return !id.revocable })
}

// Shared returns the shared resources.
func (r Resources) Shared() Resources {
	return r.filter(func(id *identity) bool { return id.shared })
}

// NonShared returns the resources that are not shared.
func (r Resources) NonShared() Resources {
	return r.filter(func(id *identity) bool { return !id.shared })
}

// Scalars returns the SCALAR resources.
func (r Resources) Scalars() Resources {
	return r.filter(func(id *identity) bool { return id.kind == KindScalar })
}

// HasGPUs reports whether r holds any gpus.
func (r Resources) HasGPUs() bool {
	for i := range r.e {
		if r.e[i].id.name == GPUs {
			return true
		}
	}
	return false
}

// AllocatedTo returns r with allocation_info.role set to role on every
// resource. Offers to MULTI_ROLE frameworks carry it; whether a given
// framework sees it is the master's decision, not this package's.
func (r Resources) AllocatedTo(role string) Resources {
	return r.mapIdentity(func(id *identity) { id.allocRole = role })
}

// Unallocated returns r with allocation_info cleared, the form the allocator
// keeps agent-side bookkeeping in.
func (r Resources) Unallocated() Resources {
	for i := range r.e {
		if r.e[i].id.allocRole != "" {
			return r.mapIdentity(func(id *identity) { id.allocRole = "" })
		}
	}
	return r
}

// mapIdentity rewrites identities with f and re-canonicalises (identities
// that become equal merge).
func (r Resources) mapIdentity(f func(*identity)) Resources {
	var out Resources
	for i := range r.e {
		id := *r.e[i].id
		f(&id)
		e := r.e[i]
		id.key = buildKey(&id, &e)
		e.id = &id
		out = out.Add(Resources{e: []entry{e}})
	}
	return out
}

// Items returns a plain view of each resource, in canonical order.
func (r Resources) Items() []Resource {
	out := make([]Resource, len(r.e))
	for i, e := range r.e {
		out[i] = Resource{
			Name: e.id.name, Kind: e.id.kind, Scalar: e.scalar,
			Ranges: slices.Clone(e.ranges), Set: slices.Clone(e.set),
			Reservations: cloneReservations(e.id.reservations), AllocationRole: e.id.allocRole,
			Revocable: e.id.revocable, Shared: e.id.shared, SharedCount: e.count,
			ProviderID: e.id.provider,
		}
		if e.id.disk != nil {
			d := *e.id.disk
			d.SourceMetadata = slices.Clone(d.SourceMetadata)
			out[i].Disk = &d
		}
	}
	return out
}

// Get returns the sum of the scalar resources named name, whatever their
// reservation or other identity fields (Mesos Resources::get<Scalar>).
func (r Resources) Get(name string) Scalar {
	var s Scalar
	for i := range r.e {
		if r.e[i].id.name == name && r.e[i].id.kind == KindScalar {
			s += r.e[i].scalar
		}
	}
	return s
}

// CPUs returns the total cpus.
func (r Resources) CPUs() float64 { return r.Get(CPUs).Float64() }

// Mem returns the total mem in MB.
func (r Resources) Mem() float64 { return r.Get(Mem).Float64() }

// Disk returns the total disk in MB.
func (r Resources) Disk() float64 { return r.Get(Disk).Float64() }

// GPUs returns the total gpus.
func (r Resources) GPUs() float64 { return r.Get(GPUs).Float64() }

// Ports returns the union of all "ports" ranges.
func (r Resources) Ports() Ranges {
	var out Ranges
	for i := range r.e {
		if r.e[i].id.name == Ports && r.e[i].id.kind == KindRanges {
			out = addRanges(out, r.e[i].ranges)
		}
	}
	return out
}

// String formats r in the --resources syntax where possible, e.g.
// "cpus:2; mem:1024; ports:[31000-32000]", annotating what the syntax
// cannot express ({REV}, {shared x2}, [volume id], <allocated: role>).
func (r Resources) String() string {
	var b strings.Builder
	for i, e := range r.e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.id.name)
		if n := len(e.id.reservations); n > 0 {
			b.WriteByte('(')
			for k, rv := range e.id.reservations {
				if k > 0 {
					b.WriteByte(',')
				}
				b.WriteString(rv.Role)
			}
			b.WriteByte(')')
		}
		if e.id.allocRole != "" {
			fmt.Fprintf(&b, "<allocated: %s>", e.id.allocRole)
		}
		if d := e.id.disk; d != nil {
			if d.PersistenceID != "" {
				fmt.Fprintf(&b, "[%s]", d.PersistenceID)
			}
			if d.HasSource {
				fmt.Fprintf(&b, "[source %d %s]", d.SourceType, d.SourceRoot)
			}
		}
		if e.id.revocable {
			b.WriteString("{REV}")
		}
		if e.id.shared {
			fmt.Fprintf(&b, "{shared x%d}", e.count)
		}
		b.WriteByte(':')
		switch e.id.kind {
		case KindScalar:
			b.WriteString(e.scalar.String())
		case KindRanges:
			b.WriteString(e.ranges.String())
		case KindSet:
			b.WriteString("{" + strings.Join(e.set, ",") + "}")
		}
	}
	return b.String()
}

// QuotaSplit separates what counts against a role's quota from the rest:
// quota holds the unreserved, non-revocable, non-shared cpus, mem, disk and
// gpus (the resources Mesos "chops" to fit guarantees, limits and headroom);
// rest is everything else (reservations, revocable and shared resources,
// ports and custom resources), which quota enforcement never cuts. For a
// Simple r without custom scalars this allocates nothing.
func (r Resources) QuotaSplit() (quota, rest Resources) {
	isQuota := func(id *identity) bool {
		return id.kind == KindScalar && len(id.reservations) == 0 && !id.revocable &&
			!id.shared && stdIndex(id.name) >= 0
	}
	quota = r.filter(isQuota)
	rest = r.filter(func(id *identity) bool { return !isQuota(id) })
	return quota, rest
}

// Shrink cuts r's cpus, mem, disk and gpus down to at most room's amounts
// (zero drops the name; use Unlimited for no bound); other resources are
// kept whole. A disk with a MOUNT or BLOCK source cannot be split, so it is
// kept only if it fits entirely, as Mesos' shrinkResources.
func (r Resources) Shrink(room Quantities) Resources {
	var need [numStd]Scalar
	for i := range r.e {
		if e := &r.e[i]; e.id.kind == KindScalar && !e.id.shared {
			if k := stdIndex(e.id.name); k >= 0 {
				need[k] += e.scalar
			}
		}
	}
	fits := true
	for k := range need {
		fits = fits && need[k] <= room.std[k]
	}
	if fits {
		return r // the common case: nothing to cut, nothing allocated
	}
	left := room.std
	out := make([]entry, 0, len(r.e))
	changed := false
	for i := range r.e {
		e := r.e[i]
		k := -1
		if e.id.kind == KindScalar && !e.id.shared {
			k = stdIndex(e.id.name)
		}
		if k < 0 {
			out = append(out, e)
			continue
		}
		switch {
		case e.scalar <= left[k]:
			left[k] -= e.scalar
			out = append(out, e)
			continue
		case left[k] > 0 && !indivisible(e.id):
			e.scalar = left[k]
			left[k] = 0
			out = append(out, e)
		}
		changed = true
	}
	if !changed {
		return r
	}
	if len(out) == 0 {
		return Resources{}
	}
	return Resources{e: out}
}

func indivisible(id *identity) bool {
	return id.disk != nil && id.disk.HasSource &&
		(id.disk.SourceType == DiskSourceMount || id.disk.SourceType == DiskSourceBlock)
}
