package resources

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Scalar is a fixed-point quantity in thousandths, the precision Mesos keeps
// for Value.Scalar. Integer arithmetic is exact, so 0.1+0.2 equals 0.3 and
// repeated add/subtract cycles never drift.
type Scalar int64

// ScalarUnit is the Scalar value of 1.0.
const ScalarUnit Scalar = 1000

// maxScalar bounds parsed values so that sums of many agents cannot overflow.
const maxScalar = float64(math.MaxInt64 / ScalarUnit / 1024)

// ScalarFromFloat converts a double to fixed point, rounding to the nearest
// thousandth as Mesos does (llround(v*1000)). It rejects NaN, infinities,
// negative values and values too large to sum safely.
func ScalarFromFloat(v float64) (Scalar, error) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%w: scalar must be finite", ErrInvalid)
	case v < 0:
		return 0, fmt.Errorf("%w: scalar must be > 0", ErrInvalid)
	case v > maxScalar:
		return 0, fmt.Errorf("%w: scalar %g too large", ErrInvalid, v)
	}
	return Scalar(math.Round(v * float64(ScalarUnit))), nil
}

// Float64 returns s as a double, as carried on the wire.
func (s Scalar) Float64() float64 { return float64(s) / float64(ScalarUnit) }

// String formats s with at most three decimals and no trailing zeros.
func (s Scalar) String() string {
	return strconv.FormatFloat(s.Float64(), 'f', -1, 64)
}

// subSat is s-o clamped at zero: Mesos drops resources that would go
// negative, so subtraction saturates.
func subSat(s, o Scalar) Scalar {
	if o >= s {
		return 0
	}
	return s - o
}

// Range is an inclusive interval [Begin, End] of a RANGES value.
type Range struct{ Begin, End uint64 }

// Ranges is a canonical RANGES value: sorted, with no two ranges overlapping
// or adjacent ([1-2],[3-4] is stored as [1-4]), as Mesos coalesces them.
// Values returned by this package are canonical and never aliased by later
// operations.
type Ranges []Range

// NewRanges validates rs (begin <= end, no overlaps, as Mesos requires of a
// single Resource) and returns them in canonical form.
func NewRanges(rs ...Range) (Ranges, error) {
	for _, r := range rs {
		if r.Begin > r.End {
			return nil, fmt.Errorf("%w: range [%d-%d] has begin > end", ErrInvalid, r.Begin, r.End)
		}
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range) int {
		if a.Begin != b.Begin {
			if a.Begin < b.Begin {
				return -1
			}
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i].Begin <= s[i-1].End {
			return nil, fmt.Errorf("%w: ranges [%d-%d] and [%d-%d] overlap", ErrInvalid,
				s[i-1].Begin, s[i-1].End, s[i].Begin, s[i].End)
		}
	}
	return coalesce(s), nil
}

// coalesce merges overlapping and adjacent ranges of a sorted slice in place.
func coalesce(s Ranges) Ranges {
	if len(s) == 0 {
		return nil
	}
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if last.End == math.MaxUint64 || r.Begin <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Size is the number of values covered.
func (rs Ranges) Size() uint64 {
	var n uint64
	for _, r := range rs {
		n += r.End - r.Begin + 1
	}
	return n
}

// String formats as Mesos does: [31000-32000, 33000-34000].
func (rs Ranges) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d-%d", r.Begin, r.End)
	}
	b.WriteByte(']')
	return b.String()
}

// addRanges returns the canonical union of two canonical values.
func addRanges(a, b Ranges) Ranges {
	if len(b) == 0 {
		return slices.Clone(a)
	}
	if len(a) == 0 {
		return slices.Clone(b)
	}
	out := make(Ranges, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var r Range
		if j >= len(b) || (i < len(a) && a[i].Begin <= b[j].Begin) {
			r = a[i]
			i++
		} else {
			r = b[j]
			j++
		}
		if n := len(out); n > 0 && (out[n-1].End == math.MaxUint64 || r.Begin <= out[n-1].End+1) {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// subRanges returns a minus b, splitting ranges where b punches holes.
func subRanges(a, b Ranges) Ranges {
	if len(b) == 0 {
		return slices.Clone(a)
	}
	var out Ranges
	j := 0
	for _, r := range a {
		cur := r
		alive := true
		for j < len(b) && b[j].End < cur.Begin {
			j++
		}
		for k := j; k < len(b) && b[k].Begin <= cur.End; k++ {
			h := b[k]
			if h.Begin > cur.Begin {
				out = append(out, Range{cur.Begin, h.Begin - 1})
			}
			if h.End >= cur.End {
				alive = false
				break
			}
			cur.Begin = h.End + 1
		}
		if alive {
			out = append(out, cur)
		}
	}
	return out
}

// containsRanges reports whether b ⊆ a for canonical values. Because a is
// coalesced, each range of b must sit inside a single range of a.
func containsRanges(a, b Ranges) bool {
	i := 0
	for _, r := range b {
		for i < len(a) && a[i].End < r.Begin {
			i++
		}
		if i == len(a) || a[i].Begin > r.Begin || a[i].End < r.End {
			return false
		}
	}
	return true
}

// addSet returns the sorted union of two sorted, duplicate-free sets.
func addSet(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func subSet(a, b []string) []string {
	var out []string
	j := 0
	for _, s := range a {
		for j < len(b) && b[j] < s {
			j++
		}
		if j < len(b) && b[j] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

func containsSet(a, b []string) bool {
	i := 0
	for _, s := range b {
		for i < len(a) && a[i] < s {
			i++
		}
		if i == len(a) || a[i] != s {
			return false
		}
	}
	return true
}
