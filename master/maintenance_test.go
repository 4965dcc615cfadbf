package master

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	allocpb "github.com/mesosd/mesosd/proto/mesos/v1/allocator"
	"github.com/mesosd/mesosd/proto/mesos/v1/maintenance"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func machine(host, ip string) *mesos.MachineID {
	id := &mesos.MachineID{}
	if host != "" {
		id.Hostname = proto.String(host)
	}
	if ip != "" {
		id.Ip = proto.String(ip)
	}
	return id
}

func maintWindow(start time.Time, d time.Duration, ids ...*mesos.MachineID) *maintenance.Window {
	return &maintenance.Window{MachineIds: ids, Unavailability: &mesos.Unavailability{
		Start:    &mesos.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())},
		Duration: &mesos.DurationInfo{Nanoseconds: proto.Int64(d.Nanoseconds())},
	}}
}

func scheduleCall(ws ...*maintenance.Window) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(),
		UpdateMaintenanceSchedule: &masterpb.Call_UpdateMaintenanceSchedule{Schedule: &maintenance.Schedule{Windows: ws}}}
}

func startCall(ids ...*mesos.MachineID) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(), StartMaintenance: &masterpb.Call_StartMaintenance{Machines: ids}}
}

func stopCall(ids ...*mesos.MachineID) *masterpb.Call {
	return &masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(), StopMaintenance: &masterpb.Call_StopMaintenance{Machines: ids}}
}

func maintStatus(t *testing.T, tm *testMaster) *maintenance.ClusterStatus {
	t.Helper()
	code, _, r := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_STATUS.Enum()})
	if code != 200 || r.GetType() != masterpb.Response_GET_MAINTENANCE_STATUS {
		t.Fatalf("GET_MAINTENANCE_STATUS: %d %v", code, r)
	}
	return r.GetGetMaintenanceStatus().GetStatus()
}

func (s *sched) inverseOffer(a *fakeAgent) *mesos.InverseOffer {
	s.t.Helper()
	ev := s.take("INVERSE_OFFERS for agent "+a.id, scheduler.Event_INVERSE_OFFERS, func(ev *scheduler.Event) bool {
		for _, o := range ev.GetInverseOffers().GetInverseOffers() {
			if o.GetAgentId().GetValue() == a.id {
				return true
			}
		}
		return false
	})
	for _, o := range ev.GetInverseOffers().GetInverseOffers() {
		if o.GetAgentId().GetValue() == a.id {
			return o
		}
	}
	panic("unreachable")
}

// noOffersFrom asserts that, after a full allocation run, no OFFERS event
// carries an offer of agent a.
func (s *sched) noOffersFrom(a *fakeAgent, why string) {
	s.t.Helper()
	for round := 0; round < 2; round++ {
		s.tm.forceAllocation()
		s.barrier()
		var got []*scheduler.Event
		for _, ev := range drainEvents(s) {
			for _, o := range ev.GetOffers().GetOffers() {
				if o.GetAgentId().GetValue() == a.id {
					got = append(got, ev)
					break
				}
			}
		}
		if len(got) > 0 {
			s.t.Fatalf("%s, but got offers: %s", why, describe(got))
		}
	}
}

