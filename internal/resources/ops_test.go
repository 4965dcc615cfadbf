package resources

import (
	"errors"
	"testing"
)

func dyn(role, principal string) Reservation {
	return Reservation{Type: ReservationDynamic, Role: role, Principal: principal}
}

func volume(t *testing.T, mb Scalar, id string, rs ...Reservation) Resources {
	t.Helper()
	v, err := New(Resource{Name: Disk, Kind: KindScalar, Scalar: mb * ScalarUnit, Reservations: rs,
		Disk: &DiskInfo{PersistenceID: id, HasVolume: true, VolumeContainerPath: "data", VolumeMode: VolumeRW}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReservationOps(t *testing.T) {
	total := MustParse("cpus:4;mem:1024;disk:2048;cpus(eng):1")
	reserved, err := MustParse("cpus:2;disk:1024").PushReservation(dyn("eng", "p"))
	if err != nil {
		t.Fatal(err)
	}
	popped, err := reserved.PopReservation()
	if err != nil || !popped.Equal(MustParse("cpus:2;disk:1024")) {
		t.Fatalf("pop: %v %v", popped, err)
	}
	after, err := total.Convert(popped, reserved)
	if err != nil {
		t.Fatal(err)
	}
	if after.Unreserved().CPUs() != 2 || after.Reserved("eng").CPUs() != 3 || after.Disk() != 2048 {
		t.Fatalf("after RESERVE: %v", after)
	}
	if got := after.Checkpointed(); !got.Equal(reserved) {
		t.Fatalf("Checkpointed = %v, want %v (the static cpus(eng) is not checkpointed)", got, reserved)
	}
	// Reserving more than there is fails and changes nothing.
	if _, err := total.Convert(MustParse("cpus:5"), MustParse("cpus(eng):5")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("over-reserve: %v", err)
	}
	// Popping an unreserved resource fails.
	if _, err := MustParse("cpus:1").PopReservation(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pop unreserved: %v", err)
	}
	// A refinement must refine the current role.
	if _, err := MustParse("cpus(eng):1").PushReservation(dyn("ops", "")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad refinement: %v", err)
	}
	if r, err := MustParse("cpus(eng):1").PushReservation(dyn("eng/a", "")); err != nil || r.Reserved("eng/a").CPUs() != 1 {
		t.Fatalf("refinement: %v %v", r, err)
	}

	// CREATE and DESTROY a volume on reserved disk.
	rdisk, _ := MustParse("disk:1024").PushReservation(dyn("eng", "p"))
	vol := volume(t, 1024, "v1", dyn("eng", "p"))
	if got := vol.StripPersistence(); !got.Equal(rdisk) {
		t.Fatalf("StripPersistence = %v, want %v", got, rdisk)
	}
	withVol, err := after.Convert(vol.StripPersistence(), vol)
	if err != nil {
		t.Fatal(err)
	}
	if got := withVol.PersistentVolumes(); !got.Equal(vol) {
		t.Fatalf("volumes = %v", got)
	}
	// A volume is consumed only as a whole.
	if withVol.Contains(volume(t, 512, "v1", dyn("eng", "p"))) {
		t.Fatal("half a volume is contained")
	}
	back, err := withVol.Convert(vol, vol.StripPersistence())
	if err != nil || !back.Equal(after) {
		t.Fatalf("DESTROY: %v %v", back, err)
	}
	if got := vol.StripCheckpointed(); !got.Equal(MustParse("disk:1024")) {
		t.Fatalf("StripCheckpointed = %v", got)
	}
}

func TestApplyCheckpointed(t *testing.T) {
	configured := MustParse("cpus:4;mem:1024;disk:2048;cpus(eng):1")
	r1, _ := MustParse("cpus:1").PushReservation(dyn("eng", ""))
	r2, _ := MustParse("cpus(eng):1").PushReservation(dyn("eng/a", ""))
	ckpt := r1.Add(r2).Add(volume(t, 512, "v1", dyn("eng", "")))
	total, err := ApplyCheckpointed(configured, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if !total.Checkpointed().Equal(ckpt) {
		t.Fatalf("checkpointed of total = %v, want %v", total.Checkpointed(), ckpt)
	}
	if total.Unreserved().CPUs() != 3 || total.Unreserved().Disk() != 1536 || total.CPUs() != 5 {
		t.Fatalf("total = %v", total)
	}
	// Round trip: stripping the checkpointed resources gives the configured ones.
	if got := total.Subtract(ckpt).Add(ckpt.StripCheckpointed()); !got.Equal(configured) {
		t.Fatalf("strip = %v, want %v", got, configured)
	}
	// An agent restarted with fewer resources cannot apply them.
	if _, err := ApplyCheckpointed(MustParse("cpus:1;mem:1024"), ckpt); !errors.Is(err, ErrInvalid) {
		t.Fatalf("apply on too small an agent: %v", err)
	}
}
