package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mesosd/mesosd/agent/fingerprint"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// snapshot is a read-only copy of agent state for HTTP readers, built by the
// loop so handlers never touch loop-owned maps.
type snapshot struct {
	state   map[string]any
	metrics map[string]float64
}

// Handler serves the agent's HTTP endpoints: /files/{browse,read,download},
// /state (also /slave(1)/state and /state.json), /metrics/snapshot and
// /health. It holds no globals, so several agents can share a process.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	a.files.Register(mux)
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	state := func(w http.ResponseWriter, r *http.Request) {
		s, ok := a.readSnapshot(r.Context())
		if !ok {
			http.Error(w, "Agent is not running yet (recovering); retry shortly", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, r, s.state)
	}
	mux.HandleFunc("/state", state)
	mux.HandleFunc("/state.json", state)
	mux.HandleFunc("/slave(1)/state", state)
	mux.HandleFunc("/slave(1)/state.json", state)
	mux.HandleFunc("/metrics/snapshot", func(w http.ResponseWriter, r *http.Request) {
		s, ok := a.readSnapshot(r.Context())
		if !ok {
			http.Error(w, "Agent is not running yet (recovering); retry shortly", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, r, s.metrics)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if cb := r.URL.Query().Get("jsonp"); cb != "" {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write([]byte(cb + "("))
		_, _ = w.Write(b)
		_, _ = w.Write([]byte(");"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (a *Agent) readSnapshot(ctx context.Context) (snapshot, bool) {
	select {
	case <-a.running:
	default:
		return snapshot{}, false // Run not called yet
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply := make(chan snapshot, 1)
	select {
	case a.snapshots <- reply:
	case <-a.done:
		return snapshot{}, false
	case <-ctx.Done():
		return snapshot{}, false
	}
	select {
	case s := <-reply:
		return s, true
	case <-ctx.Done():
		return snapshot{}, false
	}
}

// resourcesJSON is Mesos' JSON model of resources: scalars by name, ranges
// and sets as text.
func resourcesJSON(rs []*mesos.Resource) map[string]any {
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	for _, r := range rs {
		switch r.GetType() {
		case mesos.Value_SCALAR:
			v, _ := out[r.GetName()].(float64)
			out[r.GetName()] = v + r.GetScalar().GetValue()
		default:
			out[r.GetName()] = fingerprint.FormatValue(r.GetType(), r.GetScalar(), r.GetRanges(), r.GetSet(), nil)
		}
	}
	return out
}

func taskJSON(t *mesos.Task) map[string]any {
	statuses := make([]map[string]any, 0, len(t.GetStatuses()))
	for _, s := range t.GetStatuses() {
		st := map[string]any{"state": s.GetState().String(), "timestamp": s.GetTimestamp()}
		if s.Healthy != nil {
			st["healthy"] = s.GetHealthy()
		}
		if cs := s.GetCheckStatus(); cs != nil {
			st["check_status"] = checkStatusJSON(cs)
		}
		statuses = append(statuses, st)
	}
	out := map[string]any{
		"id":           t.GetTaskId().GetValue(),
		"name":         t.GetName(),
		"framework_id": t.GetFrameworkId().GetValue(),
		"executor_id":  t.GetExecutorId().GetValue(),
		"slave_id":     t.GetAgentId().GetValue(),
		"state":        t.GetState().String(),
		"resources":    resourcesJSON(t.GetResources()),
		"statuses":     statuses,
	}
	if t.User != nil {
		out["user"] = t.GetUser()
	}
	if l := t.GetLabels().GetLabels(); len(l) > 0 {
		labels := make([]map[string]string, 0, len(l))
		for _, kv := range l {
			labels = append(labels, map[string]string{"key": kv.GetKey(), "value": kv.GetValue()})
		}
		out["labels"] = labels
	}
	return out
}

// executorJSON is Mesos' ExecutorWriter shape for the command executor
// of task tp: a terminal task is listed under completed_tasks.
func executorJSON(tp *mesos.Task, containerID, dir string) map[string]any {
	id := tp.GetExecutorId().GetValue()
	e := map[string]any{
		"id":           id,
		"name":         "Command Executor (Task: " + tp.GetTaskId().GetValue() + ")",
		"source":       id,
		"container":    containerID,
		"directory":    dir,
		"resources":    resourcesJSON(tp.GetResources()),
		"tasks":        []any{},
		"queued_tasks": []any{},
	}
	if isTerminal(tp.GetState()) {
		e["completed_tasks"] = []any{taskJSON(tp)}
	} else {
		e["tasks"], e["completed_tasks"] = []any{taskJSON(tp)}, []any{}
	}
	return e
}

// frameworkJSON is Mesos' FrameworkWriter shape.
func frameworkJSON(fw *framework, execs, completed []map[string]any) map[string]any {
	info := fw.info
	for _, c := range fw.completedExecs {
		completed = append(completed, executorJSON(c.task, c.containerID, c.dir))
	}
	return map[string]any{
		"id":                  info.GetId().GetValue(),
		"name":                info.GetName(),
		"user":                info.GetUser(),
		"role":                info.GetRole(),
		"roles":               info.GetRoles(),
		"hostname":            info.GetHostname(),
		"checkpoint":          info.GetCheckpoint(),
		"failover_timeout":    info.GetFailoverTimeout(),
		"executors":           nonNil(execs),
		"completed_executors": nonNil(completed),
	}
}

// snapshot builds the /state and /metrics answers. Called by the loop.
func (a *Agent) snapshot() snapshot {
	fwExecs := map[string][]map[string]any{}
	terminalExecs := map[string][]map[string]any{}
	counts := map[mesos.TaskState]int{}
	var used []*mesos.Resource
	for _, k := range a.sortedKeys() {
		t := a.tasks[k]
		if t.rec.GetTask() == nil {
			continue
		}
		tp := a.taskProto(t)
		counts[tp.GetState()]++
		e := executorJSON(tp, t.rec.GetContainerId(), t.rec.GetSandboxDir())
		if isTerminal(tp.GetState()) {
			// Not yet acknowledged; once it is, forget moves it to the
			// framework's completedExecs, listed before these.
			terminalExecs[k.framework] = append(terminalExecs[k.framework], e)
		} else {
			used = append(used, tp.GetResources()...)
			fwExecs[k.framework] = append(fwExecs[k.framework], e)
		}
	}
	fws := []map[string]any{}
	ids := make([]string, 0, len(a.frameworks))
	for id := range a.frameworks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fws = append(fws, frameworkJSON(a.frameworks[id], fwExecs[id], terminalExecs[id]))
	}
	completedFws := make([]map[string]any, 0, len(a.completedFws))
	for _, fw := range a.completedFws {
		completedFws = append(completedFws, frameworkJSON(fw, nil, nil))
	}
	completed := make([]any, 0, len(a.completed))
	for _, t := range a.completed {
		completed = append(completed, taskJSON(t))
	}
	attrs := map[string]any{}
	for _, at := range a.baseInfo.GetAttributes() {
		if at.GetType() == mesos.Value_SCALAR {
			attrs[at.GetName()] = at.GetScalar().GetValue()
		} else {
			attrs[at.GetName()] = fingerprint.FormatValue(at.GetType(), at.GetScalar(), at.GetRanges(), at.GetSet(), at.GetText())
		}
	}
	st := map[string]any{
		"version":              a.cfg.Version,
		"id":                   a.agentID,
		"pid":                  "slave(1)@" + a.advertisedIP() + ":" + itoa(a.cfg.Port),
		"hostname":             a.cfg.Hostname,
		"start_time":           float64(a.startTime.UnixNano()) / 1e9,
		"resources":            resourcesJSON(a.baseInfo.GetResources()),
		"unreserved_resources": resourcesJSON(a.baseInfo.GetResources()),
		"attributes":           attrs,
		"frameworks":           fws,
		"completed_frameworks": completedFws,
		"completed_tasks":      completed,
		"flags": map[string]string{
			"master":            joinComma(a.cfg.Masters),
			"work_dir":          a.cfg.WorkDir,
			"port":              itoa(a.cfg.Port),
			"hostname":          a.cfg.Hostname,
			"resources":         a.cfg.Resources,
			"attributes":        a.cfg.Attributes,
			"containerd_socket": a.cfg.ContainerdSocket,
		},
	}
	if a.masterInfo != nil {
		st["master_hostname"] = a.masterInfo.GetHostname()
	}
	if a.conn != nil && a.registered {
		st["master_address"] = a.conn.master
	}

	reg := 0.0
	if a.registered {
		reg = 1
	}
	total := a.baseInfo.GetResources()
	m := map[string]float64{
		"slave/registered":                  reg,
		"slave/uptime_secs":                 time.Since(a.startTime).Seconds(),
		"slave/frameworks_active":           float64(len(a.frameworks)),
		"slave/executors_running":           float64(counts[mesos.TaskState_TASK_STARTING] + counts[mesos.TaskState_TASK_RUNNING] + counts[mesos.TaskState_TASK_KILLING]),
		"slave/tasks_staging":               float64(counts[mesos.TaskState_TASK_STAGING]),
		"slave/tasks_starting":              float64(counts[mesos.TaskState_TASK_STARTING]),
		"slave/tasks_running":               float64(counts[mesos.TaskState_TASK_RUNNING]),
		"slave/tasks_killing":               float64(counts[mesos.TaskState_TASK_KILLING]),
		"slave/tasks_finished":              float64(a.metrics.terminal[mesos.TaskState_TASK_FINISHED]),
		"slave/tasks_failed":                float64(a.metrics.terminal[mesos.TaskState_TASK_FAILED]),
		"slave/tasks_killed":                float64(a.metrics.terminal[mesos.TaskState_TASK_KILLED]),
		"slave/tasks_lost":                  float64(a.metrics.terminal[mesos.TaskState_TASK_LOST]),
		"slave/tasks_error":                 float64(a.metrics.terminal[mesos.TaskState_TASK_ERROR]),
		"slave/tasks_dropped":               float64(a.metrics.terminal[mesos.TaskState_TASK_DROPPED]),
		"slave/tasks_gone":                  float64(a.metrics.terminal[mesos.TaskState_TASK_GONE]),
		"slave/valid_status_updates":        float64(a.metrics.validStatusUpdates),
		"slave/invalid_status_updates":      0,
		"slave/status_updates_sent":         float64(a.metrics.statusUpdatesSent),
		"slave/status_update_retries":       float64(a.metrics.statusUpdateRetries),
		"slave/valid_framework_messages":    0,
		"slave/invalid_framework_messages":  0,
		"slave/recovery_errors":             float64(a.metrics.recoveryErrors),
		"slave/orphan_containers_destroyed": float64(a.metrics.orphansDestroyed),
		"slave/checkpoint_errors":           float64(a.metrics.checkpointErrors),
		"slave/master_disconnections":       float64(a.metrics.masterDisconnections),
		"slave/cpus_total":                  fingerprint.Scalar(total, "cpus"),
		"slave/mem_total":                   fingerprint.Scalar(total, "mem"),
		"slave/disk_total":                  fingerprint.Scalar(total, "disk"),
		"slave/gpus_total":                  fingerprint.Scalar(total, "gpus"),
		"slave/cpus_used":                   fingerprint.Scalar(used, "cpus"),
		"slave/mem_used":                    fingerprint.Scalar(used, "mem"),
		"slave/disk_used":                   fingerprint.Scalar(used, "disk"),
		"slave/gpus_used":                   fingerprint.Scalar(used, "gpus"),
	}
	for _, n := range []string{"cpus", "mem", "disk", "gpus"} {
		if tot := m["slave/"+n+"_total"]; tot > 0 {
			m["slave/"+n+"_percent"] = m["slave/"+n+"_used"] / tot
		} else {
			m["slave/"+n+"_percent"] = 0
		}
	}
	return snapshot{state: st, metrics: m}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func joinComma(s []string) string { return strings.Join(s, ",") }

// checkStatusJSON is a CheckStatusInfo as Mesos' JSON::Protobuf renders it.
func checkStatusJSON(cs *mesos.CheckStatusInfo) map[string]any {
	out := map[string]any{}
	if cs.Type != nil {
		out["type"] = cs.GetType().String()
	}
	if c := cs.GetCommand(); c != nil {
		m := map[string]any{}
		if c.ExitCode != nil {
			m["exit_code"] = c.GetExitCode()
		}
		out["command"] = m
	}
	if h := cs.GetHttp(); h != nil {
		m := map[string]any{}
		if h.StatusCode != nil {
			m["status_code"] = h.GetStatusCode()
		}
		out["http"] = m
	}
	if t := cs.GetTcp(); t != nil {
		m := map[string]any{}
		if t.Succeeded != nil {
			m["succeeded"] = t.GetSucceeded()
		}
		out["tcp"] = m
	}
	return out
}