func TestMaintenanceScenario(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a1 := tm.addAgent(agentOpts{hostname: "maint1.example"})
	a2 := tm.addAgent(agentOpts{hostname: "other.example"})
	s := tm.subscribe(codec.JSON, frameworkInfo("maint"))
	seen := map[string]bool{}
	for !seen[a1.id] || !seen[a2.id] {
		for _, o := range s.offers() {
			seen[o.GetAgentId().GetValue()] = true
		}
	}

	// Schedule maint1 (upper case: machine hostnames are case-insensitive).
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	if code, _, _ := operatorCall(t, tm, codec.JSON, scheduleCall(maintWindow(start, time.Hour, machine("MAINT1.example", "")))); code != http.StatusAccepted {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %d", code)
	}
	_, _, r := operatorCall(t, tm, codec.Protobuf, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()})
	ws := r.GetGetMaintenanceSchedule().GetSchedule().GetWindows()
	if len(ws) != 1 || ws[0].GetMachineIds()[0].GetHostname() != "maint1.example" {
		t.Fatalf("GET_MAINTENANCE_SCHEDULE: %v", r)
	}

	// The outstanding offer of a1 is rescinded; new ones carry the
	// unavailability. a2's do not.
	s.take("RESCIND of a1's offer", scheduler.Event_RESCIND, nil)
	var o1 *mesos.Offer
	for o1 == nil {
		o := s.offer(a1)
		if o.GetUnavailability() != nil {
			o1 = o
		}
	}
	if got := o1.GetUnavailability().GetStart().GetNanoseconds(); got != start.UnixNano() {
		t.Fatalf("offer unavailability start = %d, want %d", got, start.UnixNano())
	}
	s.launch([]*mesos.Offer{o1}, cmdTask(t, "t1", a1, "cpus:1;mem:128"))
	a1.runTask("t1")
	a1.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_RUNNING)

	// The framework holds resources on a1: it gets inverse offers.
	io := s.inverseOffer(a1)
	if io.GetFrameworkId().GetValue() != s.fid || io.GetUnavailability().GetStart().GetNanoseconds() != start.UnixNano() {
		t.Fatalf("inverse offer: %v", io)
	}
	st := maintStatus(t, tm)
	if len(st.GetDrainingMachines()) != 1 || len(st.GetDrainingMachines()[0].GetStatuses()) != 0 || len(st.GetDownMachines()) != 0 {
		t.Fatalf("status before answers: %v", st)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_DECLINE_INVERSE_OFFERS.Enum(), DeclineInverseOffers: &scheduler.Call_DeclineInverseOffers{
		InverseOfferIds: []*mesos.OfferID{io.GetId()}, Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0)},
	}})
	waitUntil(t, "the decline shows in the status", func() bool {
		ss := maintStatus(t, tm).GetDrainingMachines()[0].GetStatuses()
		return len(ss) == 1 && ss[0].GetStatus() == allocpb.InverseOfferStatus_DECLINE && ss[0].GetFrameworkId().GetValue() == s.fid
	})
	// No filter: the next cycle asks again. Accept with a long filter.
	io = s.inverseOffer(a1)
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT_INVERSE_OFFERS.Enum(), AcceptInverseOffers: &scheduler.Call_AcceptInverseOffers{
		InverseOfferIds: []*mesos.OfferID{io.GetId()}, Filters: &mesos.Filters{RefuseSeconds: proto.Float64(3600)},
	}})
	waitUntil(t, "the accept shows in the status", func() bool {
		ss := maintStatus(t, tm).GetDrainingMachines()[0].GetStatuses()
		return len(ss) == 1 && ss[0].GetStatus() == allocpb.InverseOfferStatus_ACCEPT
	})
	tm.forceAllocation()
	s.barrier()
	if got := s.events.pending(func(ev *scheduler.Event) bool { return ev.GetType() == scheduler.Event_INVERSE_OFFERS }); len(got) > 0 {
		t.Fatalf("inverse offer despite the refuse filter: %s", describe(got))
	}

	// Bad maintenance calls: 400, nothing changed.
	for name, c := range map[string]*masterpb.Call{
		"start of an unscheduled machine":  startCall(machine("nowhere.example", "")),
		"stop of a draining machine":       stopCall(machine("maint1.example", "")),
		"machine in two windows":           scheduleCall(maintWindow(start, time.Hour, machine("x", "")), maintWindow(start, time.Hour, machine("X", ""))),
		"machine without hostname or ip":   scheduleCall(maintWindow(start, time.Hour, &mesos.MachineID{})),
		"bad ip":                           scheduleCall(maintWindow(start, time.Hour, machine("", "300.1.1.1"))),
		"negative duration":                scheduleCall(maintWindow(start, -time.Hour, machine("y", ""))),
		"empty window":                     scheduleCall(maintWindow(start, time.Hour)),
		"start without machines":           startCall(),
		"drain of an unknown agent":        {Type: masterpb.Call_DRAIN_AGENT.Enum(), DrainAgent: &masterpb.Call_DrainAgent{AgentId: &mesos.AgentID{Value: proto.String("nope")}}},
		"start_maintenance field missing":  {Type: masterpb.Call_START_MAINTENANCE.Enum()},
		"update_maintenance_schedule gone": {Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum()},
	} {
		if code, _, _ := operatorCall(t, tm, codec.Protobuf, c); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, code)
		}
	}
	if st := maintStatus(t, tm); len(st.GetDrainingMachines()) != 1 || len(st.GetDownMachines()) != 0 {
		t.Fatalf("bad calls changed the status: %v", st)
	}

	// START_MAINTENANCE: a1's offers are rescinded and it is offered no more.
	s.barrier()
	var held []*mesos.Offer
	for _, ev := range drainEvents(s) {
		for _, o := range ev.GetOffers().GetOffers() {
			if o.GetAgentId().GetValue() == a1.id {
				held = append(held, o)
			}
		}
	}
	if code, _, _ := operatorCall(t, tm, codec.JSON, startCall(machine("maint1.example", ""))); code != http.StatusAccepted {
		t.Fatalf("START_MAINTENANCE: %d", code)
	}
	for _, o := range held {
		s.take("RESCIND "+o.GetId().GetValue(), scheduler.Event_RESCIND, func(ev *scheduler.Event) bool {
			return ev.GetRescind().GetOfferId().GetValue() == o.GetId().GetValue()
		})
	}
	if len(held) == 0 {
		t.Log("no outstanding offer of a1 to rescind")
	}
	s.noOffersFrom(a1, "a1's machine is DOWN")
	st = maintStatus(t, tm)
	if len(st.GetDrainingMachines()) != 0 || len(st.GetDownMachines()) != 1 || st.GetDownMachines()[0].GetHostname() != "maint1.example" {
		t.Fatalf("status after START: %v", st)
	}
	// A DOWN machine may not leave the schedule.
	if code, _, _ := operatorCall(t, tm, codec.JSON, scheduleCall()); code != http.StatusBadRequest {
		t.Fatalf("removing a DOWN machine from the schedule: %d, want 400", code)
	}

	// Legacy endpoints.
	for path, want := range map[string]string{"/master/maintenance/schedule": "maint1.example", "/master/maintenance/status": "down_machines"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		mux := http.NewServeMux()
		tm.m.registerMaintenanceHandlers(mux)
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}

	// STOP_MAINTENANCE: the machine is UP, out of the schedule, offered again.
	if code, _, _ := operatorCall(t, tm, codec.JSON, stopCall(machine("maint1.example", ""))); code != http.StatusAccepted {
		t.Fatalf("STOP_MAINTENANCE: %d", code)
	}
	if o := s.offer(a1); o.GetUnavailability() != nil {
		t.Fatalf("offer after STOP carries %v", o.GetUnavailability())
	}
	if st := maintStatus(t, tm); len(st.GetDrainingMachines())+len(st.GetDownMachines()) != 0 {
		t.Fatalf("status after STOP: %v", st)
	}
	_, _, r = operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()})
	if len(r.GetGetMaintenanceSchedule().GetSchedule().GetWindows()) != 0 {
		t.Fatalf("schedule after STOP: %v", r)
	}
}

