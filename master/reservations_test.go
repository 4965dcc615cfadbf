package master

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// ---- helpers ----

func reservedRes(t testing.TB, s, role, principal string) resources.Resources {
	t.Helper()
	r, err := resources.MustParse(s).PushReservation(resources.Reservation{Type: resources.ReservationDynamic, Role: role, Principal: principal})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func volumeOf(t testing.TB, disk resources.Resources, id string) resources.Resources {
	t.Helper()
	items := disk.Items()
	for i := range items {
		items[i].Disk = &resources.DiskInfo{PersistenceID: id, HasVolume: true, VolumeContainerPath: "data", VolumeMode: resources.VolumeRW}
	}
	v, err := resources.New(items...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func opID(id string) *mesos.OperationID {
	if id == "" {
		return nil
	}
	return &mesos.OperationID{Value: proto.String(id)}
}

func reserveOp(id string, r resources.Resources) *mesos.Offer_Operation {
	return &mesos.Offer_Operation{Type: mesos.Offer_Operation_RESERVE.Enum(), Id: opID(id), Reserve: &mesos.Offer_Operation_Reserve{Resources: r.ToProto()}}
}

func unreserveOp(id string, r resources.Resources) *mesos.Offer_Operation {
	return &mesos.Offer_Operation{Type: mesos.Offer_Operation_UNRESERVE.Enum(), Id: opID(id), Unreserve: &mesos.Offer_Operation_Unreserve{Resources: r.ToProto()}}
}

func createOp(id string, r resources.Resources) *mesos.Offer_Operation {
	return &mesos.Offer_Operation{Type: mesos.Offer_Operation_CREATE.Enum(), Id: opID(id), Create: &mesos.Offer_Operation_Create{Volumes: r.ToProto()}}
}

func destroyOp(id string, r resources.Resources) *mesos.Offer_Operation {
	return &mesos.Offer_Operation{Type: mesos.Offer_Operation_DESTROY.Enum(), Id: opID(id), Destroy: &mesos.Offer_Operation_Destroy{Volumes: r.ToProto()}}
}

func launchOp(tasks ...*mesos.TaskInfo) *mesos.Offer_Operation {
	return &mesos.Offer_Operation{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks}}
}

func (s *sched) accept(offers []*mesos.Offer, ops ...*mesos.Offer_Operation) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT.Enum(), Accept: &scheduler.Call_Accept{
		OfferIds: offerIDs(offers...), Operations: ops, Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0)},
	}})
}

// opStatus waits for the UPDATE_OPERATION_STATUS of operation id.
func (s *sched) opStatus(id string) *mesos.OperationStatus {
	s.t.Helper()
	return s.take("UPDATE_OPERATION_STATUS "+id, scheduler.Event_UPDATE_OPERATION_STATUS, func(ev *scheduler.Event) bool {
		return ev.GetUpdateOperationStatus().GetStatus().GetOperationId().GetValue() == id
	}).GetUpdateOperationStatus().GetStatus()
}

func taskWith(t testing.TB, id string, a *fakeAgent, r resources.Resources) *mesos.TaskInfo {
	ti := cmdTask(t, id, a, "cpus:0.1")
	ti.Resources = r.ToProto()
	return ti
}

// checkpoint waits for the agent's next CHECKPOINT_RESOURCES.
func (a *fakeAgent) checkpoint() resources.Resources {
	a.t.Helper()
	ev := a.take("CHECKPOINT_RESOURCES", pb.AgentEvent_CHECKPOINT_RESOURCES, nil)
	r, err := resources.FromProto(ev.GetCheckpointResources().GetResources())
	if err != nil {
		a.t.Fatalf("checkpointed resources do not parse: %v", err)
	}
	return r
}

