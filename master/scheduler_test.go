package master

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

const (
	pa = mesos.FrameworkInfo_Capability_PARTITION_AWARE
)

func TestSubscribeAndOffers(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			masterID := tm.m.Info().GetId()
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(masterID) + `-S\d+$`).MatchString(a.id) {
				t.Errorf("agent ID %q, want <masterID>-S<n>", a.id)
			}

			s := tm.subscribe(cc.c, frameworkInfo("legacy"))
			sub := s.take("SUBSCRIBED", scheduler.Event_SUBSCRIBED, nil).GetSubscribed()
			if want := masterID + "-0000"; s.fid != want {
				t.Errorf("framework ID %q, want %q (<masterID>-%%04d, first one)", s.fid, want)
			}
			if sub.GetHeartbeatIntervalSeconds() != 15 {
				t.Errorf("heartbeat_interval_seconds = %v, want 15", sub.GetHeartbeatIntervalSeconds())
			}
			if mi := sub.GetMasterInfo(); mi.GetId() != masterID || mi.GetPort() != 5050 || mi.GetHostname() != "localhost" || mi.GetVersion() != Version {
				t.Errorf("master_info = %v, want id %s port 5050 hostname localhost version %s", mi, masterID, Version)
			}
			if mi := sub.GetMasterInfo(); mi.GetIp() != 0x0100007f {
				t.Errorf("master_info.ip = %#x, want 127.0.0.1 in network byte order (0x0100007f)", mi.GetIp())
			}

			o := s.offer(a)
			if o.GetFrameworkId().GetValue() != s.fid || o.GetHostname() != "agent.example" {
				t.Errorf("offer %v: want framework %s hostname agent.example", o, s.fid)
			}
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(masterID) + `-O\d+$`).MatchString(o.GetId().GetValue()) {
				t.Errorf("offer ID %q, want <masterID>-O<n>", o.GetId().GetValue())
			}
			if got, want := resourcesOf(t, o.GetResources()), resourcesOf(t, mustResources(t, agentResources)); !got.Equal(want) {
				t.Errorf("offered %v, want the whole agent %v", got, want)
			}
			for _, r := range o.GetResources() {
				if r.AllocationInfo != nil {
					t.Errorf("non-MULTI_ROLE framework offered resource with allocation_info %v (example-scheduler launches nothing then)", r)
				}
			}
			if o.AllocationInfo != nil {
				t.Errorf("non-MULTI_ROLE offer has allocation_info %v", o.AllocationInfo)
			}

			// A second, MULTI_ROLE framework gets allocation_info on every
			// resource (msh ignores offers without it). The first one
			// declines for an hour so the agent goes to the second.
			s.decline(3600, o)
			mr := tm.subscribe(cc.c, multiRole(frameworkInfo("multi"), "web"))
			if want := masterID + "-0001"; mr.fid != want {
				t.Errorf("second framework ID %q, want %q", mr.fid, want)
			}
			mo := mr.offer(a)
			if mo.GetAllocationInfo().GetRole() != "web" {
				t.Errorf("MULTI_ROLE offer allocation_info = %v, want role web", mo.GetAllocationInfo())
			}
			for _, r := range mo.GetResources() {
				if r.GetAllocationInfo().GetRole() != "web" {
					t.Errorf("MULTI_ROLE offered resource %v lacks allocation_info{role: web}", r)
				}
			}
		})
	}
}