// drainEvents takes and returns the events received so far.
func drainEvents(s *sched) []*scheduler.Event {
	all := func(*scheduler.Event) bool { return true }
	var out []*scheduler.Event
	for len(s.events.pending(all)) > 0 {
		out = append(out, s.events.take(s.t, "any event", all))
	}
	return out
}

func TestDrainAgent(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a1 := tm.addAgent(agentOpts{hostname: "drain1.example"})
	s := tm.subscribe(codec.Protobuf, frameworkInfo("drain"))
	o := s.offer(a1)
	task := cmdTask(t, "t1", a1, "cpus:1;mem:128")
	task.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(time.Minute))}}
	s.launch([]*mesos.Offer{o}, task)
	a1.runTask("t1")
	a1.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
	s.update("t1", mesos.TaskState_TASK_RUNNING)
	held := s.offer(a1) // what is left of a1

	code, hdr, _ := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_DRAIN_AGENT.Enum(), DrainAgent: &masterpb.Call_DrainAgent{
		AgentId: &mesos.AgentID{Value: proto.String(a1.id)}, MaxGracePeriod: durationpb.New(2 * time.Second),
	}})
	if code != http.StatusOK || hdr.Get("Content-Type") != "" {
		t.Fatalf("DRAIN_AGENT: %d %v", code, hdr)
	}
	// The outstanding offer is rescinded, the task killed with the grace
	// period capped, and a1 offered no more.
	s.take("RESCIND", scheduler.Event_RESCIND, func(ev *scheduler.Event) bool {
		return ev.GetRescind().GetOfferId().GetValue() == held.GetId().GetValue()
	})
	kill := a1.take("KILL_TASK t1", pb.AgentEvent_KILL_TASK, nil).GetKillTask()
	if kill.GetTaskId().GetValue() != "t1" || kill.GetKillPolicy().GetGracePeriod().GetNanoseconds() != int64(2*time.Second) {
		t.Fatalf("KILL_TASK: %v", kill)
	}
	s.noOffersFrom(a1, "a1 is draining")
	drainState := func() mesos.DrainState {
		var d mesos.DrainState
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = tm.m.do(ctx, func() { d = tm.m.reg.AgentDrain(a1.id).GetState() })
		return d
	}
	if d := drainState(); d != mesos.DrainState_DRAINING {
		t.Fatalf("drain state %v, want DRAINING", d)
	}
	a1.sendUpdate(s.fid, "t1", mesos.TaskState_TASK_KILLED)
	s.update("t1", mesos.TaskState_TASK_KILLED)
	tm.forceAllocation()
	waitUntil(t, "the agent is DRAINED", func() bool { return drainState() == mesos.DrainState_DRAINED })
	s.noOffersFrom(a1, "a1 is drained")
}

