package registry

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/maintenance"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// Maintenance state (Mesos' registry `machines` and `schedules`, plus agent
// drain state). Validation follows Mesos' master/maintenance.cpp: every rule
// is checked before anything changes, so a rejected command changes nothing.

// maintState is the registry's maintenance state. Its maps are created on
// first write; reads of nil maps are fine.
type maintState struct {
	machines map[string]*mesos.MachineInfo // by MachineKey
	schedule *maintenance.Schedule
	drains   map[string]*mesos.DrainInfo // by agent ID
	// deactivated mirrors RegistryAgent.deactivated, so that the master's
	// per-allocation maintenance pass can tell in O(1) there is none.
	deactivated map[string]bool
}

func (r *Registry) applyMaintenance(cmd *pb.Command) error {
	if r.mt.machines == nil {
		r.mt.machines = make(map[string]*mesos.MachineInfo)
		r.mt.drains = make(map[string]*mesos.DrainInfo)
	}
	if r.mt.deactivated == nil {
		r.mt.deactivated = make(map[string]bool)
	}
	switch k := cmd.Kind.(type) {
	case *pb.Command_UpdateMaintenanceSchedule:
		return r.applyUpdateSchedule(k.UpdateMaintenanceSchedule)
	case *pb.Command_StartMaintenance:
		return r.applyStartMaintenance(k.StartMaintenance)
	case *pb.Command_StopMaintenance:
		return r.applyStopMaintenance(k.StopMaintenance)
	case *pb.Command_DrainAgent:
		return r.applyDrainAgent(k.DrainAgent)
	case *pb.Command_MarkAgentDrained:
		return r.applyMarkAgentDrained(k.MarkAgentDrained)
	case *pb.Command_DeactivateAgent:
		a, err := r.activatable(k.DeactivateAgent.GetAgentId().GetValue())
		if err != nil {
			return err
		}
		a.Deactivated = proto.Bool(true)
		r.mt.deactivated[k.DeactivateAgent.GetAgentId().GetValue()] = true
		return nil
	case *pb.Command_ReactivateAgent:
		id := k.ReactivateAgent.GetAgentId().GetValue()
		a, err := r.activatable(id)
		if err != nil {
			return err
		}
		a.Deactivated = nil
		delete(r.mt.deactivated, id)
		delete(r.mt.drains, id)
		return nil
	}
	return fmt.Errorf("%w: not a maintenance command", ErrRejected)
}

// MachineKey identifies a machine: its lower-cased hostname and its IP.
// Hostnames are case-insensitive (Mesos lower-cases them as well).
func MachineKey(id *mesos.MachineID) string {
	return strings.ToLower(id.GetHostname()) + "\x00" + id.GetIp()
}

// NormalizeMachineID returns a copy of id with the hostname lower-cased.
func NormalizeMachineID(id *mesos.MachineID) *mesos.MachineID {
	out := &mesos.MachineID{Ip: id.Ip}
	if id.Hostname != nil {
		out.Hostname = proto.String(strings.ToLower(id.GetHostname()))
	}
	return out
}

func machineString(id *mesos.MachineID) string {
	switch {
	case id.GetHostname() != "" && id.GetIp() != "":
		return id.GetHostname() + " (" + id.GetIp() + ")"
	case id.GetHostname() != "":
		return id.GetHostname()
	default:
		return id.GetIp()
	}
}

// ValidateMachineID checks one machine ID: it needs a hostname or an IP,
// and an IP must be a valid IPv4 address.
func ValidateMachineID(id *mesos.MachineID) error {
	if id.GetHostname() == "" && id.GetIp() == "" {
		return fmt.Errorf("Both 'hostname' and 'ip' for a machine are empty")
	}
	if ip := id.GetIp(); ip != "" {
		if p := net.ParseIP(ip); p == nil || p.To4() == nil {
			return fmt.Errorf("Machine '%s': failed to parse IPv4 address %q", machineString(id), ip)
		}
	}
	return nil
}

// ValidateMachineList checks the machine list of START/STOP_MAINTENANCE:
// not empty, each ID valid, no machine twice.
func ValidateMachineList(ids []*mesos.MachineID) error {
	if len(ids) == 0 {
		return fmt.Errorf("List of machines is empty")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := ValidateMachineID(id); err != nil {
			return err
		}
		k := MachineKey(id)
		if seen[k] {
			return fmt.Errorf("Machine '%s' appears more than once in the list", machineString(id))
		}
		seen[k] = true
	}
	return nil
}

