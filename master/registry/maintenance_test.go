package registry

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/maintenance"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func mid(host, ip string) *mesos.MachineID {
	id := &mesos.MachineID{}
	if host != "" {
		id.Hostname = proto.String(host)
	}
	if ip != "" {
		id.Ip = proto.String(ip)
	}
	return id
}

func window(startNs, durNs int64, ids ...*mesos.MachineID) *maintenance.Window {
	return &maintenance.Window{MachineIds: ids, Unavailability: &mesos.Unavailability{
		Start:    &mesos.TimeInfo{Nanoseconds: proto.Int64(startNs)},
		Duration: &mesos.DurationInfo{Nanoseconds: proto.Int64(durNs)},
	}}
}

func scheduleCmd(ws ...*maintenance.Window) *pb.Command {
	return &pb.Command{Kind: &pb.Command_UpdateMaintenanceSchedule{UpdateMaintenanceSchedule: &pb.UpdateMaintenanceSchedule{
		Schedule: &maintenance.Schedule{Windows: ws}}}}
}

func startCmd(ids ...*mesos.MachineID) *pb.Command {
	return &pb.Command{Kind: &pb.Command_StartMaintenance{StartMaintenance: &pb.StartMaintenance{Machines: ids}}}
}

func stopCmd(ids ...*mesos.MachineID) *pb.Command {
	return &pb.Command{Kind: &pb.Command_StopMaintenance{StopMaintenance: &pb.StopMaintenance{Machines: ids}}}
}

func drainCmd(agent string, graceNs int64) *pb.Command {
	cfg := &mesos.DrainConfig{}
	if graceNs > 0 {
		cfg.MaxGracePeriod = &mesos.DurationInfo{Nanoseconds: proto.Int64(graceNs)}
	}
	return &pb.Command{Kind: &pb.Command_DrainAgent{DrainAgent: &pb.DrainAgent{AgentId: aid(agent), Config: cfg}}}
}

func drainedCmd(agent string) *pb.Command {
	return &pb.Command{Kind: &pb.Command_MarkAgentDrained{MarkAgentDrained: &pb.MarkAgentDrained{AgentId: aid(agent)}}}
}

func maintenanceHistory() []*pb.Command {
	return []*pb.Command{
		cmd(1, &pb.AdmitAgent{Info: agentInfo("a-S0")}),
		scheduleCmd(window(100, 50, mid("Host1", ""), mid("host2", "10.0.0.2")), window(200, 10, mid("", "10.0.0.3"))),
		startCmd(mid("host1", "")),
		drainCmd("a-S0", 5e9),
		drainedCmd("a-S0"),
		// host1 stays (it is DOWN), host2 leaves, host4 joins.
		scheduleCmd(window(100, 60, mid("host1", "")), window(300, 0, mid("", "10.0.0.3"), mid("host4", ""))),
		startCmd(mid("", "10.0.0.3")),
		stopCmd(mid("HOST1", "")),
	}
}

func TestMaintenanceLifecycle(t *testing.T) {
	r := New()
	cmds := maintenanceHistory()
	applyAll(t, r, cmds[:3])
	ms := r.Machines()
	if len(ms) != 3 {
		t.Fatalf("machines = %v", ms)
	}
	modes := map[string]mesos.MachineInfo_Mode{}
	for _, mi := range ms {
		modes[MachineKey(mi.GetId())] = mi.GetMode()
	}
	if modes[MachineKey(mid("host1", ""))] != mesos.MachineInfo_DOWN ||
		modes[MachineKey(mid("host2", "10.0.0.2"))] != mesos.MachineInfo_DRAINING ||
		modes[MachineKey(mid("", "10.0.0.3"))] != mesos.MachineInfo_DRAINING {
		t.Fatalf("modes = %v", modes)
	}
	if got := ms[0].GetId().GetHostname(); got != "" && got != "host1" && got != "host2" {
		t.Fatalf("hostnames must be lower-cased, got %q", got)
	}
	if mi, _ := r.Machine(mid("HOST1", "")); mi.GetUnavailability().GetDuration().GetNanoseconds() != 50 {
		t.Fatalf("host1 unavailability = %v", mi.GetUnavailability())
	}
	for i, c := range cmds[3:] {
		if err := r.Apply(uint64(4+i), c); err != nil {
			t.Fatalf("apply #%d: %v", 4+i, err)
		}
	}
	if d := r.AgentDrain("a-S0"); d.GetState() != mesos.DrainState_DRAINED || d.GetConfig().GetMaxGracePeriod().GetNanoseconds() != 5e9 {
		t.Fatalf("drain = %v", d)
	}
	// host1 stopped: gone from machines and schedule; 10.0.0.3 DOWN, host4 DRAINING.
	if _, ok := r.Machine(mid("host1", "")); ok {
		t.Fatal("host1 still scheduled after STOP")
	}
	if mi, _ := r.Machine(mid("", "10.0.0.3")); mi.GetMode() != mesos.MachineInfo_DOWN || mi.GetUnavailability().GetStart().GetNanoseconds() != 300 {
		t.Fatalf("10.0.0.3 = %v", mi)
	}
	if mi, _ := r.Machine(mid("host4", "")); mi.GetMode() != mesos.MachineInfo_DRAINING {
		t.Fatalf("host4 = %v", mi)
	}
	if _, ok := r.Machine(mid("host2", "10.0.0.2")); ok {
		t.Fatal("host2 left the schedule but is still a machine")
	}
	s := r.Schedule()
	if len(s.GetWindows()) != 1 || len(s.GetWindows()[0].GetMachineIds()) != 2 {
		t.Fatalf("schedule = %v", s)
	}
}

