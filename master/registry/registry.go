// Package registry is the master's replicated state machine: the part of the
// master's state that survives failover (agents admitted / unreachable /
// gone, frameworks with their failover deadlines, completed framework IDs and
// ID counters).
//
// Invariants:
//   - Apply is deterministic: its result depends only on the registry and the
//     command. Time and new IDs are stamped into commands by the leader; this
//     package never reads the clock, randomness or the environment.
//   - A command that is invalid for the current state (admitting an agent
//     twice, removing an unknown framework) changes nothing and returns an
//     error wrapping ErrRejected; every replica rejects it the same way.
//   - A completed framework ID is never forgotten, so a torn-down framework
//     cannot subscribe again, even after master failover.
//
// Registry is not safe for concurrent use: the master's single state goroutine
// owns it. Readers get copies.
package registry

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/quota"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// ErrRejected marks a command that is not valid for the current state.
var ErrRejected = errors.New("registry: command rejected")

// Registry holds the replicated state. The zero value is not usable; call New.
type Registry struct {
	mt              maintState // maintenance.go
	master          *mesos.MasterInfo
	agents          map[string]*pb.RegistryAgent
	frameworks      map[string]*pb.RegistryFramework
	completed       map[string]struct{}
	completedOrder  []string
	nextAgentSeq    uint64
	nextFrameworkSq uint64
	appliedIndex    uint64
	weights         map[string]float64
	quotas          map[string]*quota.QuotaConfig
	completedInfos  []*pb.RegistryFramework // newest last, at most MaxCompletedInfos
	masters         map[uint64]string       // added at runtime
	removedMasters  map[uint64]bool
}

// MaxCompletedInfos bounds how many removed frameworks keep their info in the
// registry (Mesos' --max_completed_frameworks default). It is part of the
// replicated state machine: changing it changes what every replica keeps.
const MaxCompletedInfos = 50

// New returns an empty registry.
func New() *Registry {
	return &Registry{
		agents:         make(map[string]*pb.RegistryAgent),
		frameworks:     make(map[string]*pb.RegistryFramework),
		completed:      make(map[string]struct{}),
		weights:        make(map[string]float64),
		quotas:         make(map[string]*quota.QuotaConfig),
		masters:        make(map[uint64]string),
		removedMasters: make(map[uint64]bool),
	}
}

// ApplyMemberChange records a committed Raft membership change at index idx:
// a master added with its address, or removed (for good: raft IDs are never
// reused). Like Apply it is deterministic; replays are no-ops.
func (r *Registry) ApplyMemberChange(idx uint64, id uint64, address string, removed bool) {
	if idx <= r.appliedIndex && idx != 0 {
		return
	}
	if idx != 0 {
		r.appliedIndex = idx
	}
	if removed {
		delete(r.masters, id)
		r.removedMasters[id] = true
		return
	}
	if address != "" && !r.removedMasters[id] {
		r.masters[id] = address
	}
}

// MasterPeers merges the bootstrap peers (from flags) with the masters added
// and removed at runtime; runtime changes win.
func (r *Registry) MasterPeers(bootstrap map[uint64]string) map[uint64]string {
	out := make(map[uint64]string, len(bootstrap)+len(r.masters))
	for id, a := range bootstrap {
		if !r.removedMasters[id] {
			out[id] = a
		}
	}
	for id, a := range r.masters {
		out[id] = a
	}
	return out
}

// AppliedIndex is the Raft index of the last applied command.
func (r *Registry) AppliedIndex() uint64 { return r.appliedIndex }

