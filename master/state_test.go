package master

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

func requireKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s lacks key %q (has %v)", what, k, keysOf(obj))
		}
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Key names from reference §4.1 / §4.2: what Mesos tooling reads.
func TestStateEndpoints(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	s := tm.subscribe(codecJSON, func() *mesos.FrameworkInfo {
		fi := frameworkInfo("fw", pa)
		fi.Principal = proto.String("alice")
		return fi
	}())
	o := s.offer(a)
	s.launch([]*mesos.Offer{o}, cmdTask(t, "t1", a, "cpus:1;mem:128"), cmdTask(t, "t2", a, "cpus:0.5;mem:64"))
	a.runTask("t1")
	a.runTask("t2")
	a.update(s.fid, "t1", mesos.TaskState_TASK_RUNNING)
	s.ack(s.update("t1", mesos.TaskState_TASK_RUNNING))
	a.update(s.fid, "t2", mesos.TaskState_TASK_FAILED)
	s.ack(s.update("t2", mesos.TaskState_TASK_FAILED))
	s.waitOffered(a, "cpus:3;mem:896") // t2's resources are back

	st := tm.state()
	requireKeys(t, "/master/state", st, "version", "build_date", "build_time", "build_user", "start_time", "elected_time",
		"id", "pid", "hostname", "capabilities", "activated_slaves", "deactivated_slaves", "unreachable_slaves",
		"leader", "leader_info", "flags", "slaves", "recovered_slaves", "frameworks", "completed_frameworks",
		"orphan_tasks", "unregistered_frameworks")
	if st["id"] != tm.m.Info().GetId() || st["leader"] != tm.m.Info().GetPid() || st["version"] != Version {
		t.Errorf("state id/leader/version = %v/%v/%v", st["id"], st["leader"], st["version"])
	}
	if st["activated_slaves"] != 1.0 {
		t.Errorf("activated_slaves = %v, want 1", st["activated_slaves"])
	}

	slaves := jsonList(t, st, "slaves")
	if len(slaves) != 1 {
		t.Fatalf("slaves = %v, want 1", slaves)
	}
	ag := slaves[0]
	requireKeys(t, "agent", ag, "id", "hostname", "port", "attributes", "pid", "registered_time", "resources",
		"used_resources", "offered_resources", "reserved_resources", "unreserved_resources", "active", "deactivated",
		"version", "capabilities")
	res, _ := ag["resources"].(map[string]any)
	requireKeys(t, "agent resources", res, "cpus", "mem", "disk", "gpus", "ports")
	if res["cpus"] != 4.0 || res["mem"] != 1024.0 || res["ports"] != "[31000-32000]" {
		t.Errorf("agent resources = %v, want cpus 4, mem 1024, ports [31000-32000]", res)
	}
	if used, _ := ag["used_resources"].(map[string]any); used["cpus"] != 1.0 || used["mem"] != 128.0 {
		t.Errorf("agent used_resources = %v, want cpus 1 mem 128 (t1 only)", used)
	}

	fw := findByID(jsonList(t, st, "frameworks"), s.fid)
	if fw == nil {
		t.Fatalf("framework %s not in state", s.fid)
	}
	requireKeys(t, "framework", fw, "id", "name", "used_resources", "offered_resources", "capabilities", "hostname",
		"webui_url", "active", "connected", "recovered", "user", "failover_timeout", "checkpoint", "registered_time",
		"unregistered_time", "principal", "resources", "role", "tasks", "unreachable_tasks", "completed_tasks",
		"offers", "executors", "offer_constraints")
	if _, ok := fw["pid"]; ok {
		t.Errorf("HTTP framework has a pid %v; Mesos omits it", fw["pid"])
	}
	if fw["principal"] != "alice" || fw["role"] != "*" || fw["active"] != true {
		t.Errorf("framework principal/role/active = %v/%v/%v", fw["principal"], fw["role"], fw["active"])
	}
	if caps, _ := fw["capabilities"].([]any); len(caps) != 1 || caps[0] != "PARTITION_AWARE" {
		t.Errorf("framework capabilities = %v, want [PARTITION_AWARE]", fw["capabilities"])
	}
	tasks := jsonList(t, fw, "tasks")
	if len(tasks) != 1 {
		t.Fatalf("framework tasks = %v, want t1", tasks)
	}
	task := tasks[0]
	requireKeys(t, "task", task, "id", "name", "framework_id", "executor_id", "slave_id", "state", "resources", "role", "statuses")
	if task["state"] != "TASK_RUNNING" || task["slave_id"] != a.id || task["framework_id"] != s.fid {
		t.Errorf("task = %v", task)
	}
	statuses := jsonList(t, task, "statuses")
	if len(statuses) == 0 {
		t.Fatalf("task statuses empty")
	}
	requireKeys(t, "task status", statuses[len(statuses)-1], "state", "timestamp")
	if c := findByID(jsonList(t, fw, "completed_tasks"), "t2"); c == nil || c["state"] != "TASK_FAILED" {
		t.Errorf("completed_tasks = %v, want t2 TASK_FAILED", fw["completed_tasks"])
	}
	offers := jsonList(t, fw, "offers")
	if len(offers) == 0 {
		t.Fatalf("framework offers empty, want the outstanding offer")
	}
	requireKeys(t, "offer", offers[0], "id", "framework_id", "slave_id", "resources", "allocation_info")

	// /master/frameworks
	fws := tm.getJSON("/master/frameworks")
	requireKeys(t, "/master/frameworks", fws, "frameworks", "completed_frameworks", "unregistered_frameworks")
	if n := len(jsonList(t, fws, "frameworks")); n != 1 {
		t.Errorf("/master/frameworks lists %d frameworks, want 1", n)
	}
	if n := len(jsonList(t, tm.getJSON("/master/frameworks?framework_id=nope"), "frameworks")); n != 0 {
		t.Errorf("/master/frameworks?framework_id=nope lists %d, want 0", n)
	}

	// /master/slaves
	sl := tm.getJSON("/master/slaves")
	requireKeys(t, "/master/slaves", sl, "slaves", "recovered_slaves")
	if n := len(jsonList(t, tm.getJSON("/master/slaves?slave_id="+a.id), "slaves")); n != 1 {
		t.Errorf("/master/slaves?slave_id=%s lists %d, want 1", a.id, n)
	}

	// /master/tasks: active and completed, filters, limit.
	all := jsonList(t, tm.getJSON("/master/tasks"), "tasks")
	if len(all) != 2 {
		t.Errorf("/master/tasks = %v, want t1 and t2", all)
	}
	if got := jsonList(t, tm.getJSON("/master/tasks?task_id=t2"), "tasks"); len(got) != 1 || got[0]["id"] != "t2" {
		t.Errorf("/master/tasks?task_id=t2 = %v", got)
	}
	if got := jsonList(t, tm.getJSON("/master/tasks?limit=1"), "tasks"); len(got) != 1 {
		t.Errorf("/master/tasks?limit=1 returned %d tasks", len(got))
	}

	// /metrics/snapshot: every key Mesos tooling reads is present.
	m := tm.metrics()
	for _, k := range []string{"master/elected", "master/uptime_secs",
		"master/slaves_active", "master/slaves_connected", "master/slaves_disconnected", "master/slaves_inactive", "master/slaves_unreachable",
		"master/frameworks_active", "master/frameworks_connected", "master/frameworks_disconnected", "master/frameworks_inactive",
		"master/outstanding_offers",
		"master/tasks_staging", "master/tasks_starting", "master/tasks_running", "master/tasks_killing", "master/tasks_unreachable",
		"master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost", "master/tasks_error",
		"master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
		"master/cpus_total", "master/cpus_used", "master/cpus_percent", "master/mem_total", "master/mem_used", "master/mem_percent",
		"master/disk_total", "master/disk_used", "master/disk_percent", "master/gpus_total", "master/gpus_used", "master/gpus_percent",
	} {
		if _, ok := m[k]; !ok {
			t.Errorf("/metrics/snapshot lacks %q", k)
		}
	}
	for k, want := range map[string]float64{
		"master/elected": 1, "master/slaves_active": 1, "master/frameworks_active": 1,
		"master/tasks_running": 1, "master/tasks_failed": 1, "master/cpus_total": 4, "master/cpus_used": 1, "master/cpus_percent": 0.25,
	} {
		if m[k] != want {
			t.Errorf("metric %s = %v, want %v", k, m[k], want)
		}
	}
	for k := range m {
		// Metric names are Mesos' ("master/tasks_running"), never enum
		// names ("master/task_running").
		if len(k) > len("master/task_") && k[:len("master/task_")] == "master/task_" {
			t.Errorf("metric with a non-Mesos name %q", k)
		}
	}

	// /master/redirect, /version, /master/health.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(tm.url + "/master/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "//localhost:5050" {
		t.Errorf("/master/redirect: %d Location %q, want 307 //localhost:5050", resp.StatusCode, resp.Header.Get("Location"))
	}
	v := tm.getJSON("/version")
	requireKeys(t, "/version", v, "version", "build_date", "build_time", "build_user")
	if v["version"] != Version {
		t.Errorf("/version version = %v, want %s", v["version"], Version)
	}
	resp, err = http.Get(tm.url + "/master/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/master/health: %d, want 200", resp.StatusCode)
	}
	// jsonp wraps; an unsafe callback name is ignored.
	if code, body := tm.get("/version?jsonp=cb"); code != 200 || len(body) < 4 || body[:3] != "cb(" {
		t.Errorf("/version?jsonp=cb: %d %q, want cb(...)", code, body)
	}
	if code, body := tm.get("/version?jsonp=alert(1)//"); code != 200 || body[0] != '{' {
		t.Errorf("/version with an unsafe jsonp callback: %d %q, want plain JSON", code, body)
	}
}