// jsonResources renders resources in the JSON form --resources accepts, so
// a fake agent can re-register with dynamic reservations applied.
func jsonResources(t testing.TB, r resources.Resources) string {
	t.Helper()
	parts := make([]string, 0, r.Len())
	for _, x := range r.ToProto() {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// engFramework is a MULTI_ROLE framework in role eng that reads the
// reservation-refinement format (as msh and mesos-go's example-scheduler do).
func engFramework(principal string, caps ...mesos.FrameworkInfo_Capability_Type) *mesos.FrameworkInfo {
	caps = append(caps, mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	fi := multiRole(frameworkInfo("eng-fw", caps...), "eng")
	if principal != "" {
		fi.Principal = proto.String(principal)
	}
	return fi
}

func operatorResources(t *testing.T, tm *testMaster, typ masterpb.Call_Type, agentID string, r resources.Resources) int {
	t.Helper()
	call := &masterpb.Call{Type: typ.Enum()}
	id := &mesos.AgentID{Value: proto.String(agentID)}
	switch typ {
	case masterpb.Call_RESERVE_RESOURCES:
		call.ReserveResources = &masterpb.Call_ReserveResources{AgentId: id, Resources: r.ToProto()}
	case masterpb.Call_UNRESERVE_RESOURCES:
		call.UnreserveResources = &masterpb.Call_UnreserveResources{AgentId: id, Resources: r.ToProto()}
	case masterpb.Call_CREATE_VOLUMES:
		call.CreateVolumes = &masterpb.Call_CreateVolumes{AgentId: id, Volumes: r.ToProto()}
	case masterpb.Call_DESTROY_VOLUMES:
		call.DestroyVolumes = &masterpb.Call_DestroyVolumes{AgentId: id, Volumes: r.ToProto()}
	}
	code, _, _ := operatorCall(t, tm, codec.JSON, call)
	return code
}

// agentTotal reads an agent's total from GET_AGENTS.
func agentTotal(t *testing.T, tm *testMaster, agentID string) resources.Resources {
	t.Helper()
	_, _, r := operatorCall(t, tm, codec.Protobuf, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	for _, ag := range r.GetGetAgents().GetAgents() {
		if ag.GetAgentInfo().GetId().GetValue() == agentID {
			return resourcesOf(t, ag.GetTotalResources())
		}
	}
	for _, info := range r.GetGetAgents().GetRecoveredAgents() {
		if info.GetId().GetValue() == agentID {
			return resourcesOf(t, info.GetResources())
		}
	}
	t.Fatalf("agent %s not in GET_AGENTS", agentID)
	return resources.Resources{}
}

// waitOfferedAll waits until s has been offered every scalar of the agent
// (reserved or not), in one or several OFFERS events.
func (s *sched) waitOfferedAll(a *fakeAgent) []*mesos.Offer {
	s.t.Helper()
	want := resources.MustParse(agentResources).Quantities()
	var got []*mesos.Offer
	for !sumOffers(s.t, got).Quantities().Contains(want) {
		got = append(got, s.offer(a))
	}
	return got
}

// ---- scenarios ----

// RESERVE then LAUNCH on the just-reserved resources in one ACCEPT; the
// reservation is offered back (with `reservations`) to its role only; then
// UNRESERVE.
func TestReserveLaunchUnreserveThroughAccept(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codec.JSON, engFramework("p"))
	o := s.offer(a)

	res := reservedRes(t, "cpus:1;mem:128", "eng", "p")
	s.accept([]*mesos.Offer{o}, reserveOp("r1", res), launchOp(taskWith(t, "t1", a, res)))
	if got := a.checkpoint(); !got.Equal(res) {
		t.Fatalf("agent told to checkpoint %v, want %v", got, res)
	}
	a.runTask("t1")
	if st := s.opStatus("r1"); st.GetState() != mesos.OperationState_OPERATION_FINISHED || st.GetAgentId().GetValue() != a.id {
		t.Fatalf("operation status: %v", st)
	}
	if got := agentTotal(t, tm, a.id); !got.Reserved("eng").Equal(res) {
		t.Fatalf("GET_AGENTS total %v, want the reservation %v", got, res)
	}

	// The task ends: its reserved resources come back to eng, as reserved.
	a.update(s.fid, "t1", mesos.TaskState_TASK_FINISHED)
	offers := s.waitOfferedAll(a)
	var sawReservation bool
	for _, o := range offers {
		for _, r := range o.GetResources() {
			if len(r.GetReservations()) == 1 && r.GetReservations()[0].GetRole() == "eng" &&
				r.GetReservations()[0].GetType() == mesos.Resource_ReservationInfo_DYNAMIC && r.GetReservations()[0].GetPrincipal() == "p" {
				sawReservation = true
			}
		}
	}
	if !sawReservation || !sumOffers(t, offers).Reserved("eng").Equal(res) {
		t.Fatalf("offers %v do not carry the reservation", offers)
	}

	// UNRESERVE it.
	s.accept(offers, unreserveOp("u1", res))
	if got := a.checkpoint(); !got.IsEmpty() {
		t.Fatalf("after UNRESERVE the agent checkpoints %v, want nothing", got)
	}
	if st := s.opStatus("u1"); st.GetState() != mesos.OperationState_OPERATION_FINISHED {
		t.Fatalf("unreserve status: %v", st)
	}
	offers = s.waitOffered(a, agentResources)
	if r := sumOffers(t, offers).Reserved(""); !r.IsEmpty() {
		t.Fatalf("still reserved after UNRESERVE: %v", r)
	}
	if tm.metrics()["master/invalid_operations"] != 0 {
		t.Fatal("valid operations were counted invalid")
	}
}

// Bad ACCEPT operations: each fails with OPERATION_ERROR and changes
// nothing (the whole agent comes back unreserved).
func TestInvalidResourceOperations(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codec.Protobuf, engFramework("p"))
	static, _ := resources.New(resources.Resource{Name: "cpus", Kind: resources.KindScalar, Scalar: 1000,
		Reservations: []resources.Reservation{{Type: resources.ReservationStatic, Role: "eng"}}})
	cases := []struct {
		name string
		op   *mesos.Offer_Operation
		want string
	}{
		{"reserve more than offered", reserveOp("", reservedRes(t, "cpus:5", "eng", "p")), "do not contain"},
		{"reserve to another role", reserveOp("", reservedRes(t, "cpus:1", "ops", "p")), "allocated to role \"eng\""},
		{"reserve as another principal", reserveOp("", reservedRes(t, "cpus:1", "eng", "mallory")), "principal"},
		{"reserve statically", reserveOp("", static), "not dynamically reserved"},
		{"refine without the capability", reserveOp("", reservedRes(t, "cpus:1", "eng/a", "p")), "allocated to role"},
		{"unreserve what is not reserved", unreserveOp("", reservedRes(t, "cpus:1", "eng", "p")), "do not contain"},
		{"unreserve unreserved", unreserveOp("", resources.MustParse("cpus:1")), "not dynamically reserved"},
		{"create on unreserved disk", createOp("", volumeOf(t, resources.MustParse("disk:64"), "v1")), "unreserved"},
		{"create without persistence", createOp("", reservedRes(t, "disk:64", "eng", "p")), "not a persistent volume"},
		{"destroy an unknown volume", destroyOp("", volumeOf(t, reservedRes(t, "disk:64", "eng", "p"), "nope")), "not found"},
		{"no resources", reserveOp("", resources.Resources{}), "at least one"},
	}
	for i, c := range cases {
		o := s.waitOffered(a, agentResources)
		id := "bad-" + c.name
		c.op.Id = opID(id)
		s.accept(o, c.op)
		st := s.opStatus(id)
		if st.GetState() != mesos.OperationState_OPERATION_ERROR || !strings.Contains(st.GetMessage(), c.want) {
			t.Fatalf("%s: status %v, want OPERATION_ERROR mentioning %q", c.name, st, c.want)
		}
		if got := tm.metrics()["master/invalid_operations"]; got != float64(i+1) {
			t.Fatalf("%s: master/invalid_operations = %v, want %d", c.name, got, i+1)
		}
	}
	// Nothing changed: the agent is offered whole and unreserved, and was
	// never told to checkpoint anything.
	offers := s.waitOffered(a, agentResources)
	if r := sumOffers(t, offers).Reserved(""); !r.IsEmpty() {
		t.Fatalf("invalid operations left reservations: %v", r)
	}
	if got := a.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_CHECKPOINT_RESOURCES }); len(got) > 0 {
		t.Fatalf("agent told to checkpoint after invalid operations: %s", describe(got))
	}
}