// Apply applies cmd, committed at Raft index idx.
func (r *Registry) Apply(idx uint64, cmd *pb.Command) error {
	if idx <= r.appliedIndex && idx != 0 {
		// Replays of already-applied entries (after a snapshot restore) are no-ops.
		return nil
	}
	if idx != 0 {
		r.appliedIndex = idx
	}
	now := cmd.GetTimeNs()
	switch k := cmd.Kind.(type) {
	case *pb.Command_Barrier:
		return nil
	case *pb.Command_SetMasterInfo:
		r.master = proto.Clone(k.SetMasterInfo.GetInfo()).(*mesos.MasterInfo)
		return nil
	case *pb.Command_AdmitAgent:
		info := k.AdmitAgent.GetInfo()
		id := info.GetId().GetValue()
		if id == "" {
			return fmt.Errorf("%w: admit agent without ID", ErrRejected)
		}
		if a, ok := r.agents[id]; ok && a.GetState() != pb.RegistryAgent_UNREACHABLE {
			return fmt.Errorf("%w: agent %q already admitted", ErrRejected, id)
		}
		r.agents[id] = &pb.RegistryAgent{
			Info:        proto.Clone(info).(*mesos.AgentInfo),
			State:       pb.RegistryAgent_ADMITTED.Enum(),
			StateTimeNs: proto.Int64(now),
		}
		r.bumpAgentSeq(id)
		return nil
	case *pb.Command_UpdateAgent:
		info := k.UpdateAgent.GetInfo()
		a, ok := r.agents[info.GetId().GetValue()]
		if !ok {
			return fmt.Errorf("%w: update of unknown agent %q", ErrRejected, info.GetId().GetValue())
		}
		a.Info = proto.Clone(info).(*mesos.AgentInfo)
		return nil
	case *pb.Command_MarkAgentUnreachable:
		return r.setAgentState(k.MarkAgentUnreachable.GetAgentId().GetValue(), pb.RegistryAgent_UNREACHABLE, now, pb.RegistryAgent_ADMITTED)
	case *pb.Command_MarkAgentReachable:
		return r.setAgentState(k.MarkAgentReachable.GetAgentId().GetValue(), pb.RegistryAgent_ADMITTED, now, pb.RegistryAgent_UNREACHABLE)
	case *pb.Command_MarkAgentGone:
		return r.setAgentState(k.MarkAgentGone.GetAgentId().GetValue(), pb.RegistryAgent_GONE, now, pb.RegistryAgent_ADMITTED, pb.RegistryAgent_UNREACHABLE)
	case *pb.Command_RemoveAgents:
		for _, id := range k.RemoveAgents.GetAgentIds() {
			delete(r.agents, id.GetValue())
		}
		return nil
	case *pb.Command_AddFramework:
		info := k.AddFramework.GetInfo()
		id := info.GetId().GetValue()
		if id == "" {
			return fmt.Errorf("%w: add framework without ID", ErrRejected)
		}
		if _, done := r.completed[id]; done {
			return fmt.Errorf("%w: framework %q has been removed", ErrRejected, id)
		}
		if _, ok := r.frameworks[id]; ok {
			return fmt.Errorf("%w: framework %q already exists", ErrRejected, id)
		}
		r.frameworks[id] = &pb.RegistryFramework{
			Info:             proto.Clone(info).(*mesos.FrameworkInfo),
			RegisteredTimeNs: proto.Int64(now),
		}
		r.bumpFrameworkSeq(id)
		return nil
	case *pb.Command_UpdateFramework:
		info := k.UpdateFramework.GetInfo()
		f, ok := r.frameworks[info.GetId().GetValue()]
		if !ok {
			return fmt.Errorf("%w: update of unknown framework %q", ErrRejected, info.GetId().GetValue())
		}
		f.Info = proto.Clone(info).(*mesos.FrameworkInfo)
		return nil
	case *pb.Command_DisconnectFramework:
		f, ok := r.frameworks[k.DisconnectFramework.GetFrameworkId().GetValue()]
		if !ok {
			return fmt.Errorf("%w: disconnect of unknown framework %q", ErrRejected, k.DisconnectFramework.GetFrameworkId().GetValue())
		}
		f.FailoverDeadlineNs = proto.Int64(k.DisconnectFramework.GetFailoverDeadlineNs())
		return nil
	case *pb.Command_ReconnectFramework:
		f, ok := r.frameworks[k.ReconnectFramework.GetFrameworkId().GetValue()]
		if !ok {
			return fmt.Errorf("%w: reconnect of unknown framework %q", ErrRejected, k.ReconnectFramework.GetFrameworkId().GetValue())
		}
		f.FailoverDeadlineNs = nil
		return nil
	case *pb.Command_RemoveFramework:
		id := k.RemoveFramework.GetFrameworkId().GetValue()
		if _, ok := r.frameworks[id]; !ok {
			if _, done := r.completed[id]; done {
				return nil // idempotent
			}
			return fmt.Errorf("%w: removal of unknown framework %q", ErrRejected, id)
		}
		f := r.frameworks[id]
		delete(r.frameworks, id)
		r.completed[id] = struct{}{}
		r.completedOrder = append(r.completedOrder, id)
		f.FailoverDeadlineNs = nil
		f.RemovedTimeNs = proto.Int64(now)
		r.completedInfos = append(r.completedInfos, f)
		if over := len(r.completedInfos) - MaxCompletedInfos; over > 0 {
			r.completedInfos = append(r.completedInfos[:0:0], r.completedInfos[over:]...)
		}
		return nil
	case *pb.Command_UpdateWeights:
		for _, w := range k.UpdateWeights.GetWeights() {
			if v := w.GetWeight(); !(v > 0) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: weight %v of role %q must be a finite number > 0", ErrRejected, v, w.GetRole())
			}
		}
		for _, w := range k.UpdateWeights.GetWeights() {
			if w.GetWeight() == 1 {
				delete(r.weights, w.GetRole())
			} else {
				r.weights[w.GetRole()] = w.GetWeight()
			}
		}
		return nil
	case *pb.Command_UpdateQuota:
		for _, c := range k.UpdateQuota.GetConfigs() {
			if len(c.GetGuarantees()) == 0 && len(c.GetLimits()) == 0 {
				delete(r.quotas, c.GetRole())
			} else {
				r.quotas[c.GetRole()] = proto.Clone(c).(*quota.QuotaConfig)
			}
		}
		return nil
	case *pb.Command_UpdateAgentResources:
		return r.updateAgentResources(k.UpdateAgentResources)
	case *pb.Command_UpdateMaintenanceSchedule, *pb.Command_StartMaintenance, *pb.Command_StopMaintenance,
		*pb.Command_DrainAgent, *pb.Command_MarkAgentDrained,
		*pb.Command_DeactivateAgent, *pb.Command_ReactivateAgent:
		return r.applyMaintenance(cmd) // maintenance.go
	case nil:
		return fmt.Errorf("%w: empty command", ErrRejected)
	default:
		// A kind this binary does not know: a newer master wrote it. Applying
		// anything else would make this replica diverge, so stop.
		panic(fmt.Sprintf("registry: unknown command kind %T", k))
	}
}