func TestLaunchStatusAckLifecycle(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			s := tm.subscribe(cc.c, frameworkInfo("fw"))
			o := s.offer(a)
			s.launch([]*mesos.Offer{o}, cmdTask(t, "t1", a, "cpus:1;mem:128"))

			run := a.runTask("t1")
			if run.GetFramework().GetId().GetValue() != s.fid {
				t.Errorf("RUN_TASK framework = %v, want %s", run.GetFramework().GetId(), s.fid)
			}
			if st := tm.stateTask(s.fid, "t1"); st == nil || st["state"] != "TASK_STAGING" {
				t.Errorf("task in /master/state = %v, want TASK_STAGING", st)
			}

			// The rest of the agent is offered again (refuse_seconds 0).
			s.waitOffered(a, "cpus:3;mem:896")

			u1 := a.update(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
			st := s.update("t1", mesos.TaskState_TASK_RUNNING)
			if !bytes.Equal(st.GetUuid(), u1) {
				t.Errorf("UPDATE uuid = %x, want the agent's %x", st.GetUuid(), u1)
			}
			if st.GetAgentId().GetValue() != a.id {
				t.Errorf("UPDATE agent_id = %v, want %s", st.GetAgentId(), a.id)
			}
			s.ack(st)
			ack := a.take("ACKNOWLEDGE t1 RUNNING", pb.AgentEvent_ACKNOWLEDGE, nil).GetAcknowledge()
			if !bytes.Equal(ack.GetUuid(), u1) || ack.GetTaskId().GetValue() != "t1" || ack.GetFrameworkId().GetValue() != s.fid {
				t.Errorf("agent ACKNOWLEDGE = %v, want t1 of %s with uuid %x", ack, s.fid, u1)
			}
			if st := tm.stateTask(s.fid, "t1"); st == nil || st["state"] != "TASK_RUNNING" {
				t.Errorf("task in /master/state = %v, want TASK_RUNNING", st)
			}

			u2 := a.update(s.fid, "t1", mesos.TaskState_TASK_FINISHED)
			st = s.update("t1", mesos.TaskState_TASK_FINISHED)
			if !bytes.Equal(st.GetUuid(), u2) {
				t.Errorf("UPDATE uuid = %x, want %x", st.GetUuid(), u2)
			}
			// The task's resources come back as soon as its latest state is
			// terminal, before the acknowledgement.
			s.waitOffered(a, "cpus:1;mem:128")

			s.ack(st)
			a.take("ACKNOWLEDGE t1 FINISHED", pb.AgentEvent_ACKNOWLEDGE, func(ev *pb.AgentEvent) bool {
				return bytes.Equal(ev.GetAcknowledge().GetUuid(), u2)
			})
			fw, _ := tm.stateFramework(s.fid)
			if len(jsonList(t, fw, "tasks")) != 0 {
				t.Errorf("acknowledged terminal task still under tasks: %v", fw["tasks"])
			}
			ct := findByID(jsonList(t, fw, "completed_tasks"), "t1")
			if ct == nil || ct["state"] != "TASK_FINISHED" {
				t.Fatalf("completed_tasks = %v, want t1 TASK_FINISHED", fw["completed_tasks"])
			}
			if ct["slave_id"] != a.id || ct["framework_id"] != s.fid {
				t.Errorf("completed task = %v, want slave_id %s framework_id %s", ct, a.id, s.fid)
			}
			if m := tm.metrics(); m["master/tasks_finished"] != 1 || m["master/tasks_running"] != 0 {
				t.Errorf("metrics tasks_finished=%v tasks_running=%v, want 1 and 0", m["master/tasks_finished"], m["master/tasks_running"])
			}
		})
	}
}

// stateTask finds a framework's active task in /master/state.
func (tm *testMaster) stateTask(fid, taskID string) map[string]any {
	tm.t.Helper()
	fw, _ := tm.stateFramework(fid)
	if fw == nil {
		return nil
	}
	return findByID(jsonList(tm.t, fw, "tasks"), taskID)
}

