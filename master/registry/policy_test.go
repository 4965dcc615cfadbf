package registry

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/quota"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func weightsCmd(kv ...any) *pb.Command {
	u := &pb.UpdateWeights{}
	for i := 0; i < len(kv); i += 2 {
		u.Weights = append(u.Weights, &mesos.WeightInfo{Role: proto.String(kv[i].(string)), Weight: proto.Float64(kv[i+1].(float64))})
	}
	return &pb.Command{Kind: &pb.Command_UpdateWeights{UpdateWeights: u}}
}

func quotaCmd(role string, guarantees, limits map[string]float64) *pb.Command {
	c := &quota.QuotaConfig{Role: proto.String(role), Guarantees: map[string]*mesos.Value_Scalar{}, Limits: map[string]*mesos.Value_Scalar{}}
	for k, v := range guarantees {
		c.Guarantees[k] = &mesos.Value_Scalar{Value: proto.Float64(v)}
	}
	for k, v := range limits {
		c.Limits[k] = &mesos.Value_Scalar{Value: proto.Float64(v)}
	}
	return &pb.Command{Kind: &pb.Command_UpdateQuota{UpdateQuota: &pb.UpdateQuota{Configs: []*quota.QuotaConfig{c}}}}
}

func TestWeightsAndQuotaApplyAndSurviveSnapshots(t *testing.T) {
	r := New()
	mustApply := func(idx uint64, c *pb.Command) {
		t.Helper()
		if err := r.Apply(idx, c); err != nil {
			t.Fatalf("apply %d: %v", idx, err)
		}
	}
	mustApply(1, weightsCmd("eng", 2.0, "ops", 3.0))
	mustApply(2, weightsCmd("ops", 1.0)) // back to the default: forgotten
	mustApply(3, quotaCmd("eng", map[string]float64{"cpus": 4}, map[string]float64{"cpus": 8, "mem": 4096}))
	mustApply(4, quotaCmd("ops", map[string]float64{"mem": 1024}, nil))
	mustApply(5, quotaCmd("ops", nil, nil)) // removes ops' quota

	if w := r.Weights(); len(w) != 1 || w["eng"] != 2 {
		t.Fatalf("weights = %v, want only eng=2", w)
	}
	qs := r.QuotaConfigs()
	if len(qs) != 1 || qs[0].GetRole() != "eng" || qs[0].GetLimits()["mem"].GetValue() != 4096 {
		t.Fatalf("quotas = %v, want only eng's", qs)
	}

	// A bad weight is rejected whole: nothing changes.
	before := r.Proto()
	if err := r.Apply(6, weightsCmd("eng", 5.0, "bad", -1.0)); !errors.Is(err, ErrRejected) {
		t.Fatalf("negative weight: err = %v, want ErrRejected", err)
	}
	if after := r.Proto(); !proto.Equal(before, after) {
		t.Fatalf("a rejected weights update changed the registry:\nbefore %v\nafter  %v", before, after)
	}

	data, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(r.AppliedIndex(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(restored.Proto(), r.Proto()) {
		t.Fatalf("restore differs:\n got %v\nwant %v", restored.Proto(), r.Proto())
	}
}
