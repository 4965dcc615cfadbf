package registry

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

const masterUUID = "5d4e1f2a-0b6c-4c1e-9a51-7f3b2d8e9c10"

func agentInfo(id string) *mesos.AgentInfo {
	return &mesos.AgentInfo{Hostname: proto.String("host-" + id), Id: &mesos.AgentID{Value: proto.String(id)}}
}

func fwInfo(id string) *mesos.FrameworkInfo {
	return &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("fw"), Id: &mesos.FrameworkID{Value: proto.String(id)}}
}

func aid(id string) *mesos.AgentID     { return &mesos.AgentID{Value: proto.String(id)} }
func fid(id string) *mesos.FrameworkID { return &mesos.FrameworkID{Value: proto.String(id)} }

// Command constructors, stamped with a fixed time so tests are deterministic.
func cmd(t int64, k any) *pb.Command {
	c := &pb.Command{TimeNs: proto.Int64(t)}
	switch k := k.(type) {
	case *pb.Barrier:
		c.Kind = &pb.Command_Barrier{Barrier: k}
	case *pb.SetMasterInfo:
		c.Kind = &pb.Command_SetMasterInfo{SetMasterInfo: k}
	case *pb.AdmitAgent:
		c.Kind = &pb.Command_AdmitAgent{AdmitAgent: k}
	case *pb.UpdateAgent:
		c.Kind = &pb.Command_UpdateAgent{UpdateAgent: k}
	case *pb.MarkAgentUnreachable:
		c.Kind = &pb.Command_MarkAgentUnreachable{MarkAgentUnreachable: k}
	case *pb.MarkAgentReachable:
		c.Kind = &pb.Command_MarkAgentReachable{MarkAgentReachable: k}
	case *pb.MarkAgentGone:
		c.Kind = &pb.Command_MarkAgentGone{MarkAgentGone: k}
	case *pb.RemoveAgents:
		c.Kind = &pb.Command_RemoveAgents{RemoveAgents: k}
	case *pb.AddFramework:
		c.Kind = &pb.Command_AddFramework{AddFramework: k}
	case *pb.UpdateFramework:
		c.Kind = &pb.Command_UpdateFramework{UpdateFramework: k}
	case *pb.DisconnectFramework:
		c.Kind = &pb.Command_DisconnectFramework{DisconnectFramework: k}
	case *pb.ReconnectFramework:
		c.Kind = &pb.Command_ReconnectFramework{ReconnectFramework: k}
	case *pb.RemoveFramework:
		c.Kind = &pb.Command_RemoveFramework{RemoveFramework: k}
	case nil:
	default:
		panic(fmt.Sprintf("unknown command kind %T", k))
	}
	return c
}

var (
	agentS0 = masterUUID + "-S0"
	agentS7 = masterUUID + "-S7"
	fw0     = masterUUID + "-0000"
	fw3     = masterUUID + "-0003"
)

// history is a command sequence touching every kind; later tests replay it.
func history() []*pb.Command {
	return []*pb.Command{
		cmd(1, &pb.Barrier{MasterId: proto.String(masterUUID)}),
		cmd(2, &pb.SetMasterInfo{Info: &mesos.MasterInfo{Id: proto.String(masterUUID), Ip: proto.Uint32(1), Port: proto.Uint32(5050)}}),
		cmd(3, &pb.AdmitAgent{Info: agentInfo(agentS0)}),
		cmd(4, &pb.AdmitAgent{Info: agentInfo(agentS7)}),
		cmd(5, &pb.UpdateAgent{Info: &mesos.AgentInfo{Hostname: proto.String("renamed"), Id: aid(agentS0)}}),
		cmd(6, &pb.MarkAgentUnreachable{AgentId: aid(agentS7)}),
		cmd(7, &pb.MarkAgentReachable{AgentId: aid(agentS7)}),
		cmd(8, &pb.MarkAgentUnreachable{AgentId: aid(agentS7)}),
		cmd(9, &pb.MarkAgentGone{AgentId: aid(agentS0)}),
		cmd(10, &pb.AddFramework{Info: fwInfo(fw0)}),
		cmd(11, &pb.AddFramework{Info: fwInfo(fw3)}),
		cmd(12, &pb.UpdateFramework{Info: &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("renamed"), Id: fid(fw3)}}),
		cmd(13, &pb.DisconnectFramework{FrameworkId: fid(fw3), FailoverDeadlineNs: proto.Int64(99)}),
		cmd(14, &pb.ReconnectFramework{FrameworkId: fid(fw3)}),
		cmd(15, &pb.DisconnectFramework{FrameworkId: fid(fw3), FailoverDeadlineNs: proto.Int64(100)}),
		cmd(16, &pb.RemoveFramework{FrameworkId: fid(fw0)}),
		cmd(17, &pb.RemoveAgents{AgentIds: []*mesos.AgentID{aid(agentS0)}}),
	}
}