func TestInvalidOffers(t *testing.T) {
	for _, cc := range codecs {
		for _, partitionAware := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/partition_aware=%v", cc.name, partitionAware), func(t *testing.T) {
				tm := startMaster(t, testConfig(t))
				a := tm.addAgent(agentOpts{})
				var caps []mesos.FrameworkInfo_Capability_Type
				wantState := mesos.TaskState_TASK_LOST
				if partitionAware {
					caps = append(caps, pa)
					wantState = mesos.TaskState_TASK_DROPPED
				}
				s := tm.subscribe(cc.c, frameworkInfo("fw", caps...))
				o := s.offer(a)

				check := func(name string, ids []*mesos.OfferID, taskID string) *mesos.TaskStatus {
					t.Helper()
					s.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT.Enum(), Accept: &scheduler.Call_Accept{
						OfferIds: ids,
						Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{
							TaskInfos: []*mesos.TaskInfo{cmdTask(t, taskID, a, "cpus:1;mem:128")},
						}}},
					}})
					st := s.anyUpdate(taskID)
					if st.GetState() != wantState || st.GetReason() != mesos.TaskStatus_REASON_INVALID_OFFERS || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
						t.Errorf("%s: update %v, want %s REASON_INVALID_OFFERS SOURCE_MASTER", name, st, wantState)
					}
					if st.Uuid != nil {
						t.Errorf("%s: master-generated update carries uuid %x; it must not be acknowledged", name, st.GetUuid())
					}
					if !strings.HasPrefix(st.GetMessage(), "Task launched with invalid offers") {
						t.Errorf("%s: message %q", name, st.GetMessage())
					}
					return st
				}

				check("unknown offer", []*mesos.OfferID{{Value: proto.String("no-such-offer")}}, "t-unknown")
				// The valid offer is still outstanding: an unknown one in the
				// same call does not consume it... but Mesos discards the
				// valid offers of a failed ACCEPT, returning the resources.
				check("valid + unknown", []*mesos.OfferID{o.GetId(), {Value: proto.String("no-such-offer")}}, "t-mixed")
				o = s.offer(a) // the discarded offer's resources come back
				if got := resourcesOf(t, o.GetResources()); !got.Equal(resourcesOf(t, mustResources(t, agentResources))) {
					t.Errorf("re-offered %v, want the whole agent", got)
				}

				check("duplicate in one call", []*mesos.OfferID{o.GetId(), o.GetId()}, "t-dup")
				o2 := s.offer(a)
				check("reused (already discarded)", []*mesos.OfferID{o.GetId()}, "t-reused")

				// Another framework's offer.
				s.decline(3600, o2)
				other := tm.subscribe(cc.c, frameworkInfo("other"))
				oo := other.offer(a)
				st := check("another framework's offer", []*mesos.OfferID{oo.GetId()}, "t-foreign")
				// Mesos' wording: the offer's framework, then the caller.
				if want := fmt.Sprintf("has invalid framework %q while framework %q is expected", other.fid, s.fid); !strings.Contains(st.GetMessage(), want) {
					t.Errorf("message %q, want it to contain %q", st.GetMessage(), want)
				}
				// The other framework's offer is untouched by the failed call.
				other.launch([]*mesos.Offer{oo}, cmdTask(t, "mine", a, "cpus:1;mem:128"))
				a.runTask("mine")
				if st := other.events.pending(func(ev *scheduler.Event) bool { return ev.GetType() == scheduler.Event_UPDATE }); len(st) > 0 {
					t.Errorf("owner of the offer got updates: %s", describe(st))
				}
				if got := a.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_RUN_TASK }); len(got) > 0 {
					t.Errorf("invalid launches reached the agent: %s", describe(got))
				}
			})
		}
	}
}

