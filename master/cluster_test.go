package master

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// startCluster starts n masters replicating over the real Raft transport on
// loopback, each behind its own HTTP server, and waits for a leader.
func startCluster(t *testing.T, n int) []*testMaster {
	t.Helper()
	srvs := make([]*httptest.Server, n)
	peers := make(map[uint64]string, n)
	for i := range srvs {
		srvs[i] = httptest.NewUnstartedServer(nil)
		peers[uint64(i+1)] = srvs[i].Listener.Addr().String()
	}
	tms := make([]*testMaster, n)
	for i := range tms {
		tms[i] = startMember(t, uint64(i+1), peers, srvs[i], false)
	}
	waitUntil(t, "one master leads", func() bool { return leaderOf(tms) != nil })
	return tms
}

// startMember starts master id behind srv (not yet started) with the given
// peer addresses; join makes it wait to be added to a running cluster.
func startMember(t *testing.T, id uint64, peers map[uint64]string, srv *httptest.Server, join bool) *testMaster {
	t.Helper()
	cfg := testConfig(t)
	cfg.ID = id
	cfg.PeerAddrs = peers
	cfg.Join = join
	cfg.Hostname, cfg.IP = "127.0.0.1", "127.0.0.1"
	fmt.Sscanf(peers[id][strings.LastIndex(peers[id], ":")+1:], "%d", &cfg.Port)
	logs := &logRecorder{}
	if *masterLog {
		logs.next = slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	cfg.Logger = slog.New(logs)
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("master %d: New: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm := &testMaster{t: t, m: m, cfg: cfg, cancel: cancel, runErr: make(chan error, 1), logs: logs, srv: srv}
	go func() { tm.runErr <- m.Run(ctx) }()
	srv.Config.Handler = m.Handler()
	srv.Start()
	tm.url = srv.URL
	t.Cleanup(tm.stop)
	return tm
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// leaderOf returns the running master that leads, if exactly one does.
func leaderOf(tms []*testMaster) *testMaster {
	var l *testMaster
	for _, tm := range tms {
		if tm.stopped || !tm.m.IsLeader() {
			continue
		}
		if l != nil {
			return nil
		}
		l = tm
	}
	return l
}

// TestClusterFollowersRedirectAndForward: a follower answers SUBSCRIBE with
// a 307 to the leader and forwards other scheduler calls to it (mesos-go
// keeps posting to the master it was given); after the leader dies the
// others elect a new one that still knows the framework.
func TestClusterFollowersRedirectAndForward(t *testing.T) {
	tms := startCluster(t, 3)
	leader := leaderOf(tms)
	var follower *testMaster
	for _, tm := range tms {
		if tm != leader {
			follower = tm
			break
		}
	}
	waitUntil(t, "the follower knows the leader", func() bool { return follower.m.LeaderAddress() != "" })

	// SUBSCRIBE to a follower: 307 with a protocol-relative Location.
	req, _ := http.NewRequest(http.MethodPost, follower.url+"/api/v1/scheduler",
		strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`))
	req.Header.Set("Content-Type", "application/json")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "//" + strings.TrimPrefix(leader.url, "http://") + "/api/v1/scheduler"
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("SUBSCRIBE to a follower: %d Location %q; want 307 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Subscribe at the leader, then send RECONCILE through the follower.
	s := leader.subscribe(codec.JSON, frameworkInfo("ha"))
	call := &scheduler.Call{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(s.fid)},
		Type:        scheduler.Call_RECONCILE.Enum(),
		Reconcile: &scheduler.Call_Reconcile{Tasks: []*scheduler.Call_Reconcile_Task{{
			TaskId: &mesos.TaskID{Value: proto.String("never-launched")},
		}}},
	}
	body, _ := codec.JSON.Marshal(call)
	code, text := follower.post("/api/v1/scheduler", map[string]string{"Content-Type": "application/json", headerStreamID: s.streamID}, body)
	if code != http.StatusAccepted {
		t.Fatalf("RECONCILE through a follower: %d %q; want 202 (forwarded to the leader)", code, text)
	}
	st := s.update("never-launched", mesos.TaskState_TASK_LOST)
	if st.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("forwarded RECONCILE answered %v", st)
	}

	// The leader dies; the other two elect a new leader that knows the
	// framework from the replicated registry.
	leader.stop()
	waitUntil(t, "a new leader", func() bool { return leaderOf(tms) != nil })
	nl := leaderOf(tms)
	waitUntil(t, "the new leader lists the framework", func() bool {
		fw, _ := nl.stateFramework(s.fid)
		return fw != nil
	})
}

// A master started with Join is added at runtime through the leader's
// membership endpoint, catches up (it learns the framework from the
// replicated registry), and a follower can then be removed.
func TestClusterAddAndRemoveMaster(t *testing.T) {
	tms := startCluster(t, 3)
	leader := leaderOf(tms)
	s := leader.subscribe(codec.JSON, frameworkInfo("before-join"))

	srv := httptest.NewUnstartedServer(nil)
	peers := map[uint64]string{4: srv.Listener.Addr().String()}
	for _, tm := range tms {
		peers[tm.cfg.ID] = strings.TrimPrefix(tm.url, "http://")
	}
	joiner := startMember(t, 4, peers, srv, true)

	body := fmt.Sprintf(`{"id":4,"address":%q}`, peers[4])
	if code, text := leader.post(MembersPath, map[string]string{"Content-Type": "application/json"}, []byte(body)); code != http.StatusOK {
		t.Fatalf("add master 4: %d %q", code, text)
	}
	waitUntil(t, "master 4 knows the leader and the framework", func() bool {
		if joiner.m.LeaderAddress() == "" {
			return false
		}
		var ok bool
		if err := joiner.m.do(t.Context(), func() { _, ok = joiner.m.reg.Framework(s.fid) }); err != nil {
			return false
		}
		return ok
	})
	if code, _ := leader.post(MembersPath, map[string]string{"Content-Type": "application/json"}, []byte(body)); code != http.StatusBadRequest {
		t.Fatalf("adding master 4 twice: got %d, want 400", code)
	}

	var victim *testMaster
	for _, tm := range tms {
		if tm != leader {
			victim = tm
			break
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, leader.url+MembersPath+"/"+fmt.Sprint(victim.cfg.ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("remove master %d: HTTP %d", victim.cfg.ID, resp.StatusCode)
	}
	list := leader.getJSON(MembersPath)["masters"].([]any)
	ids := map[float64]bool{}
	for _, e := range list {
		ids[e.(map[string]any)["id"].(float64)] = true
	}
	if len(ids) != 3 || !ids[4] || ids[float64(victim.cfg.ID)] {
		t.Fatalf("masters after add 4 / remove %d: %v", victim.cfg.ID, list)
	}
}

// A leader that lost its quorum must not serve possibly stale state: the
// ReadIndex round fails (or CheckQuorum demotes it first), so /master/state
// answers 503 or a redirect, never a 200 from memory.
func TestClusterIsolatedLeaderServesNoStaleState(t *testing.T) {
	tms := startCluster(t, 3)
	leader := leaderOf(tms)
	if code := getStatus(t, leader.url+"/master/state"); code != http.StatusOK {
		t.Fatalf("/master/state on a healthy leader: %d", code)
	}
	for _, tm := range tms {
		if tm != leader {
			tm.stop()
		}
	}
	code := getStatus(t, leader.url+"/master/state")
	if code == http.StatusOK {
		t.Fatalf("/master/state on a leader without quorum answered 200; want 503 or 307")
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
