package resources

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Quantities is a compact vector of scalar amounts by name, with no identity
// (reservation, role, ...) attached: Mesos ResourceQuantities. Fairness math
// and minimum-allocatable checks use it instead of Resources because cpus,
// mem, disk and gpus live in a fixed array, so arithmetic on the common case
// never allocates. Other names go to a small sorted slice. The zero value is
// empty; values are immutable like Resources.
type Quantities struct {
	std   [numStd]Scalar
	other []NamedScalar // sorted by name, no zero values
}

// NamedScalar is one named amount.
type NamedScalar struct {
	Name  string
	Value Scalar
}

const numStd = 4

var stdNames = [numStd]string{CPUs, Mem, Disk, GPUs}

func stdIndex(name string) int {
	switch name {
	case CPUs:
		return 0
	case Mem:
		return 1
	case Disk:
		return 2
	case GPUs:
		return 3
	}
	return -1
}

// Quantities sums r's scalar resources by name. A shared resource counts
// once however many times it is present, as in Mesos.
func (r Resources) Quantities() Quantities {
	var q Quantities
	for i := range r.e {
		e := &r.e[i]
		if e.id.kind != KindScalar {
			continue
		}
		if k := stdIndex(e.id.name); k >= 0 {
			q.std[k] += e.scalar
			continue
		}
		q = q.Add(Quantities{other: []NamedScalar{{e.id.name, e.scalar}}})
	}
	return q
}

// QuantitiesOf builds Quantities from name/amount pairs, skipping zeros.
func QuantitiesOf(pairs ...NamedScalar) Quantities {
	var q Quantities
	for _, p := range pairs {
		q = q.Add(Quantities{}.with(p.Name, p.Value))
	}
	return q
}

func (q Quantities) with(name string, v Scalar) Quantities {
	if v <= 0 {
		return q
	}
	if k := stdIndex(name); k >= 0 {
		q.std[k] = v
		return q
	}
	q.other = []NamedScalar{{name, v}}
	return q
}

// ParseQuantities reads "cpus:0.01;mem:32" (scalars only, no roles), the
// element syntax of --min_allocatable_resources.
func ParseQuantities(s string) (Quantities, error) {
	var q Quantities
	for _, tok := range strings.Split(s, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		name, val, ok := strings.Cut(tok, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return Quantities{}, fmt.Errorf("%w '%s': expected name:value", ErrInvalid, tok)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return Quantities{}, fmt.Errorf("%w '%s': bad scalar", ErrInvalid, tok)
		}
		v, err := ScalarFromFloat(f)
		if err != nil {
			return Quantities{}, fmt.Errorf("%w '%s': %s", ErrInvalid, tok, detail(err))
		}
		q = q.Add(Quantities{}.with(name, v))
	}
	return q, nil
}

// Get returns the amount of name.
func (q Quantities) Get(name string) Scalar {
	if k := stdIndex(name); k >= 0 {
		return q.std[k]
	}
	for _, o := range q.other {
		if o.Name == name {
			return o.Value
		}
	}
	return 0
}

// IsZero reports whether q holds nothing.
func (q Quantities) IsZero() bool {
	return q.std == [numStd]Scalar{} && len(q.other) == 0
}

// Add returns q + o.
func (q Quantities) Add(o Quantities) Quantities {
	for k := range q.std {
		q.std[k] += o.std[k]
	}
	if len(o.other) > 0 {
		q.other = mergeOther(q.other, o.other, 1)
	}
	return q
}

// Sub returns q - o, saturating at zero per name.
func (q Quantities) Sub(o Quantities) Quantities {
	for k := range q.std {
		q.std[k] = subSat(q.std[k], o.std[k])
	}
	if len(o.other) > 0 && len(q.other) > 0 {
		q.other = mergeOther(q.other, o.other, -1)
	}
	return q
}

func mergeOther(a, b []NamedScalar, sign Scalar) []NamedScalar {
	out := make([]NamedScalar, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i].Name < b[j].Name):
			out = append(out, a[i])
			i++
		case i >= len(a) || b[j].Name < a[i].Name:
			if sign > 0 {
				out = append(out, b[j])
			}
			j++
		default:
			v := a[i].Value + sign*b[j].Value
			if v > 0 {
				out = append(out, NamedScalar{a[i].Name, v})
			}
			i++
			j++
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Contains reports whether q has at least o of every name.
func (q Quantities) Contains(o Quantities) bool {
	for k := range q.std {
		if q.std[k] < o.std[k] {
			return false
		}
	}
	for _, x := range o.other {
		if q.Get(x.Name) < x.Value {
			return false
		}
	}
	return true
}