func TestInvalidTasks(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			s := tm.subscribe(cc.c, frameworkInfo("fw"))
			o := s.offer(a)

			good := cmdTask(t, "good", a, "cpus:1;mem:128")
			dup := cmdTask(t, "good", a, "cpus:1;mem:128")
			slash := cmdTask(t, "bad/id", a, "cpus:1")
			noRes := cmdTask(t, "no-res", a, "cpus:1")
			noRes.Resources = nil
			tooMuch := cmdTask(t, "too-much", a, "cpus:8")
			negative := cmdTask(t, "negative", a, "cpus:1")
			negative.Resources[0].Scalar.Value = proto.Float64(-1)
			noCmd := cmdTask(t, "no-cmd", a, "cpus:1")
			noCmd.Command = nil
			wrongAgent := cmdTask(t, "wrong-agent", a, "cpus:1")
			wrongAgent.AgentId = &mesos.AgentID{Value: proto.String("elsewhere")}
			badHealth := cmdTask(t, "bad-health", a, "cpus:1")
			badHealth.HealthCheck = &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(),
				Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(8080), Path: proto.String("no-slash")}}
			badCheck := cmdTask(t, "bad-check", a, "cpus:1")
			badCheck.Check = &mesos.CheckInfo{Type: mesos.CheckInfo_TCP.Enum()}
			s.launch([]*mesos.Offer{o}, good, dup, slash, noRes, tooMuch, negative, noCmd, wrongAgent, badHealth, badCheck)

			for _, c := range []struct{ id, msg string }{
				{"bad/id", "slashes"},
				{"no-res", "no resources"},
				{"too-much", "more than available"},
				{"negative", "invalid resources"},
				{"no-cmd", "CommandInfo or ExecutorInfo"},
				{"wrong-agent", "invalid agent"},
				{"bad-health", "Task uses invalid health check: The path 'no-slash' of HTTP health check must start with '/'"},
				{"bad-check", "Task uses invalid check: "},
			} {
				st := s.anyUpdate(c.id)
				if st.GetState() != mesos.TaskState_TASK_ERROR || st.GetReason() != mesos.TaskStatus_REASON_TASK_INVALID || st.Uuid != nil || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
					t.Errorf("%s: update %v, want TASK_ERROR REASON_TASK_INVALID from the master without uuid", c.id, st)
				}
				if !strings.Contains(st.GetMessage(), c.msg) {
					t.Errorf("%s: message %q, want it to mention %q", c.id, st.GetMessage(), c.msg)
				}
			}
			// The duplicate of "good" fails, the first one runs.
			dupSt := s.anyUpdate("good")
			if dupSt.GetState() != mesos.TaskState_TASK_ERROR || !strings.Contains(dupSt.GetMessage(), "duplicate ID") {
				t.Errorf("duplicate task: update %v, want TASK_ERROR 'duplicate ID'", dupSt)
			}
			a.runTask("good")
			// Only the valid task consumed resources: the rest is offered.
			offered := sumOffers(t, s.waitOffered(a, "cpus:3;mem:896"))
			if want := resourcesOf(t, mustResources(t, "cpus:3;mem:896;disk:2048;ports:[31000-32000]")); !offered.Equal(want) {
				t.Errorf("offered after invalid tasks %v, want %v", offered, want)
			}
			if got := a.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_RUN_TASK }); len(got) > 0 {
				t.Errorf("invalid tasks reached the agent: %s", describe(got))
			}
		})
	}
}

func TestDeclineReviveSuppress(t *testing.T) {
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			s := tm.subscribe(cc.c, frameworkInfo("fw"))

			// A long filter: no re-offer, however many allocation runs.
			s.decline(3600, s.offer(a))
			tm.forceAllocation()
			tm.forceAllocation()
			s.noOffers("declined with refuse_seconds=3600")

			// REVIVE clears the filter.
			s.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE.Enum()})
			o := s.offer(a)

			// A short filter expires and the periodic allocation re-offers.
			s.decline(0.05, o)
			o = s.offer(a)

			// SUPPRESS: the declined resources are not offered, even after
			// the filter would have expired...
			s.mustCall(&scheduler.Call{Type: scheduler.Call_SUPPRESS.Enum()})
			s.decline(0, o)
			tm.forceAllocation()
			s.noOffers("suppressed")
			if fw, _ := tm.stateFramework(s.fid); fw == nil || fw["active"] != true {
				t.Errorf("suppressed framework in state = %v, want active", fw)
			}
			// ...until REVIVE for its role.
			s.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE.Enum(), Revive: &scheduler.Call_Revive{Roles: []string{"*"}}})
			s.offer(a)
		})
	}
}