func applyAll(t *testing.T, r *Registry, cmds []*pb.Command) {
	t.Helper()
	for i, c := range cmds {
		if err := r.Apply(uint64(i+1), c); err != nil {
			t.Fatalf("apply #%d (%T): %v", i+1, c.Kind, err)
		}
	}
}

func TestApplyEachKind(t *testing.T) {
	r := New()
	applyAll(t, r, history())

	if got := r.AppliedIndex(); got != 17 {
		t.Errorf("AppliedIndex = %d, want 17", got)
	}
	if r.Master().GetId() != masterUUID {
		t.Errorf("Master().id = %q, want %q", r.Master().GetId(), masterUUID)
	}
	if _, ok := r.Agent(agentS0); ok {
		t.Errorf("agent %s still present after RemoveAgents", agentS0)
	}
	a7, ok := r.Agent(agentS7)
	if !ok || a7.GetState() != pb.RegistryAgent_UNREACHABLE || a7.GetStateTimeNs() != 8 {
		t.Errorf("agent S7 = %v, want UNREACHABLE at time 8", a7)
	}
	if r.NextAgentSeq() != 8 {
		t.Errorf("NextAgentSeq = %d, want 8 (bumped past -S7)", r.NextAgentSeq())
	}
	if r.NextFrameworkSeq() != 4 {
		t.Errorf("NextFrameworkSeq = %d, want 4 (bumped past -0003)", r.NextFrameworkSeq())
	}
	if !r.Completed(fw0) {
		t.Errorf("framework %s not completed after RemoveFramework", fw0)
	}
	if _, ok := r.Framework(fw0); ok {
		t.Errorf("removed framework %s still active", fw0)
	}
	f3, ok := r.Framework(fw3)
	if !ok || f3.GetInfo().GetName() != "renamed" || f3.GetFailoverDeadlineNs() != 100 || f3.GetRegisteredTimeNs() != 11 {
		t.Errorf("framework %s = %v, want name renamed, deadline 100, registered 11", fw3, f3)
	}
	if got := r.CompletedFrameworks(); len(got) != 1 || got[0] != fw0 {
		t.Errorf("CompletedFrameworks = %v, want [%s]", got, fw0)
	}
}

func TestReconnectClearsDeadline(t *testing.T) {
	r := New()
	applyAll(t, r, history()[:14])
	f, _ := r.Framework(fw3)
	if f.FailoverDeadlineNs != nil {
		t.Fatalf("failover deadline = %d after ReconnectFramework, want unset", f.GetFailoverDeadlineNs())
	}
}

