package master

// Reservations and persistent volumes: the RESERVE, UNRESERVE, CREATE and
// DESTROY offer operations (through ACCEPT) and the operator calls
// RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES and
// DESTROY_VOLUMES.
//
// Every operation is a conversion of an agent's resources: `from` (what it
// consumes, which must be there) becomes `to`. Validation follows Mesos'
// src/master/validation.cpp (operation::validate) and the conversions
// Resources::apply (src/common/resources.cpp). A valid operation takes
// effect on the loop at once — the allocator's agent total and allocation,
// the master's agent total, and, within an ACCEPT, the resources left for
// the operations after it — and is replicated as an UpdateAgentResources
// command carrying the agent's new total and checkpointed resources (its
// dynamic reservations and persistent volumes). The agent is told to
// checkpoint them (CHECKPOINT_RESOURCES) and re-registers with them applied.
// An invalid operation changes nothing: it is logged, counted in
// master/invalid_operations and, if the framework set operation.id,
// answered with OPERATION_ERROR.

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/master/validation"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// opResources parses an operation's resources, ignoring allocation_info
// (the master knows the allocation role from the offer).
func opResources(kind string, rs []*mesos.Resource) (resources.Resources, error) {
	if len(rs) == 0 {
		return resources.Resources{}, fmt.Errorf("%s must name at least one resource", kind)
	}
	res, err := resources.FromProto(stripAllocation(rs))
	if err != nil {
		return resources.Resources{}, fmt.Errorf("%s has invalid resources: %v", kind, err)
	}
	return res, nil
}