// ValidateSchedule checks a new schedule against the current machines: each
// window lists at least one machine and a non-negative duration, each
// machine is valid and appears once in the whole schedule, and no DOWN
// machine is left out.
func (r *Registry) ValidateSchedule(s *maintenance.Schedule) error {
	seen := make(map[string]bool)
	for _, w := range s.GetWindows() {
		if len(w.GetMachineIds()) == 0 {
			return fmt.Errorf("List of machines in the maintenance window is empty")
		}
		if w.GetUnavailability() == nil || w.GetUnavailability().GetStart() == nil {
			return fmt.Errorf("Maintenance window has no 'unavailability.start'")
		}
		if w.GetUnavailability().GetDuration().GetNanoseconds() < 0 {
			return fmt.Errorf("Unavailability 'duration' is negative")
		}
		for _, id := range w.GetMachineIds() {
			if err := ValidateMachineID(id); err != nil {
				return err
			}
			k := MachineKey(id)
			if seen[k] {
				return fmt.Errorf("Machine '%s' appears more than once in the schedule", machineString(id))
			}
			seen[k] = true
		}
	}
	for _, k := range r.machineKeys() {
		mi := r.mt.machines[k]
		if mi.GetMode() == mesos.MachineInfo_DOWN && !seen[k] {
			return fmt.Errorf("Machine '%s' is deactivated and cannot be removed from the schedule", machineString(mi.GetId()))
		}
	}
	return nil
}

// ValidateStart checks START_MAINTENANCE: every machine is scheduled.
func (r *Registry) ValidateStart(ids []*mesos.MachineID) error {
	if err := ValidateMachineList(ids); err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := r.mt.machines[MachineKey(id)]; !ok {
			return fmt.Errorf("Machine '%s' is not part of a maintenance schedule", machineString(id))
		}
	}
	return nil
}

// ValidateStop checks STOP_MAINTENANCE: every machine is DOWN.
func (r *Registry) ValidateStop(ids []*mesos.MachineID) error {
	if err := ValidateMachineList(ids); err != nil {
		return err
	}
	for _, id := range ids {
		if mi, ok := r.mt.machines[MachineKey(id)]; !ok || mi.GetMode() != mesos.MachineInfo_DOWN {
			return fmt.Errorf("Machine '%s' is not in DOWN mode and cannot be brought up", machineString(id))
		}
	}
	return nil
}

func (r *Registry) applyUpdateSchedule(u *pb.UpdateMaintenanceSchedule) error {
	s := u.GetSchedule()
	if err := r.ValidateSchedule(s); err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	next := make(map[string]*mesos.MachineInfo)
	for _, w := range s.GetWindows() {
		for _, id := range w.GetMachineIds() {
			k := MachineKey(id)
			mode := mesos.MachineInfo_DRAINING
			if old, ok := r.mt.machines[k]; ok {
				mode = old.GetMode()
			}
			// Entries handed out by readers are replaced, never modified.
			next[k] = &mesos.MachineInfo{
				Id:             NormalizeMachineID(id),
				Mode:           mode.Enum(),
				Unavailability: proto.Clone(w.GetUnavailability()).(*mesos.Unavailability),
			}
		}
	}
	r.mt.machines = next
	r.mt.schedule = normalizeSchedule(s)
	return nil
}

func normalizeSchedule(s *maintenance.Schedule) *maintenance.Schedule {
	out := &maintenance.Schedule{}
	for _, w := range s.GetWindows() {
		nw := &maintenance.Window{Unavailability: proto.Clone(w.GetUnavailability()).(*mesos.Unavailability)}
		for _, id := range w.GetMachineIds() {
			nw.MachineIds = append(nw.MachineIds, NormalizeMachineID(id))
		}
		out.Windows = append(out.Windows, nw)
	}
	if len(out.Windows) == 0 {
		return nil
	}
	return out
}

func (r *Registry) applyStartMaintenance(s *pb.StartMaintenance) error {
	if err := r.ValidateStart(s.GetMachines()); err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	for _, id := range s.GetMachines() {
		k := MachineKey(id)
		mi := proto.Clone(r.mt.machines[k]).(*mesos.MachineInfo)
		mi.Mode = mesos.MachineInfo_DOWN.Enum()
		r.mt.machines[k] = mi
	}
	return nil
}

func (r *Registry) applyStopMaintenance(s *pb.StopMaintenance) error {
	if err := r.ValidateStop(s.GetMachines()); err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	gone := make(map[string]bool)
	for _, id := range s.GetMachines() {
		k := MachineKey(id)
		gone[k] = true
		delete(r.mt.machines, k)
	}
	// The machines leave the schedule; windows left empty go too.
	out := &maintenance.Schedule{}
	for _, w := range r.mt.schedule.GetWindows() {
		nw := &maintenance.Window{Unavailability: w.GetUnavailability()}
		for _, id := range w.GetMachineIds() {
			if !gone[MachineKey(id)] {
				nw.MachineIds = append(nw.MachineIds, id)
			}
		}
		if len(nw.MachineIds) > 0 {
			out.Windows = append(out.Windows, nw)
		}
	}
	r.mt.schedule = out
	if len(out.Windows) == 0 {
		r.mt.schedule = nil
	}
	return nil
}