func TestAgentStateTransitions(t *testing.T) {
	r := New()
	applyAll(t, r, history()[:4]) // both agents admitted
	a, _ := r.Agent(agentS0)
	if a.GetState() != pb.RegistryAgent_ADMITTED || a.GetStateTimeNs() != 3 {
		t.Fatalf("agent S0 = %v, want ADMITTED at 3", a)
	}
	// An unreachable agent may be admitted again (it comes back after the
	// registry entry says unreachable, e.g. with a fresh registration).
	if err := r.Apply(5, cmd(5, &pb.MarkAgentUnreachable{AgentId: aid(agentS0)})); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(6, cmd(6, &pb.AdmitAgent{Info: agentInfo(agentS0)})); err != nil {
		t.Fatalf("re-admitting an unreachable agent: %v", err)
	}
	if a, _ := r.Agent(agentS0); a.GetState() != pb.RegistryAgent_ADMITTED || a.GetStateTimeNs() != 6 {
		t.Fatalf("agent S0 = %v, want ADMITTED at 6", a)
	}
}

// Every rejected command returns ErrRejected and leaves the registry as it
// was (Proto() unchanged), on every replica alike.
func TestRejectionsChangeNothing(t *testing.T) {
	tests := []struct {
		name string
		cmd  *pb.Command
	}{
		{"empty command", cmd(50, nil)},
		{"admit without ID", cmd(50, &pb.AdmitAgent{Info: &mesos.AgentInfo{Hostname: proto.String("h")}})},
		{"admit twice", cmd(50, &pb.AdmitAgent{Info: agentInfo(agentS7)})},
		{"admit gone agent", cmd(50, &pb.AdmitAgent{Info: agentInfo(agentS0)})},
		{"update unknown agent", cmd(50, &pb.UpdateAgent{Info: agentInfo("nope")})},
		{"unreachable unknown agent", cmd(50, &pb.MarkAgentUnreachable{AgentId: aid("nope")})},
		{"unreachable gone agent", cmd(50, &pb.MarkAgentUnreachable{AgentId: aid(agentS0)})},
		{"reachable admitted agent", cmd(50, &pb.MarkAgentReachable{AgentId: aid(agentS7)})},
		{"gone twice", cmd(50, &pb.MarkAgentGone{AgentId: aid(agentS0)})},
		{"add framework without ID", cmd(50, &pb.AddFramework{Info: &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")}})},
		{"add framework twice", cmd(50, &pb.AddFramework{Info: fwInfo(fw3)})},
		{"add completed framework", cmd(50, &pb.AddFramework{Info: fwInfo(fw0)})},
		{"update unknown framework", cmd(50, &pb.UpdateFramework{Info: fwInfo("nope")})},
		{"update completed framework", cmd(50, &pb.UpdateFramework{Info: fwInfo(fw0)})},
		{"disconnect unknown framework", cmd(50, &pb.DisconnectFramework{FrameworkId: fid("nope"), FailoverDeadlineNs: proto.Int64(1)})},
		{"reconnect unknown framework", cmd(50, &pb.ReconnectFramework{FrameworkId: fid("nope")})},
		{"remove unknown framework", cmd(50, &pb.RemoveFramework{FrameworkId: fid("nope")})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			// The base: S7 admitted, S0 gone, fw3 active, fw0 completed.
			applyAll(t, r, history()[:4])
			for i, c := range []*pb.Command{
				cmd(5, &pb.MarkAgentGone{AgentId: aid(agentS0)}),
				cmd(6, &pb.AddFramework{Info: fwInfo(fw0)}),
				cmd(7, &pb.AddFramework{Info: fwInfo(fw3)}),
				cmd(8, &pb.RemoveFramework{FrameworkId: fid(fw0)}),
			} {
				if err := r.Apply(uint64(5+i), c); err != nil {
					t.Fatal(err)
				}
			}
			before := r.Proto()
			err := r.Apply(100, tc.cmd)
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Apply = %v, want an error wrapping ErrRejected", err)
			}
			if after := r.Proto(); !proto.Equal(before, after) {
				t.Fatalf("rejected command changed the registry:\nbefore %v\nafter  %v", before, after)
			}
			// The index still advances: the entry was consumed.
			if r.AppliedIndex() != 100 {
				t.Errorf("AppliedIndex = %d, want 100", r.AppliedIndex())
			}
		})
	}
}

func TestRemoveFrameworkIdempotent(t *testing.T) {
	r := New()
	applyAll(t, r, history())
	before := r.Proto()
	if err := r.Apply(100, cmd(100, &pb.RemoveFramework{FrameworkId: fid(fw0)})); err != nil {
		t.Fatalf("second RemoveFramework of a completed framework: %v, want nil (idempotent)", err)
	}
	if !proto.Equal(before, r.Proto()) {
		t.Fatalf("second RemoveFramework changed the registry")
	}
}

// A completed framework can never be added back, not even after the
// registry went through a snapshot and restore.
func TestCompletedFrameworkNeverComesBack(t *testing.T) {
	r := New()
	applyAll(t, r, history())
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(r.AppliedIndex(), snap)
	if err != nil {
		t.Fatal(err)
	}
	for name, reg := range map[string]*Registry{"live": r, "restored": r2} {
		if err := reg.Apply(200, cmd(200, &pb.AddFramework{Info: fwInfo(fw0)})); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: AddFramework of completed %s = %v, want ErrRejected", name, fw0, err)
		}
		if !reg.Completed(fw0) {
			t.Errorf("%s: Completed(%s) = false", name, fw0)
		}
	}
}