// Operator RESERVE_RESOURCES / UNRESERVE_RESOURCES: 202 when valid, 400 and
// nothing changed when not; reserved resources go only to their role.
func TestOperatorReserveUnreserve(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	res := reservedRes(t, "cpus:2;mem:256", "eng", "ops-team")

	bad := []struct {
		name string
		typ  masterpb.Call_Type
		aid  string
		res  resources.Resources
	}{
		{"reserve more than the agent has", masterpb.Call_RESERVE_RESOURCES, a.id, reservedRes(t, "cpus:5", "eng", "")},
		{"reserve on an unknown agent", masterpb.Call_RESERVE_RESOURCES, "no-such-agent", res},
		{"reserve nothing", masterpb.Call_RESERVE_RESOURCES, a.id, resources.Resources{}},
		{"unreserve what is not reserved", masterpb.Call_UNRESERVE_RESOURCES, a.id, res},
		{"create a volume on unreserved disk", masterpb.Call_CREATE_VOLUMES, a.id, volumeOf(t, resources.MustParse("disk:64"), "v")},
	}
	for _, c := range bad {
		if code := operatorResources(t, tm, c.typ, c.aid, c.res); code != http.StatusBadRequest {
			t.Fatalf("%s: HTTP %d, want 400", c.name, code)
		}
	}
	if got := agentTotal(t, tm, a.id); !got.Equal(resources.MustParse(agentResources)) {
		t.Fatalf("bad operator calls changed the agent: %v", got)
	}

	if code := operatorResources(t, tm, masterpb.Call_RESERVE_RESOURCES, a.id, res); code != http.StatusAccepted {
		t.Fatalf("RESERVE_RESOURCES: HTTP %d, want 202", code)
	}
	if got := a.checkpoint(); !got.Equal(res) {
		t.Fatalf("checkpoint %v, want %v", got, res)
	}
	if got := agentTotal(t, tm, a.id).Reserved("eng"); !got.Equal(res) {
		t.Fatalf("GET_AGENTS reserved %v, want %v", got, res)
	}

	// A framework of another role is never offered the reservation.
	other := tm.subscribe(codec.JSON, multiRole(frameworkInfo("ops-fw"), "ops"))
	o := other.offer(a)
	if r := resourcesOf(t, o.GetResources()); !r.Reserved("").IsEmpty() || r.CPUs() != 2 {
		t.Fatalf("role ops offered %v", r)
	}
	other.decline(3600, o)
	eng := tm.subscribe(codec.JSON, engFramework(""))
	if r := resourcesOf(t, eng.offer(a).GetResources()); !r.Reserved("eng").Equal(res) {
		t.Fatalf("role eng offered %v, want its reservation %v", r, res)
	}

	// The reservation is offered: the operator's UNRESERVE rescinds the
	// offer to make room.
	if code := operatorResources(t, tm, masterpb.Call_UNRESERVE_RESOURCES, a.id, res); code != http.StatusAccepted {
		t.Fatalf("UNRESERVE_RESOURCES: HTTP %d, want 202", code)
	}
	eng.take("RESCIND", scheduler.Event_RESCIND, nil)
	if got := a.checkpoint(); !got.IsEmpty() {
		t.Fatalf("checkpoint after unreserve %v", got)
	}
	if got := agentTotal(t, tm, a.id); !got.Equal(resources.MustParse(agentResources)) {
		t.Fatalf("after UNRESERVE the agent has %v", got)
	}
}