func (tm *testMaster) get(path string) (int, string) {
	tm.t.Helper()
	resp, err := http.Get(tm.url + path)
	if err != nil {
		tm.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp.StatusCode, string(b)
}

// Many schedulers calling at once while an agent streams updates: the race
// detector checks the loop's ownership, and every call answers 202.
func TestConcurrentCalls(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{resources: "cpus:64;mem:65536"})
	const nFrameworks, nTasks = 4, 8
	var scheds []*sched
	for i := 0; i < nFrameworks; i++ {
		scheds = append(scheds, tm.subscribe(codecs[i%2].c, frameworkInfo(fmt.Sprintf("fw%d", i))))
	}
	// Each framework launches its tasks from its own offers.
	for i, s := range scheds {
		var tasks []*mesos.TaskInfo
		for j := 0; j < nTasks; j++ {
			tasks = append(tasks, cmdTask(t, fmt.Sprintf("f%d-t%d", i, j), a, "cpus:0.5;mem:32"))
		}
		s.launch(s.waitOffered(a, "cpus:4;mem:256"), tasks...)
		for j := 0; j < nTasks; j++ {
			a.runTask(fmt.Sprintf("f%d-t%d", i, j))
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 1024)
	// The agent reports every task running, then finished...
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, s := range scheds {
			for j := 0; j < nTasks; j++ {
				for _, state := range []mesos.TaskState{mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED} {
					if code := a.sendUpdate(s.fid, fmt.Sprintf("f%d-t%d", i, j), state); code != http.StatusAccepted {
						errs <- fmt.Errorf("agent update: HTTP %d", code)
					}
				}
			}
		}
	}()
	// ...while every framework hammers the master with calls.
	for _, s := range scheds {
		s := s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 25; k++ {
				for _, c := range []*scheduler.Call{
					{Type: scheduler.Call_RECONCILE.Enum(), Reconcile: &scheduler.Call_Reconcile{}},
					{Type: scheduler.Call_REVIVE.Enum()},
					{Type: scheduler.Call_SUPPRESS.Enum()},
					{Type: scheduler.Call_DECLINE.Enum(), Decline: &scheduler.Call_Decline{OfferIds: []*mesos.OfferID{{Value: proto.String("nope")}}}},
				} {
					if code, body := s.callBodyNoHelper(c); code != http.StatusAccepted {
						errs <- fmt.Errorf("%s: HTTP %d %s", c.GetType(), code, body)
					}
				}
			}
		}()
	}
	// ...and readers poll the state endpoints.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; k < 25; k++ {
			for _, p := range []string{"/master/state", "/metrics/snapshot", "/master/tasks"} {
				resp, err := http.Get(tm.url + p)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("GET %s: %d", p, resp.StatusCode)
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every framework saw every task finish, in order after running.
	for i, s := range scheds {
		for j := 0; j < nTasks; j++ {
			id := fmt.Sprintf("f%d-t%d", i, j)
			s.update(id, mesos.TaskState_TASK_RUNNING)
			s.update(id, mesos.TaskState_TASK_FINISHED)
		}
	}
	if m := tm.metrics(); m["master/tasks_finished"] != nFrameworks*nTasks || m["master/cpus_used"] != 0 {
		t.Errorf("after all tasks finished: tasks_finished=%v cpus_used=%v, want %d and 0", m["master/tasks_finished"], m["master/cpus_used"], nFrameworks*nTasks)
	}
}

// A task's role in /master/state is the role its resources were allocated
// to, for legacy single-role frameworks as for MULTI_ROLE ones.
func TestTaskRoleInState(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	a := tm.addAgent(agentOpts{})
	legacy := frameworkInfo("legacy")
	legacy.Role = proto.String("web")
	s := tm.subscribe(codecJSON, legacy)
	s.launch([]*mesos.Offer{s.offer(a)}, cmdTask(t, "t1", a, "cpus:1"))
	a.runTask("t1")
	if st := tm.stateTask(s.fid, "t1"); st == nil || st["role"] != "web" {
		t.Errorf("legacy framework's task role = %v, want web", st["role"])
	}
	s.decline(3600, s.offers()...)

	mr := tm.subscribe(codecJSON, multiRole(frameworkInfo("multi"), "db"))
	o := mr.offer(a)
	ti := cmdTask(t, "t2", a, "cpus:1")
	for _, r := range ti.Resources {
		r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("db")}
	}
	mr.launch([]*mesos.Offer{o}, ti)
	a.runTask("t2")
	if st := tm.stateTask(mr.fid, "t2"); st == nil || st["role"] != "db" {
		t.Errorf("MULTI_ROLE framework's task role = %v, want db", st["role"])
	}
}
