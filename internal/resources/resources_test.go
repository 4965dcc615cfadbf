package resources

import (
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"cpus:2;mem:1024;disk:4096;ports:[31000-32000];gpus:1", "cpus:2; disk:4096; gpus:1; mem:1024; ports:[31000-32000]"},
		{"cpus(eng):4; cpus:1", "cpus:1; cpus(eng):4"},
		{"cpus(*):1.5", "cpus:1.5"},
		{"cpus:1;cpus:0.5", "cpus:1.5"},
		{"ports:[1-5, 10-20, 6-9]", "ports:[1-20]"},
		{"ports:[1-2];ports:[3-4]", "ports:[1-4]"},
		{"zones:{b,a}", "zones:{a,b}"},
		{"zones:{a};zones:{b}", "zones:{a,b}"},
		{" ; cpus : 2 ; ", "cpus:2"},
		{"cpus:0.0005", "cpus:0.001"}, // rounds half away from zero
		{"", ""},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cpus:-1", "invalid resource 'cpus:-1': scalar must be > 0"},
		{"cpus:0", "invalid resource 'cpus:0': scalar must be > 0"},
		{"cpus:0.0001", "scalar must be > 0"},
		{"cpus:NaN", "must be finite"},
		{"cpus:Inf", "must be finite"},
		{"cpus:abc", "bad scalar"},
		{"cpus", "expected name:value"},
		{":1", "empty name"},
		{"ports:[5-1]", "begin > end"},
		{"ports:[1-5,3-8]", "overlap"},
		{"ports:[1-5", "unterminated ranges"},
		{"zones:{a,a}", "duplicate set item"},
		{"cpus(eng:1", "unterminated role"},
		{"cpus(-x):1", "starting with '-'"},
		{"cpus(a//b):1", "empty path component"},
		{"cpus(a b):1", "whitespace"},
		{"cpus:1e300", "too large"},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error", tc.in)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestParseJSON(t *testing.T) {
	r, err := Parse(`[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},
		{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":10}]}},
		{"name":"mem","type":"SCALAR","scalar":{"value":64},"role":"eng"}]`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "cpus:2; mem(eng):64; ports:[1-10]"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := Parse(`[{"name":"cpus","type":"SCALAR","scalar":{"value":-2}}]`); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative JSON scalar: got %v", err)
	}
}

func TestFixedPoint(t *testing.T) {
	a := MustParse("cpus:0.1")
	b := MustParse("cpus:0.2")
	if !a.Add(b).Equal(MustParse("cpus:0.3")) {
		t.Fatalf("0.1+0.2 = %v, want 0.3", a.Add(b))
	}
	sum := Resources{}
	for range 1000 {
		sum = sum.Add(a)
	}
	for range 999 {
		sum = sum.Subtract(a)
	}
	if !sum.Equal(a) {
		t.Fatalf("1000 adds, 999 subtracts = %v", sum)
	}
	if got := sum.CPUs(); got != 0.1 {
		t.Fatalf("CPUs() = %v", got)
	}
}

func TestArithmetic(t *testing.T) {
	total := MustParse("cpus:4;mem:4096;ports:[31000-32000];zones:{a,b,c}")
	used := MustParse("cpus:1.5;mem:1024;ports:[31005-31010];zones:{b}")
	left := total.Subtract(used)
	if got, want := left.String(), "cpus:2.5; mem:3072; ports:[31000-31004, 31011-32000]; zones:{a,c}"; got != want {
		t.Fatalf("total-used = %q, want %q", got, want)
	}
	if !total.Contains(used) || used.Contains(total) {
		t.Fatal("Contains")
	}
	if !left.Add(used).Equal(total) {
		t.Fatalf("left+used = %v", left.Add(used))
	}
	// Different identities never combine.
	mixed := MustParse("cpus:1").Add(MustParse("cpus(eng):1"))
	if mixed.Len() != 2 || mixed.CPUs() != 2 {
		t.Fatalf("mixed = %v", mixed)
	}
	if MustParse("cpus:2").Contains(MustParse("cpus(eng):1")) {
		t.Fatal("unreserved contains reserved")
	}
	// Saturating subtraction.
	if got := MustParse("cpus:1").Subtract(MustParse("cpus:2;mem:5")); !got.IsEmpty() {
		t.Fatalf("saturating subtract = %v", got)
	}
	if got := total.Ports(); !reflect.DeepEqual(got, Ranges{{31000, 32000}}) {
		t.Fatalf("Ports() = %v", got)
	}
	q := total.Quantities()
	if q.Get(CPUs) != 4000 || q.Get(Mem) != 4096000 || q.Get(Ports) != 0 {
		t.Fatalf("Quantities = %v", q)
	}
}