func TestIDCounters(t *testing.T) {
	tests := []struct {
		name               string
		cmds               []*pb.Command
		wantAgent, wantFwk uint64
	}{
		{"empty", nil, 0, 0},
		{"agent S7", []*pb.Command{cmd(1, &pb.AdmitAgent{Info: agentInfo(masterUUID + "-S7")})}, 8, 0},
		{"agent S12 then S3 keeps max", []*pb.Command{
			cmd(1, &pb.AdmitAgent{Info: agentInfo(masterUUID + "-S12")}),
			cmd(2, &pb.AdmitAgent{Info: agentInfo(masterUUID + "-S3")}),
		}, 13, 0},
		{"agent without -S suffix", []*pb.Command{cmd(1, &pb.AdmitAgent{Info: agentInfo("custom-agent")})}, 0, 0},
		{"framework 0003", []*pb.Command{cmd(1, &pb.AddFramework{Info: fwInfo(masterUUID + "-0003")})}, 0, 4},
		{"framework 0000", []*pb.Command{cmd(1, &pb.AddFramework{Info: fwInfo(masterUUID + "-0000")})}, 0, 1},
		{"framework 10000 (more than 4 digits)", []*pb.Command{cmd(1, &pb.AddFramework{Info: fwInfo(masterUUID + "-10000")})}, 0, 10001},
		{"framework with non-numeric ID", []*pb.Command{cmd(1, &pb.AddFramework{Info: fwInfo("marathon")})}, 0, 0},
		{"other master's prefix counts too", []*pb.Command{cmd(1, &pb.AddFramework{Info: fwInfo("a-b-c-0042")})}, 0, 43},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			applyAll(t, r, tc.cmds)
			if r.NextAgentSeq() != tc.wantAgent || r.NextFrameworkSeq() != tc.wantFwk {
				t.Errorf("NextAgentSeq, NextFrameworkSeq = %d, %d; want %d, %d", r.NextAgentSeq(), r.NextFrameworkSeq(), tc.wantAgent, tc.wantFwk)
			}
		})
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	for n := 0; n <= len(history()); n++ {
		r := New()
		applyAll(t, r, history()[:n])
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Restore(r.AppliedIndex(), snap)
		if err != nil {
			t.Fatalf("after %d commands: Restore: %v", n, err)
		}
		if !proto.Equal(r.Proto(), r2.Proto()) {
			t.Fatalf("after %d commands: restored registry differs:\noriginal %v\nrestored %v", n, r.Proto(), r2.Proto())
		}
		if r2.AppliedIndex() != r.AppliedIndex() {
			t.Fatalf("after %d commands: restored AppliedIndex = %d, want %d", n, r2.AppliedIndex(), r.AppliedIndex())
		}
		// The restored registry keeps working exactly like the original.
		next := cmd(99, &pb.AddFramework{Info: fwInfo(masterUUID + "-0009")})
		e1, e2 := r.Apply(uint64(n+1), next), r2.Apply(uint64(n+1), next)
		if (e1 == nil) != (e2 == nil) || !proto.Equal(r.Proto(), r2.Proto()) {
			t.Fatalf("after %d commands: original and restored diverge on the next command (%v vs %v)", n, e1, e2)
		}
	}
}