func (r *Registry) applyDrainAgent(d *pb.DrainAgent) error {
	id := d.GetAgentId().GetValue()
	a, ok := r.agents[id]
	if !ok {
		return fmt.Errorf("%w: unknown agent %q", ErrRejected, id)
	}
	if a.GetState() == pb.RegistryAgent_GONE {
		return fmt.Errorf("%w: agent %q is gone", ErrRejected, id)
	}
	state := mesos.DrainState_DRAINING
	if old, ok := r.mt.drains[id]; ok {
		state = old.GetState() // draining again only updates the config
	}
	cfg := d.GetConfig()
	if cfg == nil {
		cfg = &mesos.DrainConfig{}
	}
	r.mt.drains[id] = &mesos.DrainInfo{State: state.Enum(), Config: proto.Clone(cfg).(*mesos.DrainConfig)}
	return nil
}

func (r *Registry) applyMarkAgentDrained(d *pb.MarkAgentDrained) error {
	id := d.GetAgentId().GetValue()
	old, ok := r.mt.drains[id]
	if !ok || old.GetState() != mesos.DrainState_DRAINING {
		return fmt.Errorf("%w: agent %q is not draining", ErrRejected, id)
	}
	r.mt.drains[id] = &mesos.DrainInfo{State: mesos.DrainState_DRAINED.Enum(), Config: old.GetConfig()}
	return nil
}

func (r *Registry) machineKeys() []string {
	keys := make([]string, 0, len(r.mt.machines))
	for k := range r.mt.machines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Machines returns the scheduled machines sorted by hostname, then IP. The
// entries must not be modified.
func (r *Registry) Machines() []*mesos.MachineInfo {
	out := make([]*mesos.MachineInfo, 0, len(r.mt.machines))
	for _, k := range r.machineKeys() {
		out = append(out, r.mt.machines[k])
	}
	return out
}

// Machine returns a scheduled machine. The result must not be modified.
func (r *Registry) Machine(id *mesos.MachineID) (*mesos.MachineInfo, bool) {
	mi, ok := r.mt.machines[MachineKey(id)]
	return mi, ok
}

// Schedule returns the maintenance schedule (nil if none). It must not be
// modified.
func (r *Registry) Schedule() *maintenance.Schedule { return r.mt.schedule }

// activatable returns the agent DEACTIVATE/REACTIVATE_AGENT may act on: one
// the registry knows and that is not gone.
func (r *Registry) activatable(id string) (*pb.RegistryAgent, error) {
	a, ok := r.agents[id]
	if !ok || a.GetState() == pb.RegistryAgent_GONE {
		return nil, fmt.Errorf("%w: unknown agent %q", ErrRejected, id)
	}
	return a, nil
}

// AgentDeactivated reports whether DEACTIVATE_AGENT turned off the agent's
// offers (until REACTIVATE_AGENT).
func (r *Registry) AgentDeactivated(id string) bool { return r.agents[id].GetDeactivated() }

// DeactivatedAgents counts the agents DEACTIVATE_AGENT turned off (an
// upper bound: an entry may outlive its agent's removal).
func (r *Registry) DeactivatedAgents() int { return len(r.mt.deactivated) }

// AgentDrain returns the drain state of an agent (nil if not draining).
func (r *Registry) AgentDrain(id string) *mesos.DrainInfo { return r.mt.drains[id] }

// Drains lists draining and drained agents sorted by ID. The entries must
// not be modified.
func (r *Registry) Drains() []*pb.AgentDrain {
	ids := make([]string, 0, len(r.mt.drains))
	for id := range r.mt.drains {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*pb.AgentDrain, 0, len(ids))
	for _, id := range ids {
		out = append(out, &pb.AgentDrain{AgentId: &mesos.AgentID{Value: proto.String(id)}, Info: r.mt.drains[id]})
	}
	return out
}

func (r *Registry) maintenanceProto(out *pb.Registry) {
	for _, mi := range r.Machines() {
		out.Machines = append(out.Machines, proto.Clone(mi).(*mesos.MachineInfo))
	}
	if r.mt.schedule != nil {
		out.Schedule = proto.Clone(r.mt.schedule).(*maintenance.Schedule)
	}
	for _, d := range r.Drains() {
		out.Drains = append(out.Drains, proto.Clone(d).(*pb.AgentDrain))
	}
}

func (r *Registry) restoreMaintenance(p *pb.Registry) {
	r.mt.machines = make(map[string]*mesos.MachineInfo)
	r.mt.drains = make(map[string]*mesos.DrainInfo)
	for _, mi := range p.GetMachines() {
		r.mt.machines[MachineKey(mi.GetId())] = mi
	}
	r.mt.schedule = p.GetSchedule()
	for _, d := range p.GetDrains() {
		r.mt.drains[d.GetAgentId().GetValue()] = d.GetInfo()
	}
	r.mt.deactivated = make(map[string]bool)
	for _, a := range p.GetAgents() {
		if a.GetDeactivated() {
			r.mt.deactivated[a.GetInfo().GetId().GetValue()] = true
		}
	}
}