func (r *Registry) setAgentState(id string, to pb.RegistryAgent_State, now int64, from ...pb.RegistryAgent_State) error {
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("%w: unknown agent %q", ErrRejected, id)
	}
	for _, f := range from {
		if a.GetState() == f {
			a.State = to.Enum()
			a.StateTimeNs = proto.Int64(now)
			return nil
		}
	}
	return fmt.Errorf("%w: agent %q is %s, cannot become %s", ErrRejected, id, a.GetState(), to)
}

// bumpAgentSeq keeps the ID counter above every admitted "<prefix>-S<n>" ID,
// so a leader never mints an ID twice.
func (r *Registry) bumpAgentSeq(id string) {
	if n, ok := parseSeq(id, "-S"); ok && n+1 > r.nextAgentSeq {
		r.nextAgentSeq = n + 1
	}
}

func (r *Registry) bumpFrameworkSeq(id string) {
	if n, ok := parseSeq(id, "-"); ok && n+1 > r.nextFrameworkSq {
		r.nextFrameworkSq = n + 1
	}
}

// parseSeq extracts n from "<anything><sep><digits>".
func parseSeq(id, sep string) (uint64, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		c := id[i]
		if c >= '0' && c <= '9' {
			continue
		}
		if i+1 == len(id) || i+1 < len(sep) || id[i+1-len(sep):i+1] != sep {
			return 0, false
		}
		var n uint64
		for _, d := range id[i+1:] {
			n = n*10 + uint64(d-'0')
		}
		return n, true
	}
	return 0, false
}

