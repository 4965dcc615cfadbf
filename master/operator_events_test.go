package master

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/recordio"
)

// opStream is an operator API SUBSCRIBE stream read by a goroutine.
type opStream struct {
	t      *testing.T
	events chan *masterpb.Event
	ended  chan error
	cancel context.CancelFunc
	header http.Header
}

func operatorSubscribe(t *testing.T, tm *testMaster, c codec.Codec) *opStream {
	t.Helper()
	body, err := c.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tm.url+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", c.ContentType())
	req.Header.Set("Accept", c.ContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("operator SUBSCRIBE: %s", resp.Status)
	}
	s := &opStream{t: t, events: make(chan *masterpb.Event, 1000), ended: make(chan error, 1), cancel: cancel, header: resp.Header}
	go func() {
		defer resp.Body.Close()
		rd := recordio.NewReader(resp.Body, 16<<20)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				s.ended <- err
				return
			}
			ev := &masterpb.Event{}
			if err := c.Unmarshal(rec, ev); err != nil {
				s.ended <- fmt.Errorf("decode operator event: %w", err)
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next returns the next event that is not a HEARTBEAT.
func (s *opStream) next(what string) *masterpb.Event {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.GetType() == masterpb.Event_HEARTBEAT {
				continue
			}
			return ev
		case err := <-s.ended:
			s.t.Fatalf("operator stream ended while waiting for %s: %v", what, err)
		case <-timeout:
			s.t.Fatalf("no operator event within 10s while waiting for %s", what)
		}
	}
}

// expect skips events until one of type typ matching pred arrives.
func (s *opStream) expect(typ masterpb.Event_Type, pred func(*masterpb.Event) bool) *masterpb.Event {
	s.t.Helper()
	for {
		ev := s.next(typ.String())
		if ev.GetType() == typ && (pred == nil || pred(ev)) {
			return ev
		}
	}
}

func TestOperatorSubscribe(t *testing.T) {
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		t.Run(c.ContentType(), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.HeartbeatInterval = 50 * time.Millisecond
			tm := startMaster(t, cfg)
			a := tm.addAgent(agentOpts{})
			s := tm.subscribe(c, frameworkInfo("op-watch"))

			w := operatorSubscribe(t, tm, c)
			if ct := w.header.Get("Content-Type"); ct != c.ContentType() {
				t.Fatalf("Content-Type %q, want %q", ct, c.ContentType())
			}
			first := w.next("SUBSCRIBED")
			st := first.GetSubscribed().GetGetState()
			if first.GetType() != masterpb.Event_SUBSCRIBED || first.GetSubscribed().GetHeartbeatIntervalSeconds() != 0.05 ||
				len(st.GetGetAgents().GetAgents()) != 1 || len(st.GetGetFrameworks().GetFrameworks()) != 1 {
				t.Fatalf("first event: %v", first)
			}
			// Heartbeats flow while nothing happens.
			select {
			case ev := <-w.events:
				if ev.GetType() != masterpb.Event_HEARTBEAT {
					t.Fatalf("idle stream carried %v, want HEARTBEAT", ev)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no HEARTBEAT within 5s at a 50ms interval")
			}

			// A task: TASK_ADDED when launched, TASK_UPDATED per update.
			s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "watched", a, "cpus:0.1;mem:32"))
			ev := w.expect(masterpb.Event_TASK_ADDED, nil)
			if task := ev.GetTaskAdded().GetTask(); task.GetTaskId().GetValue() != "watched" ||
				task.GetFrameworkId().GetValue() != s.fid || task.GetAgentId().GetValue() != a.id ||
				task.GetState() != mesos.TaskState_TASK_STAGING {
				t.Fatalf("TASK_ADDED: %v", ev)
			}
			a.runTask("watched")
			a.sendUpdate(s.fid, "watched", mesos.TaskState_TASK_RUNNING)
			ev = w.expect(masterpb.Event_TASK_UPDATED, nil)
			if u := ev.GetTaskUpdated(); u.GetFrameworkId().GetValue() != s.fid || u.GetState() != mesos.TaskState_TASK_RUNNING ||
				u.GetStatus().GetTaskId().GetValue() != "watched" || u.GetStatus().GetState() != mesos.TaskState_TASK_RUNNING {
				t.Fatalf("TASK_UPDATED: %v", ev)
			}

			// Agents and frameworks come and go.
			b := tm.addAgent(agentOpts{})
			ev = w.expect(masterpb.Event_AGENT_ADDED, nil)
			if ev.GetAgentAdded().GetAgent().GetAgentInfo().GetId().GetValue() != b.id {
				t.Fatalf("AGENT_ADDED: %v", ev)
			}
			s2 := tm.subscribe(c, frameworkInfo("second"))
			ev = w.expect(masterpb.Event_FRAMEWORK_ADDED, nil)
			if ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetId().GetValue() != s2.fid {
				t.Fatalf("FRAMEWORK_ADDED: %v", ev)
			}
			code, _, _ := operatorCall(t, tm, c, &masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{
				FrameworkId: &mesos.FrameworkID{Value: proto.String(s2.fid)},
			}})
			if code != http.StatusOK {
				t.Fatalf("TEARDOWN: %d", code)
			}
			ev = w.expect(masterpb.Event_FRAMEWORK_REMOVED, nil)
			if ev.GetFrameworkRemoved().GetFrameworkInfo().GetId().GetValue() != s2.fid {
				t.Fatalf("FRAMEWORK_REMOVED: %v", ev)
			}
		})
	}
}

// An operator stream ends when its master stops leading; a follower
// redirects SUBSCRIBE to the leader like every leader-only call.
func TestOperatorSubscribeFollowsLeadership(t *testing.T) {
	tms := startCluster(t, 3)
	leader := leaderOf(tms)
	var follower *testMaster
	for _, tm := range tms {
		if tm != leader {
			follower = tm
			break
		}
	}
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	req, _ := http.NewRequest(http.MethodPost, follower.url+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSON.ContentType())
	req.Header.Set("Accept", codec.JSON.ContentType())
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("follower answered operator SUBSCRIBE with %s, want 307 to the leader", resp.Status)
	}

	w := operatorSubscribe(t, leader, codec.JSON)
	if ev := w.next("SUBSCRIBED"); ev.GetType() != masterpb.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev)
	}
	leader.stop()
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("operator stream still open 10s after its master stopped")
	}
}