func TestKill(t *testing.T) {
	for _, cc := range codecs {
		for _, partitionAware := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/partition_aware=%v", cc.name, partitionAware), func(t *testing.T) {
				tm := startMaster(t, testConfig(t))
				a := tm.addAgent(agentOpts{})
				var caps []mesos.FrameworkInfo_Capability_Type
				if partitionAware {
					caps = append(caps, pa)
				}
				s := tm.subscribe(cc.c, frameworkInfo("fw", caps...))
				s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
				a.runTask("t1")

				grace := &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(5e9)}}
				s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL.Enum(), Kill: &scheduler.Call_Kill{
					TaskId: &mesos.TaskID{Value: proto.String("t1")}, KillPolicy: grace,
				}})
				k := a.take("KILL_TASK t1", pb.AgentEvent_KILL_TASK, nil).GetKillTask()
				if k.GetTaskId().GetValue() != "t1" || k.GetFrameworkId().GetValue() != s.fid || k.GetKillPolicy().GetGracePeriod().GetNanoseconds() != 5e9 {
					t.Errorf("KILL_TASK = %v, want t1 of %s with a 5s grace period", k, s.fid)
				}
				a.update(s.fid, "t1", mesos.TaskState_TASK_KILLED)
				s.update("t1", mesos.TaskState_TASK_KILLED)

				// KILL of an unknown task answers like explicit reconciliation.
				for _, c := range []struct {
					name    string
					agentID *mesos.AgentID
					paState mesos.TaskState
				}{
					{"no agent", nil, mesos.TaskState_TASK_UNKNOWN},
					{"registered agent", &mesos.AgentID{Value: proto.String(a.id)}, mesos.TaskState_TASK_GONE},
					{"unknown agent", &mesos.AgentID{Value: proto.String("nope-S99")}, mesos.TaskState_TASK_UNKNOWN},
				} {
					id := "ghost-" + strings.ReplaceAll(c.name, " ", "-")
					s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL.Enum(), Kill: &scheduler.Call_Kill{
						TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: c.agentID,
					}})
					want := mesos.TaskState_TASK_LOST
					if partitionAware {
						want = c.paState
					}
					st := s.anyUpdate(id)
					if st.GetState() != want || st.Uuid != nil || st.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
						t.Errorf("KILL unknown task (%s): update %v, want %s from the master, no uuid", c.name, st, want)
					}
				}
				if got := a.events.pending(func(ev *pb.AgentEvent) bool { return ev.GetType() == pb.AgentEvent_KILL_TASK }); len(got) > 0 {
					t.Errorf("KILL of unknown tasks reached the agent: %s", describe(got))
				}
			})
		}
	}
}