// convertOperation validates a resource operation on agent a and returns
// what it consumes (from, which available must contain) and what it
// produces (to). f is the framework for ACCEPT (role is its offers'
// allocation role), nil for the operator API.
func (m *Master) convertOperation(a *agent, f *framework, role string, op *mesos.Offer_Operation, available resources.Resources) (from, to resources.Resources, err error) {
	principal := ""
	if f != nil {
		principal = f.info.GetPrincipal()
	}
	checkRole := func(verb string, x *resources.Resource) error {
		if f != nil && x.Role() != role {
			return fmt.Errorf("a %s operation was attempted for role %q, but the offered resources are allocated to role %q", verb, x.Role(), role)
		}
		return nil
	}
	contains := func(verb string) error {
		if !available.Contains(from) {
			what := "the offered resources"
			if f == nil {
				what = "the agent's unallocated resources"
			}
			return fmt.Errorf("invalid %s operation: %s %v do not contain %v", verb, what, available, from)
		}
		return nil
	}
	switch op.GetType() {
	case mesos.Offer_Operation_RESERVE:
		if op.Reserve == nil {
			return from, to, errors.New("expecting 'reserve' to be present")
		}
		if len(op.GetReserve().GetSource()) > 0 {
			return from, to, errors.New("RESERVE with 'source' is not supported by this mesosd version; name the reserved resources only")
		}
		res, err := opResources("RESERVE", op.GetReserve().GetResources())
		if err != nil {
			return from, to, err
		}
		for _, x := range res.Items() {
			if !x.DynamicallyReserved() {
				return from, to, fmt.Errorf("resource %s is not dynamically reserved", one(x))
			}
			if err := checkRole("reserve", &x); err != nil {
				return from, to, err
			}
			if p := x.Reservations[len(x.Reservations)-1].Principal; principal != "" && p != "" && p != principal {
				return from, to, fmt.Errorf("a reserve operation was attempted by principal %q, but there is a reserved resource in the request with principal %q set in ReservationInfo", principal, p)
			}
			if len(x.Reservations) > 1 && f != nil && !f.has(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
				return from, to, fmt.Errorf("resource %s refines a reservation, which needs the RESERVATION_REFINEMENT capability", one(x))
			}
			if x.Shared {
				return from, to, fmt.Errorf("resource %s is shared; shared resources cannot be reserved", one(x))
			}
		}
		if from, err = res.PopReservation(); err != nil {
			return from, to, err
		}
		to = res
		return from, to, contains("RESERVE")
	case mesos.Offer_Operation_UNRESERVE:
		if op.Unreserve == nil {
			return from, to, errors.New("expecting 'unreserve' to be present")
		}
		res, err := opResources("UNRESERVE", op.GetUnreserve().GetResources())
		if err != nil {
			return from, to, err
		}
		for _, x := range res.Items() {
			if !x.DynamicallyReserved() {
				return from, to, fmt.Errorf("resource %s is not dynamically reserved", one(x))
			}
			if x.PersistentVolume() {
				return from, to, fmt.Errorf("a dynamically reserved persistent volume %s cannot be unreserved; DESTROY it first", one(x))
			}
			if err := checkRole("unreserve", &x); err != nil {
				return from, to, err
			}
		}
		from = res
		if to, err = res.PopReservation(); err != nil {
			return from, to, err
		}
		return from, to, contains("UNRESERVE")
	case mesos.Offer_Operation_CREATE:
		if op.Create == nil {
			return from, to, errors.New("expecting 'create' to be present")
		}
		vols, err := opResources("CREATE", op.GetCreate().GetVolumes())
		if err != nil {
			return from, to, err
		}
		existing := a.total.PersistentVolumes()
		seen := map[string]bool{}
		for _, x := range vols.Items() {
			if err := validateVolume(&x); err != nil {
				return from, to, err
			}
			if x.Role() == "*" {
				return from, to, fmt.Errorf("persistent volume %s: persistent volumes cannot be created from unreserved resources", one(x))
			}
			if err := checkRole("create", &x); err != nil {
				return from, to, err
			}
			if p := x.Disk.PersistencePrincipal; principal != "" && p != "" && p != principal {
				return from, to, fmt.Errorf("a create operation was attempted by principal %q, but persistent volume %q has principal %q", principal, x.Disk.PersistenceID, p)
			}
			key := x.Role() + "\x00" + x.Disk.PersistenceID
			if seen[key] || volumeIDInUse(existing, x.Role(), x.Disk.PersistenceID) {
				return from, to, fmt.Errorf("persistence ID %q is already in use by role %q on agent %s", x.Disk.PersistenceID, x.Role(), a.id)
			}
			seen[key] = true
		}
		from, to = vols.StripPersistence(), vols
		return from, to, contains("CREATE")
	case mesos.Offer_Operation_DESTROY:
		if op.Destroy == nil {
			return from, to, errors.New("expecting 'destroy' to be present")
		}
		vols, err := opResources("DESTROY", op.GetDestroy().GetVolumes())
		if err != nil {
			return from, to, err
		}
		for _, x := range vols.Items() {
			if !x.PersistentVolume() {
				return from, to, fmt.Errorf("resource %s is not a persistent volume", one(x))
			}
			if err := checkRole("destroy", &x); err != nil {
				return from, to, err
			}
			v, _ := resources.New(x)
			if !a.total.Contains(v) {
				return from, to, fmt.Errorf("persistent volume %s not found on agent %s", v, a.id)
			}
			if t := m.taskUsing(a, v); t != nil {
				return from, to, fmt.Errorf("persistent volume %s is in use by task %s of framework %s", v, t.id(), t.frameworkID())
			}
		}
		from, to = vols, vols.StripPersistence()
		return from, to, contains("DESTROY")
	}
	return from, to, fmt.Errorf("operation %s is not a reservation or volume operation", op.GetType())
}

// one formats a single resource.
func one(x resources.Resource) string {
	r, err := resources.New(x)
	if err != nil {
		return x.Name
	}
	return r.String()
}