// CREATE and DESTROY a persistent volume through the operator API and
// ACCEPT; DESTROY of a volume in use is refused and changes nothing.
func TestPersistentVolumes(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	rdisk := reservedRes(t, "disk:512", "eng", "p")
	vol := volumeOf(t, rdisk, "vol1")
	if code := operatorResources(t, tm, masterpb.Call_RESERVE_RESOURCES, a.id, rdisk); code != http.StatusAccepted {
		t.Fatalf("RESERVE_RESOURCES: %d", code)
	}
	a.checkpoint()
	if code := operatorResources(t, tm, masterpb.Call_CREATE_VOLUMES, a.id, vol); code != http.StatusAccepted {
		t.Fatalf("CREATE_VOLUMES: %d", code)
	}
	if got := a.checkpoint(); !got.Equal(vol) {
		t.Fatalf("checkpoint %v, want the volume %v", got, vol)
	}
	// The same persistence ID again is refused.
	if code := operatorResources(t, tm, masterpb.Call_CREATE_VOLUMES, a.id, volumeOf(t, rdisk, "vol1")); code != http.StatusBadRequest {
		t.Fatalf("duplicate persistence ID: HTTP %d, want 400", code)
	}

	// The volume is offered to eng; a task uses it.
	s := tm.subscribe(codec.JSON, engFramework("p"))
	o := s.offer(a)
	if got := resourcesOf(t, o.GetResources()).PersistentVolumes(); !got.Equal(vol) {
		t.Fatalf("offered volumes %v, want %v", got, vol)
	}
	s.accept([]*mesos.Offer{o}, launchOp(taskWith(t, "db", a, resources.MustParse("cpus:1;mem:128").Add(vol))))
	rt := a.runTask("db")
	if got := resourcesOf(t, rt.GetTask().GetResources()).PersistentVolumes(); !got.Equal(vol) {
		t.Fatalf("task runs with volumes %v", got)
	}

	// DESTROY while in use: 400, nothing changed.
	if code := operatorResources(t, tm, masterpb.Call_DESTROY_VOLUMES, a.id, vol); code != http.StatusBadRequest {
		t.Fatalf("DESTROY_VOLUMES of a volume in use: HTTP %d, want 400", code)
	}
	if got := agentTotal(t, tm, a.id).PersistentVolumes(); !got.Equal(vol) {
		t.Fatalf("refused DESTROY changed the volumes: %v", got)
	}

	// The task ends; the framework destroys the volume through ACCEPT and
	// the disk comes back reserved.
	a.update(s.fid, "db", mesos.TaskState_TASK_FINISHED)
	var offers []*mesos.Offer
	for !sumOffers(t, offers).Contains(vol) {
		offers = append(offers, s.offer(a))
	}
	s.accept(offers, destroyOp("d1", vol))
	if st := s.opStatus("d1"); st.GetState() != mesos.OperationState_OPERATION_FINISHED {
		t.Fatalf("DESTROY status %v", st)
	}
	if got := a.checkpoint(); !got.Equal(rdisk) {
		t.Fatalf("checkpoint after DESTROY %v, want %v", got, rdisk)
	}
	if got := agentTotal(t, tm, a.id); !got.PersistentVolumes().IsEmpty() || !got.Reserved("eng").Equal(rdisk) {
		t.Fatalf("after DESTROY the agent has %v", got)
	}
	// And CREATE through ACCEPT.
	offers = nil
	for !sumOffers(t, offers).Contains(rdisk) {
		offers = append(offers, s.offer(a))
	}
	vol2 := volumeOf(t, rdisk, "vol2")
	s.accept(offers, createOp("c2", vol2))
	if st := s.opStatus("c2"); st.GetState() != mesos.OperationState_OPERATION_FINISHED {
		t.Fatalf("CREATE status %v", st)
	}
	if got := a.checkpoint(); !got.Equal(vol2) {
		t.Fatalf("checkpoint after CREATE %v", got)
	}
}

