package drf

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/mesosd/mesosd/internal/resources"
)

// TestIncrementalMatchesFullSort checks that the incrementally maintained
// order always equals a from-scratch sort by (share, name, handle).
func TestIncrementalMatchesFullSort(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	s := New()
	s.AddTotal(resources.MustParse("cpus:100;mem:1000").Quantities())
	names := []string{"c", "a", "b", "e", "d", "f", "g", "h"}
	for i, n := range names {
		s.Add(i, n)
		s.Activate(i)
	}
	unit := []resources.Quantities{
		resources.MustParse("cpus:1").Quantities(),
		resources.MustParse("mem:7").Quantities(),
		resources.MustParse("cpus:2;mem:3").Quantities(),
	}
	for step := range 5000 {
		id := rnd.IntN(len(names))
		q := unit[rnd.IntN(len(unit))]
		switch rnd.IntN(6) {
		case 0, 1:
			s.Allocated(id, q)
		case 2:
			s.Unallocated(id, q)
		case 3:
			s.Deactivate(id)
		case 4:
			s.Activate(id)
		case 5:
			if rnd.IntN(20) == 0 {
				s.AddTotal(q)
			}
		}
		if rnd.IntN(3) > 0 {
			continue // let dirt accumulate
		}
		got := slices.Clone(s.Sort())
		var want []int
		for i := range names {
			if s.clients[i].active {
				want = append(want, i)
			}
		}
		sort.Slice(want, func(x, y int) bool {
			a, b := want[x], want[y]
			if sa, sb := s.Share(a), s.Share(b); sa != sb {
				return sa < sb
			}
			if names[a] != names[b] {
				return names[a] < names[b]
			}
			return a < b
		})
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: sorted %v, want %v", step, got, want)
		}
	}
}

func TestWeights(t *testing.T) {
	s := New()
	s.AddTotal(resources.MustParse("cpus:10").Quantities())
	s.Add(0, "a")
	s.Add(1, "b")
	s.Activate(0)
	s.Activate(1)
	s.Allocated(0, resources.MustParse("cpus:4").Quantities())
	s.Allocated(1, resources.MustParse("cpus:3").Quantities())
	if got := s.Sort(); !slices.Equal(got, []int{1, 0}) {
		t.Fatalf("unweighted order %v", got)
	}
	s.UpdateWeight(0, 2) // a: 0.4/2 = 0.2 < b: 0.3
	if got := s.Sort(); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("weighted order %v", got)
	}
}

// BenchmarkSorter_DRF is perf-anchors B10: add allocations for N agents
// over C clients, sort, then remove them.
func BenchmarkSorter_DRF(b *testing.B) {
	const agents, clients = 50000, 1000
	q := resources.MustParse("cpus:1;mem:512").Quantities()
	b.ReportAllocs()
	for b.Loop() {
		s := New()
		for range agents {
			s.AddTotal(resources.MustParse("cpus:2;mem:1024").Quantities())
		}
		for c := range clients {
			s.Add(c, string(rune('a'+c%26))+string(rune(c)))
			s.Activate(c)
		}
		for i := range agents {
			s.Allocated(i%clients, q)
			s.Sort()
		}
		for i := range agents {
			s.Unallocated(i%clients, q)
			s.Sort()
		}
	}
}

// TestRemoveDirtyAndReuseSlot removes a client with a pending share change
// and lets another handle take its storage: neither may confuse Sort.
func TestRemoveDirtyAndReuseSlot(t *testing.T) {
	s := New()
	s.AddTotal(resources.MustParse("cpus:10").Quantities())
	for _, id := range []int{5, 900, 7} {
		s.Add(id, string(rune('a'+id%26)))
		s.Activate(id)
	}
	s.Sort()
	s.Allocated(900, resources.MustParse("cpus:1").Quantities()) // dirty
	s.Remove(900)
	s.Add(3, "z")
	s.Activate(3)
	s.Allocated(5, resources.MustParse("cpus:2").Quantities())
	if got := s.Sort(); !slices.Equal(got, []int{7, 3, 5}) && !slices.Equal(got, []int{3, 7, 5}) {
		t.Fatalf("order %v", got)
	}
	if s.Contains(900) || !s.Contains(3) || s.Count() != 3 {
		t.Fatalf("contains/count wrong: %v %v %d", s.Contains(900), s.Contains(3), s.Count())
	}
}