// The schedule, machine modes and drains are replicated: a restarted master
// (the registry replayed from the Raft log) still has them, and agents on a
// DOWN machine stay unoffered.
func TestMaintenanceSurvivesRestart(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a1 := tm.addAgent(agentOpts{hostname: "m1.example"})
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	if code, _, _ := operatorCall(t, tm, codec.JSON, scheduleCall(
		maintWindow(start, time.Hour, machine("m1.example", "")),
		maintWindow(start, 2*time.Hour, machine("m2.example", "10.0.0.2")))); code != http.StatusAccepted {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %d", code)
	}
	if code, _, _ := operatorCall(t, tm, codec.JSON, startCall(machine("m1.example", ""))); code != http.StatusAccepted {
		t.Fatalf("START_MAINTENANCE: %d", code)
	}
	if code, _, _ := operatorCall(t, tm, codec.Protobuf, &masterpb.Call{Type: masterpb.Call_DRAIN_AGENT.Enum(), DrainAgent: &masterpb.Call_DrainAgent{
		AgentId: &mesos.AgentID{Value: proto.String(a1.id)}}}); code != http.StatusOK {
		t.Fatalf("DRAIN_AGENT: %d", code)
	}
	tm = tm.restart()
	st := maintStatus(t, tm)
	if len(st.GetDownMachines()) != 1 || st.GetDownMachines()[0].GetHostname() != "m1.example" ||
		len(st.GetDrainingMachines()) != 1 || st.GetDrainingMachines()[0].GetId().GetIp() != "10.0.0.2" {
		t.Fatalf("status after restart: %v", st)
	}
	_, _, r := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()})
	if len(r.GetGetMaintenanceSchedule().GetSchedule().GetWindows()) != 2 {
		t.Fatalf("schedule after restart: %v", r)
	}
	var drain mesos.DrainState
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_ = tm.m.do(ctx, func() { drain = tm.m.reg.AgentDrain(a1.id).GetState() })
	if drain == mesos.DrainState_UNKNOWN {
		t.Fatal("drain state lost in the restart")
	}
	// The agent tries to re-register with the new leader: its machine is
	// DOWN, so it is told to shut down (Mesos refuses such agents).
	body, err := proto.Marshal(&pb.AgentSubscribe{Info: &mesos.AgentInfo{
		Id: &mesos.AgentID{Value: proto.String(a1.id)}, Hostname: proto.String("m1.example"),
		Port: proto.Int32(5051), Resources: mustResources(t, agentResources),
	}})
	if err != nil {
		t.Fatal(err)
	}
	code, text := tm.post("/internal/agent/v1/subscribe", map[string]string{"Content-Type": codec.ContentTypeProtobuf}, body)
	if code != http.StatusOK || !strings.Contains(text, "DOWN for maintenance") {
		t.Fatalf("agent on a DOWN machine re-registering: %d %q; want a SHUTDOWN event", code, text)
	}
}