// Reservations and volumes survive a master restart: the registry keeps
// them and the agent re-registers with them applied.
func TestReservationsSurviveMasterRestart(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	rdisk := reservedRes(t, "disk:512", "eng", "p")
	res := reservedRes(t, "cpus:1;mem:128", "eng", "p").Add(rdisk)
	if code := operatorResources(t, tm, masterpb.Call_RESERVE_RESOURCES, a.id, res); code != http.StatusAccepted {
		t.Fatalf("RESERVE_RESOURCES: %d", code)
	}
	a.checkpoint()
	vol := volumeOf(t, rdisk, "v")
	if code := operatorResources(t, tm, masterpb.Call_CREATE_VOLUMES, a.id, vol); code != http.StatusAccepted {
		t.Fatalf("CREATE_VOLUMES: %d", code)
	}
	ckpt := a.checkpoint()
	want, err := resources.ApplyCheckpointed(resources.MustParse(agentResources), ckpt)
	if err != nil {
		t.Fatal(err)
	}

	tm2 := tm.restart()
	// The recovered agent's registry entry already has them.
	if got := agentTotal(t, tm2, a.id); !got.Equal(want) {
		t.Fatalf("registry after restart: %v, want %v", got, want)
	}
	a.disconnect()
	a2 := tm2.addAgent(agentOpts{id: a.id, resources: jsonResources(t, want)})
	s := tm2.subscribe(codec.JSON, engFramework("p"))
	offers := s.waitOffered(a2, jsonResources(t, want))
	if got := sumOffers(t, offers); !got.Checkpointed().Equal(ckpt) {
		t.Fatalf("offers after restart carry %v, want %v", got.Checkpointed(), ckpt)
	}
}

