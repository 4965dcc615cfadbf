package agent

import (
	"os"
	"testing"

	"github.com/mesosd/mesosd/agent/containerizer/fake"
	"github.com/mesosd/mesosd/internal/resources"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func checkpointEv(r resources.Resources) *mesosdpb.AgentEvent {
	return &mesosdpb.AgentEvent{
		Type:                mesosdpb.AgentEvent_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &mesosdpb.AgentEvent_CheckpointResources{Resources: r.ToProto()},
	}
}

func TestCheckpointResourcesAndVolumes(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	dir := t.TempDir()
	cfg := testConfig(dir, m.addr())
	ta := startAgent(t, cfg, cz)
	s := m.waitStream(t)

	dyn := resources.Reservation{Type: resources.ReservationDynamic, Role: "eng/db", Principal: "p"}
	cpus, err := resources.MustParse("cpus:1").PushReservation(dyn)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := resources.New(resources.Resource{Name: "disk", Kind: resources.KindScalar, Scalar: 1000 * resources.ScalarUnit,
		Reservations: []resources.Reservation{dyn},
		Disk:         &resources.DiskInfo{PersistenceID: "v1", HasVolume: true, VolumeContainerPath: "data", VolumeMode: resources.VolumeRW}})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := cpus.Add(vol)
	// Resources the agent does not have are refused (nothing stored).
	m.send(s, checkpointEv(resources.MustParse("cpus:64").Add(reserveAll(t, "cpus:64", dyn))))
	m.send(s, checkpointEv(ckpt))
	volDir := VolumePath(dir, "eng/db", "v1")
	eventually(t, "the volume directory exists", func() bool {
		st, err := os.Stat(volDir)
		return err == nil && st.IsDir()
	})
	if volDir != dir+"/volumes/roles/eng db/v1" {
		t.Fatalf("volume path %q", volDir)
	}
	ta.stop(t)

	// After a restart the agent registers with the reservations applied.
	startAgent(t, cfg, cz)
	s = m.waitStream(t)
	got, err := resources.FromProto(s.sub.GetInfo().GetResources())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := resources.ApplyCheckpointed(resources.MustParse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]"), ckpt)
	if !got.Equal(want) {
		t.Fatalf("re-registered with %v, want %v", got, want)
	}
	if ck, _ := resources.FromProto(s.sub.GetCheckpointedResources()); !ck.Equal(ckpt) {
		t.Fatalf("checkpointed_resources %v, want %v", ck, ckpt)
	}

	// DESTROY: the directory goes.
	m.send(s, checkpointEv(cpus.Add(reserveAll(t, "disk:1000", dyn))))
	eventually(t, "the destroyed volume's directory is removed", func() bool {
		_, err := os.Stat(volDir)
		return os.IsNotExist(err)
	})
}

func reserveAll(t *testing.T, s string, rv resources.Reservation) resources.Resources {
	t.Helper()
	r, err := resources.MustParse(s).PushReservation(rv)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