func TestRestoreGarbage(t *testing.T) {
	if _, err := Restore(1, []byte{0xff, 0xff, 0xff}); err == nil {
		t.Fatal("Restore of garbage succeeded")
	}
}

// Two replicas fed the same log, rejections included, end up identical.
func TestReplayDeterminism(t *testing.T) {
	cmds := history()
	// Interleave commands that get rejected: replicas must agree on those too.
	cmds = append(cmds,
		cmd(18, &pb.AddFramework{Info: fwInfo(fw0)}),
		cmd(19, &pb.MarkAgentReachable{AgentId: aid("nope")}),
		cmd(20, &pb.AdmitAgent{Info: agentInfo(masterUUID + "-S2")}),
	)
	a, b := New(), New()
	for i, c := range cmds {
		// Each replica decodes its own copy, as from the log.
		data, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var ca, cb pb.Command
		if err := proto.Unmarshal(data, &ca); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(data, &cb); err != nil {
			t.Fatal(err)
		}
		ea, eb := a.Apply(uint64(i+1), &ca), b.Apply(uint64(i+1), &cb)
		if (ea == nil) != (eb == nil) {
			t.Fatalf("entry %d: replicas disagree on rejection: %v vs %v", i+1, ea, eb)
		}
	}
	pa, pb2 := a.Proto(), b.Proto()
	if !proto.Equal(pa, pb2) {
		t.Fatalf("replicas diverged:\n%v\n%v", pa, pb2)
	}
	sa, _ := a.Snapshot()
	sb, _ := b.Snapshot()
	if string(sa) != string(sb) {
		t.Fatal("snapshots of identical registries are not byte-identical (Snapshot must be deterministic)")
	}
}

// Entries at or below the applied index (replayed after a snapshot restore)
// are no-ops, even if they would otherwise change state.
func TestReplayOfAppliedIndexIsNoop(t *testing.T) {
	r := New()
	applyAll(t, r, history())
	before := r.Proto()
	for i, c := range history() {
		if err := r.Apply(uint64(i+1), c); err != nil {
			t.Fatalf("replay of index %d: %v, want nil", i+1, err)
		}
	}
	// Even a command that would change state is ignored at an old index.
	if err := r.Apply(5, cmd(5, &pb.AddFramework{Info: fwInfo(masterUUID + "-0005")})); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, r.Proto()) {
		t.Fatalf("replaying applied indexes changed the registry")
	}
	if r.AppliedIndex() != 17 {
		t.Fatalf("AppliedIndex = %d after replays, want 17", r.AppliedIndex())
	}

	// Same after a restore: the snapshot index is the replay horizon.
	snap, _ := r.Snapshot()
	r2, _ := Restore(17, snap)
	for i, c := range history() {
		_ = r2.Apply(uint64(i+1), c)
	}
	if !proto.Equal(before, r2.Proto()) {
		t.Fatalf("replaying applied indexes into a restored registry changed it")
	}
}

// Readers get copies: mutating Proto() output must not reach the registry.
func TestProtoIsDeepCopy(t *testing.T) {
	r := New()
	applyAll(t, r, history())
	p := r.Proto()
	p.Frameworks[0].Info.Name = proto.String("mutated")
	p.Agents[0].State = pb.RegistryAgent_GONE.Enum()
	if f, _ := r.Framework(fw3); f.GetInfo().GetName() == "mutated" {
		t.Fatal("mutating Proto() output changed the registry's framework")
	}
	if a, _ := r.Agent(agentS7); a.GetState() == pb.RegistryAgent_GONE {
		t.Fatal("mutating Proto() output changed the registry's agent")
	}
}