func TestFiltersAndAllocation(t *testing.T) {
	r := MustParse("cpus:1;cpus(eng):2;cpus(eng/web):3;cpus(ops):4")
	if got := r.AllocatableTo("eng/web").CPUs(); got != 6 {
		t.Fatalf("AllocatableTo(eng/web) cpus = %v, want 6", got)
	}
	if got := r.AllocatableTo("eng").CPUs(); got != 3 {
		t.Fatalf("AllocatableTo(eng) cpus = %v, want 3", got)
	}
	if got := r.Unreserved().CPUs(); got != 1 {
		t.Fatalf("Unreserved = %v", got)
	}
	a := r.AllocatedTo("eng")
	if a.Equal(r) || !a.Unallocated().Equal(r) {
		t.Fatalf("AllocatedTo/Unallocated round trip: %v", a)
	}
	for _, pb := range a.ToProto() {
		if pb.GetAllocationInfo().GetRole() != "eng" {
			t.Fatalf("allocation_info missing: %v", pb)
		}
	}
	for _, pb := range r.ToProto() {
		if pb.AllocationInfo != nil {
			t.Fatalf("unexpected allocation_info: %v", pb)
		}
	}
}

func TestProtoRoundTrip(t *testing.T) {
	vol := &mesos.Resource{
		Name: proto.String("disk"), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(100)},
		Reservations: []*mesos.Resource_ReservationInfo{{
			Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng"),
			Principal: proto.String("p"),
		}},
		Disk: &mesos.Resource_DiskInfo{
			Persistence: &mesos.Resource_DiskInfo_Persistence{Id: proto.String("v1")},
			Volume:      &mesos.Volume{Mode: mesos.Volume_RW.Enum(), ContainerPath: proto.String("data")},
		},
		Shared: &mesos.Resource_SharedInfo{},
	}
	in := []*mesos.Resource{
		{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.5)},
			Revocable: &mesos.Resource_RevocableInfo{}},
		{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{
			Range: []*mesos.Value_Range{{Begin: proto.Uint64(10), End: proto.Uint64(20)}}}},
		vol, proto.Clone(vol).(*mesos.Resource),
	}
	r, err := FromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	out := r.ToProto()
	if len(out) != 4 {
		t.Fatalf("ToProto len %d: %v", len(out), out)
	}
	r2, err := FromProto(out)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Equal(r2) {
		t.Fatalf("round trip: %v != %v", r, r2)
	}
	// Deterministic order.
	for range 5 {
		again := r.ToProto()
		for i := range out {
			if !proto.Equal(out[i], again[i]) {
				t.Fatal("ToProto order is not deterministic")
			}
		}
	}
	// Shared volume count: subtracting one use keeps the other.
	one, _ := FromProto([]*mesos.Resource{vol})
	if left := r.Subtract(one); !left.Contains(one) || left.Contains(one.Add(one)) {
		t.Fatalf("shared count: %v", left)
	}
	// Pre-refinement input converts to a reservation stack and back.
	legacy := &mesos.Resource{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(64)}, Role: proto.String("ops"),
		Reservation: &mesos.Resource_ReservationInfo{Principal: proto.String("me")}}
	lr, err := FromProto([]*mesos.Resource{legacy})
	if err != nil {
		t.Fatal(err)
	}
	items := lr.Items()
	if len(items[0].Reservations) != 1 || items[0].Reservations[0].Type != ReservationDynamic || items[0].Role() != "ops" {
		t.Fatalf("legacy conversion: %+v", items)
	}
	down, err := lr.ToProtoPreRefinement()
	if err != nil || down[0].GetRole() != "ops" || down[0].GetReservation().GetPrincipal() != "me" || len(down[0].Reservations) != 0 {
		t.Fatalf("pre-refinement: %v %v", down, err)
	}
}