// validateVolume checks the persistent-volume fields of a CREATE.
func validateVolume(x *resources.Resource) error {
	if !x.PersistentVolume() {
		return fmt.Errorf("resource %s is not a persistent volume (a disk with 'disk.persistence.id')", one(*x))
	}
	id := x.Disk.PersistenceID
	if err := validation.ID("persistence", id); err != nil {
		return fmt.Errorf("persistent volume: %v", err)
	}
	if x.Shared {
		return fmt.Errorf("persistent volume %q is shared; shared volumes are not supported by this mesosd version", id)
	}
	if !x.Disk.HasVolume {
		return fmt.Errorf("persistent volume %q: expecting 'disk.volume' to be set", id)
	}
	if x.Disk.VolumeHostPath != "" {
		return fmt.Errorf("persistent volume %q: expecting 'disk.volume.host_path' to be unset", id)
	}
	cp := x.Disk.VolumeContainerPath
	if cp == "" {
		return fmt.Errorf("persistent volume %q: expecting 'disk.volume.container_path' to be set", id)
	}
	for _, c := range strings.Split(path.Clean(cp), "/") {
		if c == ".." {
			return fmt.Errorf("persistent volume %q: container path %q must not contain '..'", id, cp)
		}
	}
	return nil
}

func volumeIDInUse(vols resources.Resources, role, id string) bool {
	for _, v := range vols.Items() {
		if v.Role() == role && v.Disk.PersistenceID == id {
			return true
		}
	}
	return false
}

// taskUsing returns a live task on a that holds vol, or nil.
func (m *Master) taskUsing(a *agent, vol resources.Resources) *task {
	var found *task
	for _, t := range a.tasks {
		if t.resourcesRecovered || !t.res.Contains(vol) {
			continue
		}
		if found == nil || t.id() < found.id() { // deterministic message
			found = t
		}
	}
	return found
}

// applyAgentResources makes from become to in the master's view of agent a
// (the allocator is updated by the caller, who knows whether the resources
// are allocated), replicates the agent's new total and checkpointed
// resources, and tells the agent to checkpoint them. done runs on the loop
// once the registry command is applied or has failed.
func (m *Master) applyAgentResources(a *agent, from, to resources.Resources, done func(error)) {
	a.total = a.total.Subtract(from).Add(to)
	// a.info may be held by readers off the loop: replace, never modify.
	info := proto.Clone(a.info).(*mesos.AgentInfo)
	info.Resources = a.total.ToProto()
	a.info = info
	ckpt := a.total.Checkpointed().ToProto()
	a.sendEvent(checkpointEvent(ckpt))
	m.markAgentDirty(a.id)
	m.version++
	m.propose(&pb.Command{Kind: &pb.Command_UpdateAgentResources{UpdateAgentResources: &pb.UpdateAgentResources{
		AgentId:      a.info.GetId(),
		Total:        info.GetResources(),
		Checkpointed: ckpt,
	}}}, func(err error) {
		if err != nil {
			m.log.Warn("could not record agent resources in the registry", "agent", a.id, "err", err)
		}
		if done != nil {
			done(err)
		}
	})
}

func checkpointEvent(ckpt []*mesos.Resource) *pb.AgentEvent {
	return &pb.AgentEvent{
		Type:                pb.AgentEvent_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &pb.AgentEvent_CheckpointResources{Resources: ckpt},
	}
}