// Equal reports whether q and o hold the same amounts.
func (q Quantities) Equal(o Quantities) bool {
	return q.std == o.std && slices.Equal(q.other, o.other)
}

// Each calls f for every non-zero amount, standard names first.
func (q Quantities) Each(f func(name string, v Scalar)) {
	for k, v := range q.std {
		if v > 0 {
			f(stdNames[k], v)
		}
	}
	for _, o := range q.other {
		f(o.Name, o.Value)
	}
}

// DominantShare returns max over names of q[name]/total[name], ignoring names
// with no total: the DRF dominant share of an allocation q in a pool total.
func (q Quantities) DominantShare(total Quantities) float64 {
	var s float64
	for k, v := range q.std {
		if v > 0 && total.std[k] > 0 {
			s = max(s, float64(v)/float64(total.std[k]))
		}
	}
	for _, o := range q.other {
		if t := total.Get(o.Name); t > 0 {
			s = max(s, float64(o.Value)/float64(t))
		}
	}
	return s
}

// String formats q as "cpus:1; mem:32".
func (q Quantities) String() string {
	var b strings.Builder
	q.Each(func(name string, v Scalar) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name + ":" + v.String())
	})
	return b.String()
}

// Unlimited is the amount a quota-room vector (see Resources.Shrink) uses for
// a name with no bound. It is far above any cluster total (maxScalar × 1024
// agents still fits) yet small enough that adding two never overflows.
const Unlimited Scalar = 1 << 60

// QuantitiesFromFloats builds Quantities from name → amount, the shape quota
// configurations arrive in. Negative, NaN or infinite amounts are errors
// (Quantities cannot hold them); zeros are dropped.
func QuantitiesFromFloats(m map[string]float64) (Quantities, error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var q Quantities
	for _, n := range names {
		if n == "" {
			return Quantities{}, fmt.Errorf("%w: empty resource name", ErrInvalid)
		}
		v, err := ScalarFromFloat(m[n])
		if err != nil {
			return Quantities{}, fmt.Errorf("%w %s: %s", ErrInvalid, n, detail(err))
		}
		q = q.Add(Quantities{}.with(n, v))
	}
	return q, nil
}

// OnlyStandard reports whether q names nothing but cpus, mem, disk and gpus.
func (q Quantities) OnlyStandard() bool { return len(q.other) == 0 }

// Min returns the per-name minimum of q and o (a name missing from either is
// zero).
func (q Quantities) Min(o Quantities) Quantities {
	for k := range q.std {
		q.std[k] = min(q.std[k], o.std[k])
	}
	if len(q.other) > 0 {
		var out []NamedScalar
		for _, x := range q.other {
			if v := min(x.Value, o.Get(x.Name)); v > 0 {
				out = append(out, NamedScalar{x.Name, v})
			}
		}
		q.other = out
	}
	return q
}

// Max returns the per-name maximum of q and o.
func (q Quantities) Max(o Quantities) Quantities {
	for k := range q.std {
		q.std[k] = max(q.std[k], o.std[k])
	}
	if len(o.other) > 0 {
		// max(a, b) = a + (b - a)⁺ per name.
		q = q.Add(o.Sub(q))
	}
	return q
}

// StdIsZero reports whether cpus, mem, disk and gpus are all zero.
func (q Quantities) StdIsZero() bool { return q.std == [numStd]Scalar{} }

// Std returns only the cpus, mem, disk and gpus of q.
func (q Quantities) Std() Quantities { return Quantities{std: q.std} }

// UnlimitedRoom is the quota room with no bound on any standard name.
func UnlimitedRoom() Quantities {
	return Quantities{std: [numStd]Scalar{Unlimited, Unlimited, Unlimited, Unlimited}}
}

// LimitRoom reads q as quota limits (a standard name absent from q is
// unlimited) and returns how much more of each standard name fits after
// used, as a room vector for Resources.Shrink.
func (q Quantities) LimitRoom(used Quantities) Quantities {
	var out Quantities
	for k, l := range q.std {
		if l == 0 {
			out.std[k] = Unlimited
		} else {
			out.std[k] = subSat(l, used.std[k])
		}
	}
	return out
}

// StdMask has bit k set when the k-th standard name (cpus, mem, disk, gpus)
// is non-zero in q: a cheap summary for "is any of it left?" tests.
func (q Quantities) StdMask() uint8 {
	var m uint8
	for k, v := range q.std {
		if v > 0 {
			m |= 1 << k
		}
	}
	return m
}
