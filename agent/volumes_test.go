package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/containerizer/fake"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func volumeResource(t *testing.T, role, id, containerPath string, mode resources.VolumeMode) resources.Resources {
	t.Helper()
	r, err := resources.New(resources.Resource{Name: "disk", Kind: resources.KindScalar, Scalar: 100 * resources.ScalarUnit,
		Reservations: []resources.Reservation{{Type: resources.ReservationDynamic, Role: role, Principal: "p"}},
		Disk:         &resources.DiskInfo{PersistenceID: id, HasVolume: true, VolumeContainerPath: containerPath, VolumeMode: mode}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withTask edits the TaskInfo of a RUN_TASK event.
func withTask(ev *mesosdpb.AgentEvent, f func(*mesos.TaskInfo)) *mesosdpb.AgentEvent {
	f(ev.GetRunTask().GetTask())
	return ev
}

func TestTaskVolumesAreMounted(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	dir := t.TempDir()
	startAgent(t, testConfig(dir, m.addr()), cz)
	s := m.waitStream(t)

	rw := volumeResource(t, "eng", "v-rw", "data", resources.VolumeRW)
	ro := volumeResource(t, "eng", "v-ro", "conf/ro", resources.VolumeRO)
	m.send(s, checkpointEv(rw.Add(ro)))
	eventually(t, "the volume directories exist", func() bool {
		_, err1 := os.Stat(VolumePath(dir, "eng", "v-rw"))
		_, err2 := os.Stat(VolumePath(dir, "eng", "v-ro"))
		return err1 == nil && err2 == nil
	})

	m.send(s, withTask(runTask(frameworkInfo(), "t1", nil), func(ti *mesos.TaskInfo) {
		ti.Resources = append(ti.Resources, rw.Add(ro).ToProto()...)
		ti.Container = &mesos.ContainerInfo{
			Type: mesos.ContainerInfo_MESOS.Enum(),
			Volumes: []*mesos.Volume{{
				ContainerPath: proto.String("shared"),
				Mode:          mesos.Volume_RO.Enum(),
				Source: &mesos.Volume_Source{
					Type:        mesos.Volume_Source_SANDBOX_PATH.Enum(),
					SandboxPath: &mesos.Volume_Source_SandboxPath{Type: mesos.Volume_Source_SandboxPath_SELF.Enum(), Path: proto.String("out/shared")},
				},
			}},
		}
	}))
	m.expectUpdate(t, mesos.TaskState_TASK_STARTING)
	spec := cz.Launches()[0]
	want := []containerizer.Mount{
		{HostPath: VolumePath(dir, "eng", "v-ro"), ContainerPath: "conf/ro", ReadOnly: true},
		{HostPath: VolumePath(dir, "eng", "v-rw"), ContainerPath: "data"},
		{HostPath: filepath.Join(spec.SandboxDir, "out/shared"), ContainerPath: "shared", ReadOnly: true},
	}
	got := append([]containerizer.Mount(nil), spec.Mounts...)
	// Persistent volumes come in resource order; compare as a set.
	if len(got) == 3 && got[0].ContainerPath == "data" {
		got[0], got[1] = got[1], got[0]
	}
	if len(got) != len(want) {
		t.Fatalf("mounts = %+v, want %+v", spec.Mounts, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if fi, err := os.Stat(filepath.Join(spec.SandboxDir, "out/shared")); err != nil || !fi.IsDir() {
		t.Errorf("SANDBOX_PATH source not created: %v", err)
	}
}

func TestTaskVolumesRefused(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	dir := t.TempDir()
	startAgent(t, testConfig(dir, m.addr()), cz)
	s := m.waitStream(t)
	known := volumeResource(t, "eng", "v1", "data", resources.VolumeRW)
	m.send(s, checkpointEv(known))

	hostPath := func(ti *mesos.TaskInfo) {
		ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Volumes: []*mesos.Volume{{
			ContainerPath: proto.String("etc"), HostPath: proto.String("/etc"), Mode: mesos.Volume_RW.Enum(),
		}}}
	}
	hostPathSource := func(ti *mesos.TaskInfo) {
		ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Volumes: []*mesos.Volume{{
			ContainerPath: proto.String("root"), Mode: mesos.Volume_RW.Enum(),
			Source: &mesos.Volume_Source{Type: mesos.Volume_Source_HOST_PATH.Enum(),
				HostPath: &mesos.Volume_Source_HostPath{Path: proto.String("/")}},
		}}}
	}
	sandboxPath := func(typ mesos.Volume_Source_SandboxPath_Type, p, cp string) func(*mesos.TaskInfo) {
		return func(ti *mesos.TaskInfo) {
			ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Volumes: []*mesos.Volume{{
				ContainerPath: proto.String(cp), Mode: mesos.Volume_RW.Enum(),
				Source: &mesos.Volume_Source{Type: mesos.Volume_Source_SANDBOX_PATH.Enum(),
					SandboxPath: &mesos.Volume_Source_SandboxPath{Type: typ.Enum(), Path: proto.String(p)}},
			}}}
		}
	}
	withVolume := func(r resources.Resources) func(*mesos.TaskInfo) {
		return func(ti *mesos.TaskInfo) { ti.Resources = append(ti.Resources, r.ToProto()...) }
	}
	var seen [][]byte
	for i, tc := range []struct {
		edit func(*mesos.TaskInfo)
		want string
	}{
		{hostPath, "host_path volumes are disabled for safety"},
		{hostPathSource, "host_path volumes are disabled for safety"},
		{sandboxPath(mesos.Volume_Source_SandboxPath_PARENT, "x", "y"), "only SELF"},
		{sandboxPath(mesos.Volume_Source_SandboxPath_SELF, "../x", "y"), "must not contain '..'"},
		{sandboxPath(mesos.Volume_Source_SandboxPath_SELF, "/etc", "y"), "must be relative"},
		{sandboxPath(mesos.Volume_Source_SandboxPath_SELF, "x", "../y"), "must not contain '..'"},
		{withVolume(volumeResource(t, "eng", "nope", "data", resources.VolumeRW)), "does not exist on this agent"},
		{withVolume(volumeResource(t, "eng", "v1", "/abs", resources.VolumeRW)), "must be relative"},
	} {
		id := "bad" + string(rune('a'+i))
		m.send(s, withTask(runTask(frameworkInfo(), id, nil), tc.edit))
		// Skip late retries of the updates acknowledged before.
		u := m.expectUpdate(t, mesos.TaskState_TASK_ERROR, seen...)
		seen = append(seen, u.GetStatus().GetUuid())
		st := u.GetStatus()
		if st.GetTaskId().GetValue() != id || st.GetReason() != mesos.TaskStatus_REASON_TASK_INVALID || !strings.Contains(st.GetMessage(), tc.want) {
			t.Errorf("case %d: update %v, want TASK_ERROR/TASK_INVALID with %q", i, st, tc.want)
		}
		m.send(s, ack(s, u))
	}
	if n := len(cz.Launches()); n != 0 {
		t.Fatalf("%d containers launched for refused tasks", n)
	}
}

func TestHostPathVolumesWhenAllowed(t *testing.T) {
	m := newFakeMaster(t)
	cz := fake.New()
	cfg := testConfig(t.TempDir(), m.addr())
	cfg.AllowHostPathVolumes = true
	startAgent(t, cfg, cz)
	s := m.waitStream(t)
	host := t.TempDir()
	// Even when allowed: nothing in the work dir, no writable parent of it.
	var seen [][]byte
	for i, tc := range []struct {
		hp   string
		mode mesos.Volume_Mode
	}{{cfg.WorkDir + "/meta", mesos.Volume_RO}, {cfg.WorkDir, mesos.Volume_RO}, {"/", mesos.Volume_RW}, {filepath.Dir(cfg.WorkDir), mesos.Volume_RW}} {
		id := "wd" + string(rune('a'+i))
		m.send(s, withTask(runTask(frameworkInfo(), id, nil), func(ti *mesos.TaskInfo) {
			ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Volumes: []*mesos.Volume{
				{ContainerPath: proto.String("x"), HostPath: proto.String(tc.hp), Mode: tc.mode.Enum()}}}
		}))
		// Skip late retries of the updates acknowledged before.
		u := m.expectUpdate(t, mesos.TaskState_TASK_ERROR, seen...)
		seen = append(seen, u.GetStatus().GetUuid())
		if u.GetStatus().GetTaskId().GetValue() != id || !strings.Contains(u.GetStatus().GetMessage(), "overlaps the agent's work_dir") {
			t.Errorf("%+v: %v", tc, u.GetStatus())
		}
		m.send(s, ack(s, u))
	}
	// (Refused first: the running task's unacknowledged updates would be
	// retried in between.)
	m.send(s, withTask(runTask(frameworkInfo(), "t1", nil), func(ti *mesos.TaskInfo) {
		ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Volumes: []*mesos.Volume{
			{ContainerPath: proto.String("legacy"), HostPath: proto.String(host), Mode: mesos.Volume_RO.Enum()},
			{ContainerPath: proto.String("/tmp/src"), Mode: mesos.Volume_RW.Enum(),
				Source: &mesos.Volume_Source{Type: mesos.Volume_Source_HOST_PATH.Enum(),
					HostPath: &mesos.Volume_Source_HostPath{Path: proto.String(host + "/")}}},
		}}
	}))
	m.expectUpdate(t, mesos.TaskState_TASK_STARTING, seen...)
	got := cz.Launches()[0].Mounts
	want := []containerizer.Mount{
		{HostPath: host, ContainerPath: "legacy", ReadOnly: true},
		{HostPath: host, ContainerPath: "/tmp/src"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("mounts = %+v, want %+v", got, want)
	}
}
