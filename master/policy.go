package master

import (
	"errors"
	"fmt"
	"net/http"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/quota"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// Role policy (weights and quota) is replicated in the registry and pushed
// into the leader's allocator whenever it changes or a leader takes over.

// quotaFromConfig converts a QuotaConfig to the allocator's form.
func quotaFromConfig(c *quota.QuotaConfig) (allocator.Quota, error) {
	floats := func(m map[string]*mesos.Value_Scalar) map[string]float64 {
		out := make(map[string]float64, len(m))
		for k, v := range m {
			out[k] = v.GetValue()
		}
		return out
	}
	g, err := resources.QuantitiesFromFloats(floats(c.GetGuarantees()))
	if err != nil {
		return allocator.Quota{}, fmt.Errorf("%w: quota guarantees of role %q: %v", ErrInvalid, c.GetRole(), err)
	}
	l, err := resources.QuantitiesFromFloats(floats(c.GetLimits()))
	if err != nil {
		return allocator.Quota{}, fmt.Errorf("%w: quota limits of role %q: %v", ErrInvalid, c.GetRole(), err)
	}
	return allocator.Quota{Guarantee: g, Limit: l}, nil
}

// syncPolicy makes the allocator's weights and quotas equal the registry's.
func (m *Master) syncPolicy() {
	want := m.reg.Weights()
	update := make(map[string]float64)
	for role := range m.alloc.Weights() {
		if _, ok := want[role]; !ok {
			update[role] = 1 // back to the default
		}
	}
	for role, w := range want {
		update[role] = w
	}
	if len(update) > 0 {
		m.allocErr(m.alloc.UpdateWeights(update))
	}
	wantQ := make(map[string]bool)
	for _, c := range m.reg.QuotaConfigs() {
		wantQ[c.GetRole()] = true
		q, err := quotaFromConfig(c)
		if err != nil {
			m.allocErr(err)
			continue
		}
		// Validated before it was proposed; force skips only the capacity
		// check, which may legitimately fail after agents went away.
		m.allocErr(m.alloc.UpdateQuota(c.GetRole(), q, true))
	}
	for role := range m.alloc.Quotas() {
		if !wantQ[role] {
			m.allocErr(m.alloc.UpdateQuota(role, allocator.Quota{}, true))
		}
	}
	// New guarantees and limits apply to what is offered now: take back the
	// outstanding offers so the next cycle honours them (Mesos rescinds too).
	for _, o := range m.offers {
		m.removeOffer(o, true, 0)
	}
	m.markAllDirty()
	m.version++
}

// updateWeights validates weights against the allocator, then replicates them.
func (m *Master) updateWeights(infos []*mesos.WeightInfo, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	update := make(map[string]float64, len(infos))
	for _, w := range infos {
		if w.Weight == nil {
			reply(fmt.Errorf("%w: weight of role %q must be present", ErrInvalid, w.GetRole()))
			return
		}
		update[w.GetRole()] = w.GetWeight()
	}
	// Dry run on the live allocator (it validates all or nothing), then undo:
	// the change takes effect only once it is committed.
	prev := m.alloc.Weights()
	if err := m.alloc.UpdateWeights(update); err != nil {
		reply(fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	undo := make(map[string]float64, len(update))
	for role := range update {
		if w, ok := prev[role]; ok {
			undo[role] = w
		} else {
			undo[role] = 1
		}
	}
	m.allocErr(m.alloc.UpdateWeights(undo))
	m.propose(&pb.Command{Kind: &pb.Command_UpdateWeights{UpdateWeights: &pb.UpdateWeights{Weights: infos}}}, func(err error) {
		if err == nil && m.leaderOn {
			m.syncPolicy()
		}
		reply(err)
	})
}

// updateQuota validates quota configs against the allocator (including the
// cluster-capacity check unless force), then replicates them.
func (m *Master) updateQuota(force bool, configs []*quota.QuotaConfig, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	type saved struct {
		role string
		q    allocator.Quota
		had  bool
	}
	var undo []saved
	restore := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			u := undo[i]
			q := u.q
			if !u.had {
				q = allocator.Quota{}
			}
			m.allocErr(m.alloc.UpdateQuota(u.role, q, true))
		}
	}
	seen := make(map[string]bool)
	for _, c := range configs {
		if seen[c.GetRole()] {
			restore()
			reply(fmt.Errorf("%w: role %q appears twice in UPDATE_QUOTA", ErrInvalid, c.GetRole()))
			return
		}
		seen[c.GetRole()] = true
		q, err := quotaFromConfig(c)
		if err != nil {
			restore()
			reply(err)
			return
		}
		prev, had := m.alloc.Quota(c.GetRole())
		if err := m.alloc.UpdateQuota(c.GetRole(), q, force); err != nil {
			restore()
			reply(fmt.Errorf("%w: %v", ErrInvalid, err))
			return
		}
		undo = append(undo, saved{c.GetRole(), prev, had})
	}
	restore()
	m.propose(&pb.Command{Kind: &pb.Command_UpdateQuota{UpdateQuota: &pb.UpdateQuota{Configs: configs}}}, func(err error) {
		if err == nil && m.leaderOn {
			m.syncPolicy()
		}
		reply(err)
	})
}

func (m *Master) getWeights() *masterpb.Response_GetWeights {
	w := m.reg.Weights()
	roles := make([]string, 0, len(w))
	for r := range w {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	out := &masterpb.Response_GetWeights{}
	for _, r := range roles {
		out.WeightInfos = append(out.WeightInfos, &mesos.WeightInfo{Role: proto.String(r), Weight: proto.Float64(w[r])})
	}
	return out
}

func (m *Master) getQuota() *masterpb.Response_GetQuota {
	st := &quota.QuotaStatus{}
	for _, c := range m.reg.QuotaConfigs() {
		st.Configs = append(st.Configs, proto.Clone(c).(*quota.QuotaConfig))
	}
	return &masterpb.Response_GetQuota{Status: st}
}

// servePolicyCall handles the operator calls that change role policy.
// UPDATE_WEIGHTS answers 202 and UPDATE_QUOTA 200, both without a body,
// once the change is committed.
func (m *Master) servePolicyCall(w http.ResponseWriter, r *http.Request, call *masterpb.Call) {
	var start func(reply func(error))
	status := http.StatusOK
	switch call.GetType() {
	case masterpb.Call_UPDATE_WEIGHTS:
		if call.UpdateWeights == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'update_weights' to be present", http.StatusBadRequest)
			return
		}
		status = http.StatusAccepted
		start = func(reply func(error)) { m.updateWeights(call.GetUpdateWeights().GetWeightInfos(), reply) }
	case masterpb.Call_UPDATE_QUOTA:
		if call.UpdateQuota == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'update_quota' to be present", http.StatusBadRequest)
			return
		}
		uq := call.GetUpdateQuota()
		start = func(reply func(error)) { m.updateQuota(uq.GetForce(), uq.GetQuotaConfigs(), reply) }
	default:
		m.mapError(w, r, errors.New("not a policy call"))
		return
	}
	res, err := await(r.Context(), m, start)
	if err == nil {
		err = res
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(status)
}
