package registry

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func scalar(name string, v float64, role string) *mesos.Resource {
	r := &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
	if role != "" {
		r.Reservations = []*mesos.Resource_ReservationInfo{{
			Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role), Principal: proto.String("p"),
		}}
	}
	return r
}

func updateResources(t int64, agent string, total, ckpt []*mesos.Resource) *pb.Command {
	return &pb.Command{TimeNs: proto.Int64(t), Kind: &pb.Command_UpdateAgentResources{UpdateAgentResources: &pb.UpdateAgentResources{
		AgentId: aid(agent), Total: total, Checkpointed: ckpt,
	}}}
}

func reservationHistory() []*pb.Command {
	r1 := []*mesos.Resource{scalar("cpus", 2, "eng")}
	r2 := []*mesos.Resource{scalar("cpus", 1, "eng"), scalar("mem", 64, "ops")}
	return []*pb.Command{
		cmd(1, &pb.AdmitAgent{Info: agentInfo(agentS0)}),
		cmd(2, &pb.AdmitAgent{Info: agentInfo(agentS7)}),
		updateResources(3, agentS0, append([]*mesos.Resource{scalar("cpus", 2, "")}, r1...), r1),
		updateResources(4, agentS7, append([]*mesos.Resource{scalar("cpus", 3, "")}, r2...), r2),
		updateResources(5, agentS0, []*mesos.Resource{scalar("cpus", 4, "")}, nil), // unreserve all
		cmd(6, &pb.MarkAgentGone{AgentId: aid(agentS0)}),
	}
}

func TestUpdateAgentResources(t *testing.T) {
	r := New()
	h := reservationHistory()
	for i, c := range h[:4] {
		if err := r.Apply(uint64(i+1), c); err != nil {
			t.Fatalf("command %d: %v", i+1, err)
		}
	}
	a, _ := r.Agent(agentS0)
	if n := len(r.CheckpointedResources(agentS0)); n != 1 || len(a.GetInfo().GetResources()) != 2 {
		t.Fatalf("agent S0 after reserve: %v", a)
	}
	if a.GetInfo().GetHostname() != "host-"+agentS0 {
		t.Fatalf("info lost its other fields: %v", a.GetInfo())
	}
	// A reader's entry does not change under it.
	before := proto.Clone(a).(*pb.RegistryAgent)
	if err := r.Apply(5, h[4]); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, before) {
		t.Fatal("Apply modified an entry handed out by Agent")
	}
	if got := r.CheckpointedResources(agentS0); len(got) != 0 {
		t.Fatalf("unreserve all left %v", got)
	}
	if err := r.Apply(6, h[5]); err != nil {
		t.Fatal(err)
	}

	// Bad input: unknown and gone agents are rejected and change nothing.
	for name, c := range map[string]*pb.Command{
		"unknown agent": updateResources(7, "nope", nil, nil),
		"gone agent":    updateResources(7, agentS0, []*mesos.Resource{scalar("cpus", 1, "eng")}, nil),
	} {
		snap, _ := r.Snapshot()
		if err := r.Apply(0, c); !errors.Is(err, ErrRejected) {
			t.Fatalf("%s: %v, want ErrRejected", name, err)
		}
		after, _ := r.Snapshot()
		if string(snap) != string(after) {
			t.Fatalf("%s changed the registry", name)
		}
	}
}

func TestUpdateAgentResourcesDeterministicAndSnapshot(t *testing.T) {
	run := func() *Registry {
		r := New()
		for i, c := range reservationHistory() {
			if err := r.Apply(uint64(i+1), c); err != nil {
				t.Fatalf("command %d: %v", i+1, err)
			}
		}
		return r
	}
	a, b := run(), run()
	sa, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := b.Snapshot()
	if string(sa) != string(sb) {
		t.Fatal("two replicas applying the same commands differ")
	}
	restored, err := Restore(a.AppliedIndex(), sa)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(restored.Proto(), a.Proto()) {
		t.Fatalf("snapshot round trip:\n%v\nvs\n%v", restored.Proto(), a.Proto())
	}
	got := restored.CheckpointedResources(agentS7)
	if len(got) != 2 || got[1].GetReservations()[0].GetRole() != "ops" {
		t.Fatalf("restored checkpointed resources of S7: %v", got)
	}
}