// NextAgentSeq is the next free agent sequence number.
func (r *Registry) NextAgentSeq() uint64 { return r.nextAgentSeq }

// NextFrameworkSeq is the next free framework sequence number.
func (r *Registry) NextFrameworkSeq() uint64 { return r.nextFrameworkSq }

// Master returns the last recorded leader info (nil if none).
func (r *Registry) Master() *mesos.MasterInfo { return r.master }

// Agent returns the registry entry of an agent. The result must not be modified.
func (r *Registry) Agent(id string) (*pb.RegistryAgent, bool) {
	a, ok := r.agents[id]
	return a, ok
}

// Framework returns the registry entry of a framework. The result must not be modified.
func (r *Registry) Framework(id string) (*pb.RegistryFramework, bool) {
	f, ok := r.frameworks[id]
	return f, ok
}

// Completed reports whether the framework has been removed for good.
func (r *Registry) Completed(id string) bool {
	_, ok := r.completed[id]
	return ok
}

// CompletedFrameworkInfos returns the most recently removed frameworks,
// oldest first. The entries must not be modified.
func (r *Registry) CompletedFrameworkInfos() []*pb.RegistryFramework {
	return append([]*pb.RegistryFramework(nil), r.completedInfos...)
}

// CompletedFrameworks lists removed framework IDs, oldest first.
func (r *Registry) CompletedFrameworks() []string { return append([]string(nil), r.completedOrder...) }

// Agents returns all agent entries sorted by ID. The entries must not be modified.
func (r *Registry) Agents() []*pb.RegistryAgent {
	out := make([]*pb.RegistryAgent, 0, len(r.agents))
	for _, a := range r.agents {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetInfo().GetId().GetValue() < out[j].GetInfo().GetId().GetValue() })
	return out
}

// Frameworks returns all active framework entries sorted by ID. The entries must not be modified.
func (r *Registry) Frameworks() []*pb.RegistryFramework {
	out := make([]*pb.RegistryFramework, 0, len(r.frameworks))
	for _, f := range r.frameworks {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetInfo().GetId().GetValue() < out[j].GetInfo().GetId().GetValue() })
	return out
}

// Weights returns the role weights other than 1 (a copy).
func (r *Registry) Weights() map[string]float64 {
	out := make(map[string]float64, len(r.weights))
	for k, v := range r.weights {
		out[k] = v
	}
	return out
}

// QuotaConfigs returns the role quotas sorted by role. They must not be modified.
func (r *Registry) QuotaConfigs() []*quota.QuotaConfig {
	out := make([]*quota.QuotaConfig, 0, len(r.quotas))
	for _, q := range r.quotas {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetRole() < out[j].GetRole() })
	return out
}