func TestReconcile(t *testing.T) {
	for _, cc := range codecs {
		for _, partitionAware := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/partition_aware=%v", cc.name, partitionAware), func(t *testing.T) {
				tm := startMaster(t, testConfig(t))
				a := tm.addAgent(agentOpts{})
				var caps []mesos.FrameworkInfo_Capability_Type
				if partitionAware {
					caps = append(caps, pa)
				}
				s := tm.subscribe(cc.c, frameworkInfo("fw", caps...))
				s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"), cmdTask(t, "t2", a, "cpus:1"))
				a.runTask("t1")
				a.runTask("t2")
				s.ack(func() *mesos.TaskStatus {
					a.update(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
					return s.update("t1", mesos.TaskState_TASK_RUNNING)
				}())

				// Implicit: every known task, latest state, from the master.
				s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{}})
				for id, want := range map[string]mesos.TaskState{"t1": mesos.TaskState_TASK_RUNNING, "t2": mesos.TaskState_TASK_STAGING} {
					st := s.anyUpdate(id)
					if st.GetState() != want || st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION ||
						st.GetSource() != mesos.TaskStatus_SOURCE_MASTER || st.Uuid != nil || st.GetAgentId().GetValue() != a.id {
						t.Errorf("implicit reconcile %s: %v, want %s REASON_RECONCILIATION SOURCE_MASTER agent %s, no uuid", id, st, want, a.id)
					}
				}

				// Explicit, reference §3.5.
				unknownAgent := tm.m.Info().GetId() + "-S99"
				for _, c := range []struct {
					name, task, agent string
					want, wantPA      mesos.TaskState
				}{
					{"known", "t1", a.id, mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_RUNNING},
					{"known, no agent", "t2", "", mesos.TaskState_TASK_STAGING, mesos.TaskState_TASK_STAGING},
					{"unknown, registered agent", "x1", a.id, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_GONE},
					{"unknown, unknown agent", "x2", unknownAgent, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_UNKNOWN},
					{"unknown, no agent", "x3", "", mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_UNKNOWN},
				} {
					rt := &scheduler.Call_Reconcile_Task{TaskId: &mesos.TaskID{Value: proto.String(c.task)}}
					if c.agent != "" {
						rt.AgentId = &mesos.AgentID{Value: proto.String(c.agent)}
					}
					s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{rt}}})
					want := c.want
					if partitionAware {
						want = c.wantPA
					}
					st := s.anyUpdate(c.task)
					if st.GetState() != want || st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION || st.Uuid != nil {
						t.Errorf("explicit reconcile (%s): %v, want %s REASON_RECONCILIATION, no uuid", c.name, st, want)
					}
				}
			})
		}
	}
}