// operationStatus sends UPDATE_OPERATION_STATUS for an operation that asked
// for feedback (operation.id set). Master-generated statuses carry no uuid
// and need no acknowledgement.
func (m *Master) operationStatus(f *framework, a *agent, op *mesos.Offer_Operation, state mesos.OperationState, msg string, converted resources.Resources) {
	if f == nil || op.Id == nil {
		return
	}
	st := &mesos.OperationStatus{OperationId: op.GetId(), State: state.Enum()}
	if a != nil {
		st.AgentId = a.info.GetId()
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if !converted.IsEmpty() {
		st.ConvertedResources = converted.ToProto()
	}
	f.send(&scheduler.Event{
		Type:                  scheduler.Event_UPDATE_OPERATION_STATUS.Enum(),
		UpdateOperationStatus: &scheduler.Event_UpdateOperationStatus{Status: st},
	})
}

// acceptResourceOperation runs one RESERVE, UNRESERVE, CREATE or DESTROY of
// an ACCEPT against the resources still available in the accepted offers
// and returns what is available afterwards.
func (m *Master) acceptResourceOperation(f *framework, a *agent, role string, op *mesos.Offer_Operation, available resources.Resources) resources.Resources {
	fail := func(err error) resources.Resources {
		m.log.Warn("invalid offer operation", "framework", f.id, "type", op.GetType().String(), "err", err)
		m.metrics.inc("master/invalid_operations")
		m.operationStatus(f, a, op, mesos.OperationState_OPERATION_ERROR, err.Error(), resources.Resources{})
		return available
	}
	if a == nil {
		return fail(errors.New("the offers' agent is gone"))
	}
	from, to, err := m.convertOperation(a, f, role, op, available)
	if err != nil {
		return fail(err)
	}
	if err := m.alloc.UpdateAllocation(f.id, a.id, role, from, to); err != nil {
		m.allocErr(err)
		return fail(fmt.Errorf("allocator refused the operation: %v", err))
	}
	m.metrics.inc("master/valid_operations")
	m.log.Info("applied offer operation", "framework", f.id, "agent", a.id, "type", op.GetType().String(), "from", from.String(), "to", to.String())
	m.applyAgentResources(a, from, to, func(err error) {
		if err != nil {
			m.operationStatus(f, a, op, mesos.OperationState_OPERATION_FAILED, "could not record the operation: "+err.Error(), resources.Resources{})
			return
		}
		m.operationStatus(f, a, op, mesos.OperationState_OPERATION_FINISHED, "", to)
	})
	return available.Subtract(from).Add(to)
}

// ---- operator API ----

// serveResourceCall handles RESERVE_RESOURCES, UNRESERVE_RESOURCES,
// CREATE_VOLUMES and DESTROY_VOLUMES: 202 without a body once the change is
// replicated, 400 with the reason when it is invalid (nothing changed).
func (m *Master) serveResourceCall(w http.ResponseWriter, r *http.Request, call *masterpb.Call) {
	var agentID *mesos.AgentID
	op := &mesos.Offer_Operation{}
	switch call.GetType() {
	case masterpb.Call_RESERVE_RESOURCES:
		c := call.GetReserveResources()
		if c == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'reserve_resources' to be present", http.StatusBadRequest)
			return
		}
		agentID = c.GetAgentId()
		op.Type = mesos.Offer_Operation_RESERVE.Enum()
		op.Reserve = &mesos.Offer_Operation_Reserve{Source: c.GetSource(), Resources: c.GetResources()}
	case masterpb.Call_UNRESERVE_RESOURCES:
		c := call.GetUnreserveResources()
		if c == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'unreserve_resources' to be present", http.StatusBadRequest)
			return
		}
		agentID = c.GetAgentId()
		op.Type = mesos.Offer_Operation_UNRESERVE.Enum()
		op.Unreserve = &mesos.Offer_Operation_Unreserve{Resources: c.GetResources()}
	case masterpb.Call_CREATE_VOLUMES:
		c := call.GetCreateVolumes()
		if c == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'create_volumes' to be present", http.StatusBadRequest)
			return
		}
		agentID = c.GetAgentId()
		op.Type = mesos.Offer_Operation_CREATE.Enum()
		op.Create = &mesos.Offer_Operation_Create{Volumes: c.GetVolumes()}
	case masterpb.Call_DESTROY_VOLUMES:
		c := call.GetDestroyVolumes()
		if c == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'destroy_volumes' to be present", http.StatusBadRequest)
			return
		}
		agentID = c.GetAgentId()
		op.Type = mesos.Offer_Operation_DESTROY.Enum()
		op.Destroy = &mesos.Offer_Operation_Destroy{Volumes: c.GetVolumes()}
	default:
		m.mapError(w, r, errors.New("not a resource operation call"))
		return
	}
	res, err := await(r.Context(), m, func(reply func(error)) { m.operatorResourceOperation(agentID.GetValue(), op, reply) })
	if err == nil {
		err = res
	}
	if err != nil {
		m.mapError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// operatorResourceOperation validates and applies an operator's resource
// operation on the loop; reply gets nil once it is replicated.
func (m *Master) operatorResourceOperation(agentID string, op *mesos.Offer_Operation, reply func(error)) {
	if !m.leaderOn {
		reply(ErrNotLeader)
		return
	}
	if agentID == "" {
		reply(fmt.Errorf("%w: expecting 'agent_id' to be present", ErrInvalid))
		return
	}
	a, ok := m.agents[agentID]
	switch {
	case !ok:
		reply(fmt.Errorf("%w: no agent found with ID %q", ErrInvalid, agentID))
		return
	case a.recovered || a.conn == nil:
		// The agent could not checkpoint the change; it would come back
		// without it.
		reply(fmt.Errorf("%w: agent %s is not connected; retry once it has re-registered", ErrInvalid, agentID))
		return
	}
	available, _ := m.alloc.Available(agentID)
	// Outstanding offers count as available: Mesos rescinds offers on the
	// agent to make room for an operator's operation.
	withOffers := available
	for _, o := range a.offers {
		withOffers = withOffers.Add(o.res)
	}
	from, to, err := m.convertOperation(a, nil, "", op, withOffers)
	if err != nil {
		m.metrics.inc("master/invalid_operations")
		reply(fmt.Errorf("%w: %s: %v", ErrInvalid, op.GetType(), err))
		return
	}
	if !available.Contains(from) {
		for _, o := range sortedOffers(a) {
			m.removeOffer(o, true, 0)
		}
	}
	if err := m.alloc.UpdateAvailable(agentID, from, to); err != nil {
		m.allocErr(err)
		reply(fmt.Errorf("%w: %s: %v", ErrInvalid, op.GetType(), err))
		return
	}
	m.metrics.inc("master/valid_operations")
	m.log.Info("applied operator operation", "agent", agentID, "type", op.GetType().String(), "from", from.String(), "to", to.String())
	m.applyAgentResources(a, from, to, reply)
}

func sortedOffers(a *agent) []*offer {
	out := make([]*offer, 0, len(a.offers))
	for _, o := range a.offers {
		out = append(out, o)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].id < out[j-1].id; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ---- agent (re)registration ----

// syncAgentCheckpoint makes the registry's checkpointed resources of an
// agent that (re)registers authoritative: the agent's reported total is
// reduced to its configured resources and the registry's dynamic
// reservations and persistent volumes are applied to it; if the agent
// reported a different set, it is told to checkpoint the registry's. It
// returns the total to use (a.total and a.info are updated).
//
// Hook for attachAgent (agents.go): call `total = m.syncAgentCheckpoint(a,
// total)` after the REGISTERED event is queued and before the agent is added
// to the allocator. Without it, an agent that missed a CHECKPOINT_RESOURCES
// event re-registers without the change and the registry's record of it
// is only used by the next operation.
func (m *Master) syncAgentCheckpoint(a *agent, reported resources.Resources) resources.Resources {
	want, err := resources.FromProto(m.reg.CheckpointedResources(a.id))
	if err != nil {
		m.log.Warn("registry holds invalid checkpointed resources; keeping the agent's", "agent", a.id, "err", err)
		return reported
	}
	have := reported.Checkpointed()
	if have.Equal(want) {
		return reported
	}
	configured := reported.Subtract(have).Add(have.StripCheckpointed())
	total, err := resources.ApplyCheckpointed(configured, want)
	if err != nil {
		m.log.Warn("agent's resources cannot hold its checkpointed resources; keeping the agent's", "agent", a.id, "err", err)
		return reported
	}
	a.total = total
	info := proto.Clone(a.info).(*mesos.AgentInfo)
	info.Resources = total.ToProto()
	a.info = info
	a.sendEvent(checkpointEvent(want.ToProto()))
	return total
}