// A framework without RESERVATION_REFINEMENT is offered reserved resources in
// the pre-refinement format: role and reservation, no reservation stack.
func TestReservedOffersUsePreRefinementFormatWithoutTheCapability(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codec.JSON, engFramework("p"))
	res := reservedRes(t, "cpus:1;mem:128", "eng", "p")
	s.accept([]*mesos.Offer{s.offer(a)}, reserveOp("r1", res))
	s.opStatus("r1")
	s.call(&scheduler.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String(s.fid)}, Type: scheduler.Call_TEARDOWN.Enum()})

	old := multiRole(frameworkInfo("old-style"), "eng")
	old.Principal = proto.String("p")
	s2 := tm.subscribe(codec.JSON, old)
	for _, o := range s2.waitOfferedAll(a) {
		for _, r := range o.GetResources() {
			if r.GetName() != "cpus" || r.GetRole() != "eng" {
				continue
			}
			if len(r.GetReservations()) != 0 || r.GetReservation().GetPrincipal() != "p" {
				t.Fatalf("reserved cpus for a framework without RESERVATION_REFINEMENT: %v", r)
			}
			return
		}
	}
	t.Fatal("no reserved cpus offered to the framework in role eng")
}

// RECONCILE_OPERATIONS: no operation is ever pending, so a named one is
// answered OPERATION_UNKNOWN and the call is accepted.
func TestReconcileOperationsAnswersUnknown(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	s := tm.subscribe(codec.JSON, engFramework("p"))
	code := s.call(&scheduler.Call{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(s.fid)},
		Type:        scheduler.Call_RECONCILE_OPERATIONS.Enum(),
		ReconcileOperations: &scheduler.Call_ReconcileOperations{Operations: []*scheduler.Call_ReconcileOperations_Operation{{
			OperationId: &mesos.OperationID{Value: proto.String("op-1")},
		}}},
	})
	if code != http.StatusAccepted {
		t.Fatalf("RECONCILE_OPERATIONS: HTTP %d, want 202", code)
	}
	ev := s.take("UPDATE_OPERATION_STATUS for op-1", scheduler.Event_UPDATE_OPERATION_STATUS, func(ev *scheduler.Event) bool {
		return ev.GetUpdateOperationStatus().GetStatus().GetOperationId().GetValue() == "op-1"
	})
	if st := ev.GetUpdateOperationStatus().GetStatus(); st.GetState() != mesos.OperationState_OPERATION_UNKNOWN || len(st.GetUuid().GetValue()) != 0 {
		t.Fatalf("status %v, want OPERATION_UNKNOWN without a uuid", st)
	}
}

// /master/state shows an agent's reservations per role, as Mesos does.
func TestStateListsReservedResources(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{}) // cpus:4;mem:1024
	s := tm.subscribe(codec.JSON, engFramework("p"))
	res := reservedRes(t, "cpus:1;mem:128", "eng", "p")
	s.accept([]*mesos.Offer{s.offer(a)}, reserveOp("r1", res))
	s.opStatus("r1")
	waitUntil(t, "the reservation in /master/state", func() bool {
		slave := findByID(jsonList(t, tm.state(), "slaves"), a.id)
		reserved, _ := slave["reserved_resources"].(map[string]any)
		eng, _ := reserved["eng"].(map[string]any)
		unreserved, _ := slave["unreserved_resources"].(map[string]any)
		return eng["cpus"] == 1.0 && eng["mem"] == 128.0 && unreserved["cpus"] == 3.0
	})
}