func TestSchedulerHTTPStatusCodes(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, frameworkInfo("fw"))
	s.offers()

	// A second framework that is known but disconnected (403).
	gone := tm.subscribe(codecJSON, func() *mesos.FrameworkInfo {
		fi := frameworkInfo("disconnected")
		fi.FailoverTimeout = proto.Float64(3600)
		return fi
	}())
	gone.cancel()
	gone.events.waitEnd(t, "disconnected framework's stream")
	waitUntil(t, "the master sees the framework disconnected", func() bool {
		fw, _ := tm.stateFramework(gone.fid)
		return fw != nil && fw["connected"] == false
	})

	js := func(v string) []byte { return []byte(v) }
	teardown := func(fid string) []byte {
		return js(`{"type":"TEARDOWN","framework_id":{"value":"` + fid + `"}}`)
	}
	subscribeBody := js(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`)
	hdr := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ctJSON := "application/json"
	deep := `{"type":"TEARDOWN","framework_id":{"value":"` + s.fid + `"},"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`

	before := tm.state()
	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		body   []byte
		want   int
		inBody string
	}{
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed, ""},
		{"no Content-Type", "", nil, teardown(s.fid), http.StatusBadRequest, "Content-Type"},
		{"unsupported Content-Type", "", hdr("Content-Type", "text/plain"), teardown(s.fid), http.StatusUnsupportedMediaType, ""},
		{"Content-Type with charset", "", hdr("Content-Type", "application/json; charset=utf-8"), teardown(s.fid), http.StatusUnsupportedMediaType, ""},
		{"unparseable JSON", "", hdr("Content-Type", ctJSON), js(`{"type":`), http.StatusBadRequest, ""},
		{"unparseable protobuf", "", hdr("Content-Type", "application/x-protobuf"), []byte{0xff, 0xff, 0xff}, http.StatusBadRequest, ""},
		{"SUBSCRIBE not acceptable", "", hdr("Content-Type", ctJSON, "Accept", "text/html"), subscribeBody, http.StatusNotAcceptable, ""},
		{"SUBSCRIBE with stream id", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), subscribeBody, http.StatusBadRequest, "Mesos-Stream-Id"},
		{"SUBSCRIBE missing required name", "", hdr("Content-Type", ctJSON), js(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u"}}}`), http.StatusBadRequest, ""},
		{"SUBSCRIBE without sub-message", "", hdr("Content-Type", ctJSON), js(`{"type":"SUBSCRIBE"}`), http.StatusBadRequest, "subscribe"},
		{"no type", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), js(`{"framework_id":{"value":"` + s.fid + `"}}`), http.StatusBadRequest, "type"},
		{"UNKNOWN type", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), js(`{"type":"UNKNOWN","framework_id":{"value":"` + s.fid + `"}}`), http.StatusNotImplemented, ""},
		{"missing stream id", "", hdr("Content-Type", ctJSON), teardown(s.fid), http.StatusBadRequest, "Mesos-Stream-Id"},
		{"wrong stream id", "", hdr("Content-Type", ctJSON, headerStreamID, "not-the-stream"), teardown(s.fid), http.StatusBadRequest, "stream ID"},
		{"unknown framework", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), teardown("no-such-framework"), http.StatusBadRequest, "Framework cannot be found"},
		{"disconnected framework", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), teardown(gone.fid), http.StatusForbidden, ""},
		{"disconnected framework, no stream id", "", hdr("Content-Type", ctJSON), teardown(gone.fid), http.StatusForbidden, ""},
		{"ACCEPT missing sub-message", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), js(`{"type":"ACCEPT","framework_id":{"value":"` + s.fid + `"}}`), http.StatusBadRequest, "accept"},
		{"ACKNOWLEDGE short uuid", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID),
			js(`{"type":"ACKNOWLEDGE","framework_id":{"value":"` + s.fid + `"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`), http.StatusBadRequest, "uuid"},
		{"KILL missing required task_id", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID),
			js(`{"type":"KILL","framework_id":{"value":"` + s.fid + `"},"kill":{}}`), http.StatusBadRequest, ""},
		{"JSON depth bomb", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID), js(deep), http.StatusBadRequest, ""},
		{"oversize body", "", hdr("Content-Type", ctJSON, headerStreamID, s.streamID),
			js(`{"type":"TEARDOWN","framework_id":{"value":"` + s.fid + `"},"pad":"` + strings.Repeat("x", 2<<20) + `"}`), http.StatusRequestEntityTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, tm.url+"/api/v1/scheduler", bytes.NewReader(tc.body))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d (%s), want %d", resp.StatusCode, strings.TrimSpace(body.String()), tc.want)
			}
			if tc.inBody != "" && !strings.Contains(body.String(), tc.inBody) {
				t.Errorf("body %q, want it to mention %q", body.String(), tc.inBody)
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 without 'Allow: POST' (got %q)", resp.Header.Get("Allow"))
			}
		})
	}
	// None of the rejected requests changed anything.
	after := tm.state()
	for _, k := range []string{"frameworks", "completed_frameworks", "slaves"} {
		if fmt.Sprint(before[k]) != fmt.Sprint(after[k]) {
			t.Errorf("rejected requests changed %q:\nbefore %v\nafter  %v", k, before[k], after[k])
		}
	}
	// The good stream is still usable.
	s.mustCall(&scheduler.Call{Type: scheduler.Call_SUPPRESS.Enum()})
}

// Config.MaxJSONDepth is the limit requests are decoded with.
func TestMaxJSONDepthConfig(t *testing.T) {
	nested := func(depth int) []byte {
		// SUBSCRIBE is depth 3; "x" adds depth more levels of arrays.
		return []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}},"x":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	cfg := testConfig(t)
	cfg.MaxJSONDepth = 10
	tm := startMaster(t, cfg)
	if code, body := tm.post("/api/v1/scheduler", hdr, nested(20)); code != http.StatusBadRequest {
		t.Errorf("JSON nested 21 deep with MaxJSONDepth 10: HTTP %d (%s), want 400", code, body)
	}
	// Within the limit it subscribes (200 and a stream); use a fresh
	// connection we close right away.
	s, code := tm.openStream(codecJSON, frameworkInfo("shallow"))
	if code != http.StatusOK {
		t.Fatalf("shallow SUBSCRIBE: HTTP %d", code)
	}
	s.take("SUBSCRIBED", scheduler.Event_SUBSCRIBED, nil)
}