// Proto returns the whole registry as a message (a deep copy, deterministic order).
func (r *Registry) Proto() *pb.Registry {
	out := &pb.Registry{
		NextAgentSeq:        proto.Uint64(r.nextAgentSeq),
		NextFrameworkSeq:    proto.Uint64(r.nextFrameworkSq),
		CompletedFrameworks: append([]string(nil), r.completedOrder...),
	}
	if r.master != nil {
		out.Master = proto.Clone(r.master).(*mesos.MasterInfo)
	}
	for _, a := range r.Agents() {
		out.Agents = append(out.Agents, proto.Clone(a).(*pb.RegistryAgent))
	}
	for _, f := range r.Frameworks() {
		out.Frameworks = append(out.Frameworks, proto.Clone(f).(*pb.RegistryFramework))
	}
	roles := make([]string, 0, len(r.weights))
	for role := range r.weights {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		out.Weights = append(out.Weights, &mesos.WeightInfo{Role: proto.String(role), Weight: proto.Float64(r.weights[role])})
	}
	for _, q := range r.QuotaConfigs() {
		out.QuotaConfigs = append(out.QuotaConfigs, proto.Clone(q).(*quota.QuotaConfig))
	}
	for _, f := range r.completedInfos {
		out.CompletedFrameworkInfos = append(out.CompletedFrameworkInfos, proto.Clone(f).(*pb.RegistryFramework))
	}
	r.maintenanceProto(out)
	ids := make([]uint64, 0, len(r.masters))
	for id := range r.masters {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		out.Masters = append(out.Masters, &pb.MasterPeer{Id: proto.Uint64(id), Address: proto.String(r.masters[id])})
	}
	removed := make([]uint64, 0, len(r.removedMasters))
	for id := range r.removedMasters {
		removed = append(removed, id)
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i] < removed[j] })
	out.RemovedMasters = removed
	return out
}

// Snapshot serializes the registry for a Raft snapshot.
func (r *Registry) Snapshot() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Proto())
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	return b, nil
}

// Restore rebuilds a registry from Snapshot output taken at Raft index idx.
func Restore(idx uint64, data []byte) (*Registry, error) {
	var p pb.Registry
	if err := proto.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("registry: restore: %w", err)
	}
	r := New()
	r.appliedIndex = idx
	r.master = p.GetMaster()
	for _, a := range p.GetAgents() {
		r.agents[a.GetInfo().GetId().GetValue()] = a
	}
	for _, f := range p.GetFrameworks() {
		r.frameworks[f.GetInfo().GetId().GetValue()] = f
	}
	for _, id := range p.GetCompletedFrameworks() {
		r.completed[id] = struct{}{}
		r.completedOrder = append(r.completedOrder, id)
	}
	r.nextAgentSeq = p.GetNextAgentSeq()
	r.nextFrameworkSq = p.GetNextFrameworkSeq()
	for _, w := range p.GetWeights() {
		r.weights[w.GetRole()] = w.GetWeight()
	}
	for _, q := range p.GetQuotaConfigs() {
		r.quotas[q.GetRole()] = q
	}
	r.completedInfos = p.GetCompletedFrameworkInfos()
	r.restoreMaintenance(&p)
	for _, mp := range p.GetMasters() {
		r.masters[mp.GetId()] = mp.GetAddress()
	}
	for _, id := range p.GetRemovedMasters() {
		r.removedMasters[id] = true
	}
	return r, nil
}

// updateAgentResources records an agent's total and checkpointed resources
// after reservation or volume operations. The leader validated them; this
// only refuses agents that are unknown or gone.
func (r *Registry) updateAgentResources(u *pb.UpdateAgentResources) error {
	id := u.GetAgentId().GetValue()
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("%w: resources of unknown agent %q", ErrRejected, id)
	}
	if a.GetState() == pb.RegistryAgent_GONE {
		return fmt.Errorf("%w: agent %q is gone", ErrRejected, id)
	}
	// Entries handed out by Agent must not change under their readers:
	// replace rather than modify.
	info := proto.Clone(a.GetInfo()).(*mesos.AgentInfo)
	info.Resources = cloneResources(u.GetTotal())
	r.agents[id] = &pb.RegistryAgent{
		Info:                  info,
		State:                 a.State,
		StateTimeNs:           a.StateTimeNs,
		CheckpointedResources: cloneResources(u.GetCheckpointed()),
	}
	return nil
}

func cloneResources(rs []*mesos.Resource) []*mesos.Resource {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*mesos.Resource, len(rs))
	for i, x := range rs {
		out[i] = proto.Clone(x).(*mesos.Resource)
	}
	return out
}

// CheckpointedResources returns an agent's dynamic reservations and
// persistent volumes as last recorded. They must not be modified.
func (r *Registry) CheckpointedResources(id string) []*mesos.Resource {
	return r.agents[id].GetCheckpointedResources()
}