func TestFromProtoValidation(t *testing.T) {
	sc := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
	}
	rg := func(pairs ...uint64) *mesos.Resource {
		r := &mesos.Resource{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{}}
		for i := 0; i < len(pairs); i += 2 {
			r.Ranges.Range = append(r.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(pairs[i]), End: proto.Uint64(pairs[i+1])})
		}
		return r
	}
	refined := sc("cpus", 1)
	refined.Reservations = []*mesos.Resource_ReservationInfo{
		{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("a")},
		{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("b")},
	}
	mixed := sc("cpus", 1)
	mixed.Role = proto.String("a")
	mixed.Reservations = []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("a")}}
	sharedNoVol := sc("cpus", 1)
	sharedNoVol.Shared = &mesos.Resource_SharedInfo{}
	for name, pb := range map[string]*mesos.Resource{
		"empty name":      sc("", 1),
		"zero":            sc("cpus", 0),
		"negative":        sc("cpus", -1),
		"nan":             sc("cpus", math.NaN()),
		"inf":             sc("cpus", math.Inf(1)),
		"no type":         {Name: proto.String("cpus")},
		"no scalar":       {Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum()},
		"text":            {Name: proto.String("x"), Type: mesos.Value_TEXT.Enum()},
		"begin>end":       rg(5, 1),
		"overlap":         rg(1, 5, 3, 8),
		"dup set":         {Name: proto.String("s"), Type: mesos.Value_SET.Enum(), Set: &mesos.Value_Set{Item: []string{"a", "a"}}},
		"bad refinement":  refined,
		"mixed formats":   mixed,
		"shared non-disk": sharedNoVol,
	} {
		if _, err := FromProto([]*mesos.Resource{pb}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

// gen is a random Resources value over a small pool of identities, so that
// random pairs overlap often.
type gen struct{ R Resources }

func (gen) Generate(rnd *rand.Rand, _ int) reflect.Value {
	var specs []string
	pick := func(p float64) bool { return rnd.Float64() < p }
	if pick(0.7) {
		specs = append(specs, "cpus:"+scalarText(rnd))
	}
	if pick(0.5) {
		specs = append(specs, "mem:"+scalarText(rnd))
	}
	if pick(0.3) {
		specs = append(specs, "cpus(eng):"+scalarText(rnd))
	}
	if pick(0.5) {
		var parts []string
		for range 1 + rnd.Intn(3) {
			b := uint64(rnd.Intn(100))
			parts = append(parts, itoa(b)+"-"+itoa(b+uint64(rnd.Intn(10))))
		}
		for _, p := range parts { // separate tokens: overlapping ones add up
			specs = append(specs, "ports:["+p+"]")
		}
	}
	if pick(0.3) {
		items := []string{"a", "b", "c", "d"}
		rnd.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		specs = append(specs, "zones:{"+strings.Join(items[:1+rnd.Intn(3)], ",")+"}")
	}
	r := MustParse(strings.Join(specs, ";"))
	if pick(0.2) {
		r = r.Add(MustParse("cpus:1").Filter(func(Resource) bool { return true }).AllocatedTo("web"))
	}
	return reflect.ValueOf(gen{r})
}

func scalarText(rnd *rand.Rand) string {
	return Scalar(1 + rnd.Intn(100000)).String()
}

func itoa(v uint64) string { return Scalar(v * 1000).String() }

func TestProperties(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	props := map[string]any{
		"a+b-b == a": func(a, b gen) bool {
			// Holds when b's ranges/sets do not overlap a's; in general
			// (a+b)-b ⊆ a. Check the exact law on disjoint-free scalars
			// and the containment law always.
			s := a.R.Add(b.R).Subtract(b.R)
			return a.R.Contains(s) && a.R.Scalars().Equal(a.R.Add(b.R).Subtract(b.R).Scalars())
		},
		"a+b contains a and b": func(a, b gen) bool {
			s := a.R.Add(b.R)
			return s.Contains(a.R) && s.Contains(b.R)
		},
		"add commutes": func(a, b gen) bool { return a.R.Add(b.R).Equal(b.R.Add(a.R)) },
		"a-b+b contains a when b ⊆ a": func(a, b gen) bool {
			if !a.R.Contains(b.R) {
				return true
			}
			return a.R.Subtract(b.R).Add(b.R).Equal(a.R)
		},
		"contains is reflexive, empty is contained": func(a gen) bool {
			return a.R.Contains(a.R) && a.R.Contains(Resources{}) && a.R.Subtract(a.R).IsEmpty()
		},
		"canonical": func(a, b gen) bool {
			return canonical(a.R.Add(b.R)) && canonical(a.R.Subtract(b.R))
		},
		"proto round trip": func(a gen) bool {
			r, err := FromProto(a.R.ToProto())
			return err == nil && r.Equal(a.R)
		},
		"quantities add": func(a, b gen) bool {
			return a.R.Add(b.R).Quantities().Equal(a.R.Quantities().Add(b.R.Quantities()))
		},
	}
	for name, f := range props {
		if err := quick.Check(f, cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func canonical(r Resources) bool {
	for i, e := range r.e {
		if e.empty() || (i > 0 && cmpID(r.e[i-1].id, e.id) >= 0) {
			return false
		}
		for k := 1; k < len(e.ranges); k++ {
			if e.ranges[k].Begin <= e.ranges[k-1].End+1 {
				return false
			}
		}
		for k := 1; k < len(e.set); k++ {
			if e.set[k] <= e.set[k-1] {
				return false
			}
		}
	}
	return true
}

func TestRangesOps(t *testing.T) {
	cfg := &quick.Config{MaxCount: 3000}
	// Compare range arithmetic with a bitmap model over [0,64).
	toRanges := func(bits uint64) Ranges {
		var rs []Range
		for i := uint64(0); i < 64; i++ {
			if bits&(1<<i) != 0 {
				rs = append(rs, Range{i, i})
			}
		}
		return coalesce(rs)
	}
	toBits := func(rs Ranges) uint64 {
		var b uint64
		for _, r := range rs {
			for i := r.Begin; i <= r.End; i++ {
				b |= 1 << i
			}
		}
		return b
	}
	f := func(a, b uint64) bool {
		ra, rb := toRanges(a), toRanges(b)
		return toBits(addRanges(ra, rb)) == a|b &&
			toBits(subRanges(ra, rb)) == a&^b &&
			containsRanges(ra, rb) == (b&^a == 0) &&
			reflect.DeepEqual(addRanges(ra, rb), toRanges(a|b)) &&
			reflect.DeepEqual(subRanges(ra, rb), toRanges(a&^b))
	}
	if err := quick.Check(f, cfg); err != nil {
		t.Fatal(err)
	}
	// Edges at the top of the uint64 space.
	top := Ranges{{math.MaxUint64 - 1, math.MaxUint64}}
	if got := subRanges(top, Ranges{{math.MaxUint64, math.MaxUint64}}); !reflect.DeepEqual(got, Ranges{{math.MaxUint64 - 1, math.MaxUint64 - 1}}) {
		t.Fatalf("top edge: %v", got)
	}
	if got := addRanges(top, Ranges{{0, 1}}); len(got) != 2 {
		t.Fatalf("add at top: %v", got)
	}
}

func TestQuantities(t *testing.T) {
	q, err := ParseQuantities("cpus:0.01;mem:32;foo:2")
	if err != nil {
		t.Fatal(err)
	}
	have := MustParse("cpus:1;mem:64;foo:3").Quantities()
	if !have.Contains(q) || q.Contains(have) {
		t.Fatal("Contains")
	}
	if got := have.Sub(q).Get("foo"); got != 1000 {
		t.Fatalf("Sub foo = %v", got)
	}
	if got := have.Sub(have); !got.IsZero() {
		t.Fatalf("Sub self = %v", got)
	}
	total := MustParse("cpus:10;mem:100").Quantities()
	if got := MustParse("cpus:1;mem:50").Quantities().DominantShare(total); got != 0.5 {
		t.Fatalf("DominantShare = %v", got)
	}
	if _, err := ParseQuantities("cpus:-1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative quantity: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"cpus:2;mem:1024;disk:4096;ports:[31000-32000];gpus:1", "cpus(eng):4", "zones:{a,b}", "ports:[1-5,3-8]", "cpus:-1", `[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if !canonical(r) {
			t.Fatalf("not canonical: %v", r)
		}
		back, err := FromProto(r.ToProto())
		if err != nil || !back.Equal(r) {
			t.Fatalf("proto round trip of %q: %v %v", s, back, err)
		}
		if !r.Contains(r) || !r.Subtract(r).IsEmpty() {
			t.Fatalf("self laws fail for %v", r)
		}
	})
}
