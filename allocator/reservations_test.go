package allocator_test

import (
	"errors"
	"testing"

	"github.com/mesosd/mesosd/allocator"
	at "github.com/mesosd/mesosd/allocator/allocatortest"
	"github.com/mesosd/mesosd/internal/resources"
)

func reserve(t *testing.T, s, role string) resources.Resources {
	t.Helper()
	r, err := resources.MustParse(s).PushReservation(resources.Reservation{Type: resources.ReservationDynamic, Role: role, Principal: "p"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDynamicReservationGoesOnlyToItsRole(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	h.AddAgents(at.Agent("a1", "cpus:4;mem:1024;disk:1024"))
	h.AddFrameworks(at.Framework("eng", "eng"))
	offers := h.Allocate()
	expect(t, offers, "eng@a1(eng): cpus:4; disk:1024; mem:1024")
	// RESERVE cpus:2;mem:512 of the offer to eng, then decline everything.
	from := resources.MustParse("cpus:2;mem:512")
	to := reserve(t, "cpus:2;mem:512", "eng")
	if err := h.UpdateAllocation(offers[0], from, to); err != nil {
		t.Fatal(err)
	}
	h.CheckInvariants()
	// Holding more than the offer is refused and changes nothing.
	if err := h.UpdateAllocation(offers[0], resources.MustParse("cpus:3"), reserve(t, "cpus:3", "eng")); !errors.Is(err, allocator.ErrInvalid) {
		t.Fatalf("over-reserve: %v", err)
	}
	h.CheckInvariants()
	held := offers[0].Resources.Subtract(from).Add(to)
	h.Decline(allocator.Offer{FrameworkID: "eng", AgentID: "a1", Role: "eng", Resources: held}, 0)
	h.CheckInvariants()

	// Another role sees only the unreserved part; eng gets its reservation.
	h.AddFrameworks(at.Framework("ops", "ops"))
	got := h.Allocate()
	expect(t, got, `
		eng@a1(eng): cpus:2; cpus(eng):2; disk:1024; mem:512; mem(eng):512`)
	h.Decline(got[0], 0)
	h.A.RemoveFramework("eng")
	expect(t, h.Allocate(), "ops@a1(ops): cpus:2; disk:1024; mem:512")
	h.CheckInvariants()
}

func TestVolumeOfferedBackOnlyToItsRole(t *testing.T) {
	h := at.NewHarness(t, allocator.Options{})
	h.AddAgents(at.Agent("a1", "cpus:1;mem:128;disk:1024"))
	h.AddFrameworks(at.Framework("ops", "ops").Inactive())
	rdisk := reserve(t, "disk:512", "eng")
	if err := h.UpdateAvailable("a1", resources.MustParse("disk:512"), rdisk); err != nil {
		t.Fatal(err)
	}
	vol, err := resources.New(resources.Resource{Name: "disk", Kind: resources.KindScalar, Scalar: 512 * resources.ScalarUnit,
		Reservations: []resources.Reservation{{Type: resources.ReservationDynamic, Role: "eng", Principal: "p"}},
		Disk:         &resources.DiskInfo{PersistenceID: "v1", HasVolume: true, VolumeContainerPath: "data", VolumeMode: resources.VolumeRW}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.UpdateAvailable("a1", rdisk, vol); err != nil {
		t.Fatal(err)
	}
	// Only what is available can be converted; nothing changes otherwise.
	if err := h.UpdateAvailable("a1", resources.MustParse("disk:1024"), reserve(t, "disk:1024", "eng")); !errors.Is(err, allocator.ErrInvalid) {
		t.Fatalf("convert unavailable: %v", err)
	}
	if err := h.UpdateAvailable("nope", rdisk, vol); !errors.Is(err, allocator.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	h.CheckInvariants()
	// A volume alone is not allocatable (min allocatable cpus or mem), so
	// eng sees it together with the unreserved resources.
	h.AddFrameworks(at.Framework("eng", "eng"))
	got := h.Allocate()
	expect(t, got, "eng@a1(eng): cpus:1; disk:512; disk(eng)[v1]:512; mem:128")
	h.Decline(got[0], 0)
	if err := h.A.RemoveFramework("eng"); err != nil {
		t.Fatal(err)
	}
	if err := h.A.ActivateFramework("ops"); err != nil {
		t.Fatal(err)
	}
	expect(t, h.Allocate(), "ops@a1(ops): cpus:1; disk:512; mem:128")
	h.CheckInvariants()
}
