package allocator_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mesosd/mesosd/allocator"
	at "github.com/mesosd/mesosd/allocator/allocatortest"
	"github.com/mesosd/mesosd/internal/resources"
)

// TestFilterCacheMatchesReference drives the same random events (declines
// with refuse filters of several lengths, partial launches, revive,
// suppress, deactivation, removal, time passing) through an allocator with
// the filter cache and one without, and requires identical offers.
func TestFilterCacheMatchesReference(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 3))
			hs := [2]*at.Harness{at.NewHarness(t, allocator.Options{}), at.NewHarness(t, allocator.Options{})}
			allocator.DisableFilterCache(hs[1].A)
			var outstanding [2][]allocator.Offer
			nf := 0
			roles := []string{"*", "web", "web/api"}
			for i := range 6 {
				for _, h := range hs {
					h.AddAgents(at.Agent(fmt.Sprintf("a%d", i), "cpus:4;mem:4096"))
				}
			}
			for step := range 400 {
				op := rnd.IntN(10)
				fw := fmt.Sprintf("f%d", rnd.IntN(nf+1))
				refuse := []time.Duration{0, time.Second, time.Hour}[rnd.IntN(3)]
				pick := rnd.IntN(1 << 20)
				var got [2]string
				for i, h := range hs {
					switch {
					case op == 0 || nf == 0:
						h.AddFrameworks(at.Framework(fmt.Sprintf("f%d", nf), roles[nf%len(roles)]))
					case op <= 3 && len(outstanding[i]) > 0:
						j := pick % len(outstanding[i])
						o := outstanding[i][j]
						outstanding[i] = append(outstanding[i][:j], outstanding[i][j+1:]...)
						if op == 3 { // launch a little, decline the rest
							rest := o.Resources.Subtract(resources.MustParse("cpus:0.5;mem:100"))
							o.Resources = rest
						}
						if !o.Resources.IsEmpty() {
							h.Decline(o, refuse)
						}
					case op == 4:
						_ = h.A.Revive(fw, nil)
					case op == 5:
						_ = h.A.Suppress(fw, nil)
					case op == 6:
						_ = h.A.DeactivateFramework(fw)
					case op == 7:
						_ = h.A.ActivateFramework(fw)
					case op == 8:
						h.Advance(700 * time.Millisecond)
					}
					offers := h.Allocate()
					if step%7 == 0 {
						offers = append(offers, h.AllocatePending()...)
					}
					outstanding[i] = append(outstanding[i], offers...)
					got[i] = at.Format(offers)
				}
				if op == 0 || nf == 0 {
					nf++
				}
				if got[0] != got[1] {
					t.Fatalf("step %d op %d: with cache:\n%s\nwithout:\n%s", step, op, got[0], got[1])
				}
			}
		})
	}
}
