package master

import (
	"fmt"
	"math"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/allocator"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// maxRefuseSeconds caps Filters.refuse_seconds as Mesos does (one year).
const maxRefuseSeconds = 31536000

// offer is an outstanding offer. Its resources count as allocated to the
// framework until it is accepted, declined, rescinded or times out.
type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	res         resources.Resources
	msg         *mesos.Offer
	timer       *time.Timer
}

func (m *Master) markAllDirty() { m.dirtyAll = true }

func (m *Master) markAgentDirty(id string) { m.dirtyAgent[id] = struct{}{} }

// runAllocation runs the allocator if anything changed since the last run and
// sends each framework one OFFERS event with everything it got.
func (m *Master) runAllocation(now time.Time) {
	if !m.dirtyAll && len(m.dirtyAgent) == 0 {
		return
	}
	byFramework := make(map[string][]*mesos.Offer)
	sink := func(o allocator.Offer) {
		if msg := m.createOffer(o); msg != nil {
			byFramework[o.FrameworkID] = append(byFramework[o.FrameworkID], msg)
		}
	}
	if m.dirtyAll {
		m.alloc.Allocate(now, sink)
	} else {
		ids := make([]string, 0, len(m.dirtyAgent))
		for id := range m.dirtyAgent {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		m.alloc.AllocateAgents(now, ids, sink)
	}
	m.dirtyAll = false
	clear(m.dirtyAgent)
	m.maintenanceCycle(now, byFramework) // maintenance.go: unavailability, blocked agents, inverse offers
	fids := make([]string, 0, len(byFramework))
	for id := range byFramework {
		fids = append(fids, id)
	}
	sort.Strings(fids)
	for _, id := range fids {
		f := m.frameworks[id]
		f.send(&scheduler.Event{Type: scheduler.Event_OFFERS.Enum(), Offers: &scheduler.Event_Offers{Offers: byFramework[id]}})
		m.metrics.add("master/messages_resource_offers", 1)
	}
}

// createOffer turns an allocation into an offer, or hands the resources
// straight back if the framework or agent went away in the meantime.
func (m *Master) createOffer(o allocator.Offer) *mesos.Offer {
	f, fok := m.frameworks[o.FrameworkID]
	a, aok := m.agents[o.AgentID]
	if !fok || !aok || f.sub == nil || a.conn == nil {
		m.allocErr(m.alloc.Recover(o.FrameworkID, o.AgentID, o.Role, o.Resources, 0, time.Now()))
		return nil
	}
	m.nextOffer++
	id := fmt.Sprintf("%s-O%d", m.info.GetId(), m.nextOffer)
	var res []*mesos.Resource
	converted := false // ToProtoPreRefinement is ToProto plus a rewrite: convert once
	if !f.has(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		// Frameworks without RESERVATION_REFINEMENT read the pre-refinement
		// format (role and reservation fields, no reservation stack); the
		// allocator never offers them refined reservations.
		if pre, err := o.Resources.ToProtoPreRefinement(); err == nil {
			res, converted = pre, true
		} else {
			m.log.Warn("cannot express offer in the pre-refinement format", "framework", f.id, "err", err)
		}
	}
	if !converted {
		res = o.Resources.ToProto()
	}
	if f.has(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		// allocation_info must follow MULTI_ROLE: msh ignores offers
		// without it, example-scheduler launches nothing with it.
		for _, r := range res {
			r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(o.Role)}
		}
	}
	msg := &mesos.Offer{
		Id:          &mesos.OfferID{Value: proto.String(id)},
		FrameworkId: f.info.GetId(),
		AgentId:     a.info.GetId(),
		Hostname:    a.info.Hostname,
		Resources:   res,
		Attributes:  a.info.GetAttributes(),
		Domain:      a.info.GetDomain(),
	}
	if f.has(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		msg.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(o.Role)}
	}
	if a.info.Port != nil {
		msg.Url = &mesos.URL{
			Scheme:  proto.String("http"),
			Address: &mesos.Address{Hostname: a.info.Hostname, Port: a.info.Port},
			Path:    proto.String("/slave(1)"),
		}
	}
	off := &offer{id: id, frameworkID: f.id, agentID: a.id, role: o.Role, res: o.Resources, msg: msg}
	m.offers[id] = off
	f.offers[id] = off
	a.offers[id] = off
	if m.cfg.OfferTimeout > 0 {
		off.timer = m.after(m.cfg.OfferTimeout, func() {
			if cur, ok := m.offers[id]; ok && cur == off {
				m.removeOffer(off, true, 0)
			}
		})
	}
	m.version++
	return msg
}

// removeOffer drops an offer and returns its resources to the allocator with
// a refuse filter of refuse (0: none). rescind tells the framework.
func (m *Master) removeOffer(o *offer, rescind bool, refuse time.Duration) {
	if o.timer != nil {
		o.timer.Stop()
	}
	delete(m.offers, o.id)
	f := m.frameworks[o.frameworkID]
	if f != nil {
		delete(f.offers, o.id)
		if rescind {
			f.send(&scheduler.Event{Type: scheduler.Event_RESCIND.Enum(), Rescind: &scheduler.Event_Rescind{OfferId: o.msg.GetId()}})
		}
	}
	if a := m.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
	}
	m.allocErr(m.alloc.Recover(o.frameworkID, o.agentID, o.role, o.res, refuse, time.Now()))
	m.markAgentDirty(o.agentID)
	m.version++
}

func refuseDuration(f *mesos.Filters) time.Duration {
	s := f.GetRefuseSeconds() // proto default 5.0
	if math.IsNaN(s) || s < 0 {
		s = 5
	}
	if s > maxRefuseSeconds {
		s = maxRefuseSeconds
	}
	return time.Duration(s * float64(time.Second))
}

func (m *Master) decline(f *framework, ids []*mesos.OfferID, filters *mesos.Filters) {
	refuse := refuseDuration(filters)
	for _, id := range ids {
		if o, ok := f.offers[id.GetValue()]; ok {
			m.removeOffer(o, false, refuse)
		}
	}
}

// validateOffers checks the offers of an ACCEPT as Mesos does: all exist,
// belong to the framework, appear once, and share one agent and one role.
func (m *Master) validateOffers(f *framework, ids []*mesos.OfferID) ([]*offer, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("no offers specified")
	}
	seen := make(map[string]bool, len(ids))
	var out []*offer
	for _, id := range ids {
		v := id.GetValue()
		if seen[v] {
			return nil, fmt.Errorf("duplicate offer %q in ACCEPT", v)
		}
		seen[v] = true
		o, ok := m.offers[v]
		if !ok {
			return nil, fmt.Errorf("offer %q is no longer valid", v)
		}
		if o.frameworkID != f.id {
			return nil, fmt.Errorf("offer %q has invalid framework %q while framework %q is expected", v, o.frameworkID, f.id)
		}
		if len(out) > 0 {
			if o.agentID != out[0].agentID {
				return nil, fmt.Errorf("aggregated offers must belong to one single agent; offer %q uses agent %q and offer %q uses agent %q", v, o.agentID, out[0].id, out[0].agentID)
			}
			if o.role != out[0].role {
				return nil, fmt.Errorf("aggregated offers must be allocated to the same role; offer %q uses role %q and offer %q uses role %q", v, o.role, out[0].id, out[0].role)
			}
		}
		out = append(out, o)
	}
	return out, nil
}