func TestMaintenanceDeterministicAndSnapshot(t *testing.T) {
	a, b := New(), New()
	applyAll(t, a, maintenanceHistory())
	applyAll(t, b, maintenanceHistory())
	sa, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := b.Snapshot()
	if string(sa) != string(sb) {
		t.Fatal("two replicas applying the same commands differ")
	}
	// Snapshot half-way, restore, apply the rest: same result.
	h := maintenanceHistory()
	c := New()
	applyAll(t, c, h[:4])
	snap, _ := c.Snapshot()
	d, err := Restore(4, snap)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range h[4:] {
		if err := d.Apply(uint64(5+i), x); err != nil {
			t.Fatalf("apply after restore #%d: %v", 5+i, err)
		}
	}
	sd, _ := d.Snapshot()
	if string(sd) != string(sa) {
		t.Fatalf("restored replica differs:\n%v\n%v", d.Proto(), a.Proto())
	}
	if !proto.Equal(d.Proto(), a.Proto()) {
		t.Fatal("protos differ")
	}
}

func TestMaintenanceValidation(t *testing.T) {
	setup := func(t *testing.T) *Registry {
		r := New()
		applyAll(t, r, []*pb.Command{
			cmd(1, &pb.AdmitAgent{Info: agentInfo("a-S0")}),
			scheduleCmd(window(100, 50, mid("up1", ""), mid("down1", ""))),
			startCmd(mid("down1", "")),
		})
		return r
	}
	cases := []struct {
		name string
		cmd  *pb.Command
	}{
		{"empty window", scheduleCmd(window(1, 1), window(1, 1, mid("down1", "")))},
		{"machine without hostname or ip", scheduleCmd(window(1, 1, mid("down1", ""), &mesos.MachineID{}))},
		{"bad ip", scheduleCmd(window(1, 1, mid("down1", ""), mid("h", "not-an-ip")))},
		{"ipv6", scheduleCmd(window(1, 1, mid("down1", ""), mid("h", "::1")))},
		{"machine in two windows", scheduleCmd(window(1, 1, mid("down1", ""), mid("x", "")), window(2, 1, mid("X", "")))},
		{"machine twice in a window", scheduleCmd(window(1, 1, mid("down1", ""), mid("x", ""), mid("x", "")))},
		{"negative duration", scheduleCmd(window(1, -1, mid("down1", "")))},
		{"window without unavailability", scheduleCmd(&maintenance.Window{MachineIds: []*mesos.MachineID{mid("down1", "")}})},
		{"down machine removed", scheduleCmd(window(1, 1, mid("up1", "")))},
		{"down machine removed by an empty schedule", scheduleCmd()},
		{"start of unscheduled machine", startCmd(mid("other", ""))},
		{"start of empty list", startCmd()},
		{"start twice in list", startCmd(mid("up1", ""), mid("up1", ""))},
		{"stop of draining machine", stopCmd(mid("up1", ""))},
		{"stop of unknown machine", stopCmd(mid("zzz", ""))},
		{"stop partly valid", stopCmd(mid("down1", ""), mid("up1", ""))},
		{"drain of unknown agent", drainCmd("nope", 0)},
		{"drained while not draining", drainedCmd("a-S0")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := setup(t)
			before, _ := r.Snapshot()
			err := r.Apply(10, tc.cmd)
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			r.appliedIndex = 3 // only the index may move
			after, _ := r.Snapshot()
			if string(before) != string(after) {
				t.Fatal("a rejected command changed the registry")
			}
		})
	}
}
