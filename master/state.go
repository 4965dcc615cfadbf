package master

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// counters are the master's monotonic metrics, owned by the loop.
type counters map[string]float64

func (c *counters) add(name string, v float64) {
	if *c == nil {
		*c = make(counters)
	}
	(*c)[name] += v
}
func (c *counters) inc(name string) { c.add(name, 1) }

// countState counts a task entering state (Mesos keeps counters for
// terminal states and gauges for the others; gauges are computed instead).
func (m *Master) countState(s mesos.TaskState) {
	if isTerminal(s) {
		m.metrics.inc(taskStateMetric(s))
	}
}

// taskStateMetric is the Mesos metric name for a task state:
// TASK_FINISHED -> "master/tasks_finished" (plural "tasks_", not the enum
// name lower-cased, which would be "master/task_finished").
func taskStateMetric(s mesos.TaskState) string {
	return "master/tasks_" + strings.ToLower(strings.TrimPrefix(s.String(), "TASK_"))
}

func sortedTasks(f *framework) []*task {
	out := make([]*task, 0, len(f.tasks))
	for _, t := range f.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id() < out[j].id() })
	return out
}

// stateSnapshot is an immutable view of the master built on the loop and
// rendered by readers outside it. It is cached until the state changes.
type stateSnapshot struct {
	version  uint64
	state    map[string]any
	metrics  map[string]float64
	built    time.Time
	leaderOn bool
}

// snapshot returns the current state view, rebuilding it only if something
// changed since the last one (cheap for pollers like the UI and exporters).
func (m *Master) snapshot(r *http.Request) (*stateSnapshot, error) {
	if m.IsLeader() {
		// Leader-only views must not be stale (see readindex.go); the
		// metrics a standby serves about itself need no quorum.
		if err := m.linearizable(r.Context()); err != nil {
			return nil, err
		}
	}
	var s *stateSnapshot
	err := m.do(r.Context(), func() {
		if m.snapCache != nil && m.snapCache.version == m.version && time.Since(m.snapCache.built) < time.Second {
			s = m.snapCache
			return
		}
		s = m.buildSnapshot()
		m.snapCache = s
	})
	return s, err
}

func (m *Master) buildSnapshot() *stateSnapshot {
	now := time.Now()
	s := &stateSnapshot{version: m.version, built: now, leaderOn: m.leaderOn}
	slaves := []any{}
	recovered := []any{}
	gauges := map[string]float64{}
	var totalCPU, totalMem, totalDisk, totalGPU, usedCPU, usedMem, usedDisk, usedGPU float64
	for _, a := range m.sortedAgents() {
		if a.recovered {
			recovered = append(recovered, jsonProto(a.info))
			continue
		}
		var used, offered resourceSums
		for _, t := range a.tasks {
			if !t.resourcesRecovered {
				used.addProto(t.t.GetResources())
			}
		}
		for _, o := range a.offers {
			offered.addProto(o.msg.GetResources())
		}
		total := resourceSums{}
		total.addProto(a.info.GetResources())
		totalCPU += total.scalar("cpus")
		totalMem += total.scalar("mem")
		totalDisk += total.scalar("disk")
		totalGPU += total.scalar("gpus")
		usedCPU += used.scalar("cpus")
		usedMem += used.scalar("mem")
		usedDisk += used.scalar("disk")
		usedGPU += used.scalar("gpus")
		entry := map[string]any{
			"id":                   a.id,
			"hostname":             a.info.GetHostname(),
			"port":                 a.info.GetPort(),
			"pid":                  fmt.Sprintf("slave(1)@%s:%d", a.info.GetHostname(), a.info.GetPort()),
			"attributes":           legacyAttributes(a.info.GetAttributes()),
			"registered_time":      float64(a.registeredTime.UnixNano()) / 1e9,
			"resources":            total.legacy(),
			"used_resources":       used.legacy(),
			"offered_resources":    offered.legacy(),
			"reserved_resources":   reservedByRole(a.info.GetResources()),
			"unreserved_resources": unreservedSums(a.info.GetResources()),
			"active":               a.conn != nil,
			"deactivated":          m.agentDeactivated(a.id),
			"version":              a.version,
			"capabilities":         []string{"MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"},
		}
		if !a.reregisteredTime.IsZero() {
			entry["reregistered_time"] = float64(a.reregisteredTime.UnixNano()) / 1e9
		}
		slaves = append(slaves, entry)
		if a.conn != nil {
			gauges["master/slaves_active"]++
			gauges["master/slaves_connected"]++
		} else {
			gauges["master/slaves_disconnected"]++
			gauges["master/slaves_inactive"]++
		}
	}
	for _, ra := range m.reg.Agents() {
		if ra.GetState() == pb.RegistryAgent_UNREACHABLE {
			gauges["master/slaves_unreachable"]++
		}
	}
	frameworks := []any{}
	for _, f := range m.sortedFrameworks() {
		frameworks = append(frameworks, m.frameworkJSON(f, gauges))
		if f.connected() {
			gauges["master/frameworks_active"]++
			gauges["master/frameworks_connected"]++
		} else {
			gauges["master/frameworks_disconnected"]++
			gauges["master/frameworks_inactive"]++
		}
	}
	completed := []any{}
	for _, f := range m.completedFrameworks {
		completed = append(completed, m.frameworkJSON(f, nil))
	}
	leader := ""
	var leaderInfo any
	if m.leaderOn {
		leader = m.info.GetPid()
		leaderInfo = jsonProto(m.info)
	} else if lm := m.reg.Master(); lm != nil && m.raftLead != 0 {
		leader = lm.GetPid()
		leaderInfo = jsonProto(lm)
	}
	s.state = map[string]any{
		"version":                 Version,
		"build_date":              "",
		"build_time":              0,
		"build_user":              "",
		"start_time":              float64(m.startTime.UnixNano()) / 1e9,
		"id":                      m.info.GetId(),
		"pid":                     m.info.GetPid(),
		"hostname":                m.info.GetHostname(),
		"capabilities":            []string{"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"},
		"activated_slaves":        gauges["master/slaves_active"],
		"deactivated_slaves":      gauges["master/slaves_inactive"],
		"unreachable_slaves":      gauges["master/slaves_unreachable"],
		"leader":                  leader,
		"flags":                   m.flagsMap(),
		"slaves":                  slaves,
		"recovered_slaves":        recovered,
		"frameworks":              frameworks,
		"completed_frameworks":    completed,
		"orphan_tasks":            []any{},
		"unregistered_frameworks": []any{},
	}
	if leaderInfo != nil {
		s.state["leader_info"] = leaderInfo
	}
	if m.leaderOn {
		s.state["elected_time"] = float64(m.elected.UnixNano()) / 1e9
	}

	met := map[string]float64{}
	for k, v := range m.metrics {
		met[k] = v
	}
	for k, v := range gauges {
		met[k] = v
	}
	for _, name := range []string{"slaves_active", "slaves_connected", "slaves_disconnected", "slaves_inactive", "slaves_unreachable",
		"frameworks_active", "frameworks_connected", "frameworks_disconnected", "frameworks_inactive",
		"tasks_staging", "tasks_starting", "tasks_running", "tasks_killing", "tasks_unreachable",
		"tasks_finished", "tasks_failed", "tasks_killed", "tasks_lost", "tasks_error", "tasks_dropped", "tasks_gone", "tasks_gone_by_operator"} {
		met["master/"+name] += 0 // present even when zero: exporters expect every name
	}
	met["master/elected"] = b2f(m.leaderOn)
	met["master/uptime_secs"] = now.Sub(m.startTime).Seconds()
	met["master/outstanding_offers"] = float64(len(m.offers))
	met["master/cpus_total"], met["master/cpus_used"], met["master/cpus_percent"] = totalCPU, usedCPU, pct(usedCPU, totalCPU)
	met["master/mem_total"], met["master/mem_used"], met["master/mem_percent"] = totalMem, usedMem, pct(usedMem, totalMem)
	met["master/disk_total"], met["master/disk_used"], met["master/disk_percent"] = totalDisk, usedDisk, pct(usedDisk, totalDisk)
	met["master/gpus_total"], met["master/gpus_used"], met["master/gpus_percent"] = totalGPU, usedGPU, pct(usedGPU, totalGPU)
	met["registrar/log/recovered"] = 1
	met["registrar/log/ensemble_size"] = float64(len(m.cfg.Peers))
	if m.tr != nil {
		for k, v := range m.tr.Stats().Metrics("master/raft_transport/") {
			met[k] = v
		}
	}
	s.metrics = met
	return s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func pct(used, total float64) float64 {
	if total == 0 {
		return 0
	}
	return used / total
}

func (m *Master) frameworkJSON(f *framework, gauges map[string]float64) map[string]any {
	var used, offered resourceSums
	tasks := []any{}
	for _, t := range sortedTasks(f) {
		if !t.resourcesRecovered {
			used.addProto(t.t.GetResources())
		}
		tasks = append(tasks, taskJSON(t.t))
		if gauges != nil && !isTerminal(t.state()) {
			gauges[taskStateMetric(t.state())]++
		}
	}
	completed := []any{}
	for _, t := range f.completed {
		completed = append(completed, taskJSON(t))
	}
	offers := []any{}
	oids := make([]string, 0, len(f.offers))
	for id := range f.offers {
		oids = append(oids, id)
	}
	sort.Strings(oids)
	for _, id := range oids {
		o := f.offers[id]
		offered.addProto(o.msg.GetResources())
		var res resourceSums
		res.addProto(o.msg.GetResources())
		offers = append(offers, map[string]any{
			"id": o.id, "framework_id": f.id, "slave_id": o.agentID, "resources": res.legacy(),
			"allocation_info": map[string]any{"role": o.role},
		})
	}
	caps := []string{}
	for _, c := range f.info.GetCapabilities() {
		caps = append(caps, c.GetType().String())
	}
	all := used
	all.add(offered)
	out := map[string]any{
		"id":                f.id,
		"name":              f.info.GetName(),
		"user":              f.info.GetUser(),
		"hostname":          f.info.GetHostname(),
		"webui_url":         f.info.GetWebuiUrl(),
		"failover_timeout":  f.info.GetFailoverTimeout(),
		"checkpoint":        f.info.GetCheckpoint(),
		"capabilities":      caps,
		"active":            f.connected(),
		"connected":         f.connected(),
		"recovered":         f.recovered,
		"registered_time":   unixSecs(f.registeredTime),
		"unregistered_time": unixSecs(f.unregisteredTime),
		"used_resources":    used.legacy(),
		"offered_resources": offered.legacy(),
		"resources":         all.legacy(),
		"tasks":             tasks,
		"unreachable_tasks": unreachableJSON(f),
		"completed_tasks":   completed,
		"offers":            offers,
		"executors":         []any{},
		"offer_constraints": map[string]any{},
	}
	if !f.reregisteredTime.IsZero() {
		out["reregistered_time"] = unixSecs(f.reregisteredTime)
	}
	if p := f.info.GetPrincipal(); p != "" {
		out["principal"] = p
	}
	if f.has(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		out["roles"] = f.info.GetRoles()
	} else {
		out["role"] = f.info.GetRole()
	}
	if l := f.info.GetLabels(); l != nil {
		out["labels"] = jsonProto(l)
	}
	return out
}

func unreachableJSON(f *framework) []any {
	out := []any{}
	for _, t := range f.unreachableTasks() {
		out = append(out, taskJSON(t))
	}
	return out
}

func unixSecs(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// taskJSON renders a task the way /master/state does (v0 key names).
func taskJSON(t *mesos.Task) map[string]any {
	var res resourceSums
	res.addProto(t.GetResources())
	statuses := []any{}
	for _, s := range t.GetStatuses() {
		st := map[string]any{"state": s.GetState().String(), "timestamp": s.GetTimestamp()}
		if s.Healthy != nil {
			st["healthy"] = s.GetHealthy()
		}
		if s.ContainerStatus != nil {
			st["container_status"] = jsonProto(s.GetContainerStatus())
		}
		if s.Labels != nil {
			st["labels"] = jsonProto(s.GetLabels())
		}
		statuses = append(statuses, st)
	}
	role := "*"
	for _, r := range t.GetResources() {
		if ai := r.GetAllocationInfo(); ai != nil {
			role = ai.GetRole()
			break
		}
	}
	out := map[string]any{
		"id":           t.GetTaskId().GetValue(),
		"name":         t.GetName(),
		"framework_id": t.GetFrameworkId().GetValue(),
		"executor_id":  t.GetExecutorId().GetValue(),
		"slave_id":     t.GetAgentId().GetValue(),
		"state":        t.GetState().String(),
		"resources":    res.legacy(),
		"role":         role,
		"statuses":     statuses,
	}
	if t.User != nil {
		out["user"] = t.GetUser()
	}
	if t.Labels != nil {
		out["labels"] = jsonProto(t.GetLabels())
	}
	if t.Discovery != nil {
		out["discovery"] = jsonProto(t.GetDiscovery())
	}
	if t.Container != nil {
		out["container"] = jsonProto(t.GetContainer())
	}
	if t.HealthCheck != nil {
		out["health_check"] = jsonProto(t.GetHealthCheck())
	}
	return out
}

// jsonProto renders a message with the Mesos JSON codec for embedding.
func jsonProto(msg proto.Message) json.RawMessage {
	b, err := codec.JSON.Marshal(msg)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

// resourceSums aggregates resources into the legacy JSON object:
// {"cpus":1,"mem":128,"disk":0,"gpus":0,"ports":"[31000-32000]"}.
type resourceSums struct {
	scalars map[string]float64
	ranges  map[string][][2]uint64
	sets    map[string][]string
}

func (s *resourceSums) addProto(rs []*mesos.Resource) {
	for _, r := range rs {
		name := r.GetName()
		if r.Revocable != nil {
			name += "_revocable"
		}
		switch r.GetType() {
		case mesos.Value_SCALAR:
			if s.scalars == nil {
				s.scalars = make(map[string]float64)
			}
			s.scalars[name] += r.GetScalar().GetValue()
		case mesos.Value_RANGES:
			if s.ranges == nil {
				s.ranges = make(map[string][][2]uint64)
			}
			for _, rg := range r.GetRanges().GetRange() {
				s.ranges[name] = append(s.ranges[name], [2]uint64{rg.GetBegin(), rg.GetEnd()})
			}
		case mesos.Value_SET:
			if s.sets == nil {
				s.sets = make(map[string][]string)
			}
			s.sets[name] = append(s.sets[name], r.GetSet().GetItem()...)
		}
	}
}

func (s *resourceSums) add(o resourceSums) {
	for k, v := range o.scalars {
		if s.scalars == nil {
			s.scalars = make(map[string]float64)
		}
		s.scalars[k] += v
	}
	for k, v := range o.ranges {
		if s.ranges == nil {
			s.ranges = make(map[string][][2]uint64)
		}
		s.ranges[k] = append(s.ranges[k], v...)
	}
	for k, v := range o.sets {
		if s.sets == nil {
			s.sets = make(map[string][]string)
		}
		s.sets[k] = append(s.sets[k], v...)
	}
}

func (s resourceSums) scalar(name string) float64 { return s.scalars[name] }

func (s resourceSums) legacy() map[string]any {
	out := map[string]any{"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}
	for k, v := range s.scalars {
		// Mesos keeps three decimals of fixed-point precision.
		out[k] = float64(int64(v*1000+0.5)) / 1000
	}
	for k, rs := range s.ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
		parts := make([]string, 0, len(rs))
		for _, r := range rs {
			parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
		out[k] = "[" + strings.Join(parts, ", ") + "]"
	}
	for k, items := range s.sets {
		sort.Strings(items)
		out[k] = "{" + strings.Join(items, ", ") + "}"
	}
	return out
}

// reservationRole is the role a resource is reserved to ("" if unreserved):
// the top of the refinement stack, or the pre-refinement role field.
func reservationRole(r *mesos.Resource) string {
	if n := len(r.GetReservations()); n > 0 {
		return r.GetReservations()[n-1].GetRole()
	}
	if r.Role != nil && r.GetRole() != "*" {
		return r.GetRole()
	}
	return ""
}

// reservedByRole renders an agent's reserved resources per role in the
// legacy shape ({"eng": {"cpus": 4, ...}}).
func reservedByRole(rs []*mesos.Resource) map[string]any {
	by := make(map[string]*resourceSums)
	for _, r := range rs {
		if role := reservationRole(r); role != "" {
			if by[role] == nil {
				by[role] = &resourceSums{}
			}
			by[role].addProto([]*mesos.Resource{r})
		}
	}
	out := make(map[string]any, len(by))
	for role, s := range by {
		out[role] = s.legacy()
	}
	return out
}

func unreservedSums(rs []*mesos.Resource) map[string]any {
	var s resourceSums
	for _, r := range rs {
		if reservationRole(r) == "" {
			s.addProto([]*mesos.Resource{r})
		}
	}
	return s.legacy()
}

func legacyAttributes(attrs []*mesos.Attribute) map[string]any {
	out := map[string]any{}
	for _, a := range attrs {
		switch a.GetType() {
		case mesos.Value_SCALAR:
			out[a.GetName()] = a.GetScalar().GetValue()
		case mesos.Value_TEXT:
			out[a.GetName()] = a.GetText().GetValue()
		case mesos.Value_RANGES:
			var s resourceSums
			for _, r := range a.GetRanges().GetRange() {
				s.ranges = map[string][][2]uint64{"r": append(s.ranges["r"], [2]uint64{r.GetBegin(), r.GetEnd()})}
			}
			out[a.GetName()] = s.legacy()["r"]
		case mesos.Value_SET:
			out[a.GetName()] = "{" + strings.Join(a.GetSet().GetItem(), ",") + "}"
		}
	}
	return out
}

func (m *Master) flagsMap() map[string]string {
	out := make(map[string]string, len(m.cfg.Flags))
	for k, v := range m.cfg.Flags {
		out[k] = v
	}
	return out
}

func (m *Master) registerStateHandlers(mux *http.ServeMux) {
	leaderOnly := func(h func(http.ResponseWriter, *http.Request, *stateSnapshot)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if m.redirectToLeader(w, r) {
				return
			}
			s, err := m.snapshot(r)
			if err != nil {
				m.mapError(w, r, err)
				return
			}
			h(w, r, s)
		}
	}
	state := leaderOnly(func(w http.ResponseWriter, r *http.Request, s *stateSnapshot) { writeJSON(w, r, s.state) })
	for _, p := range []string{"/master/state", "/state", "/master/state.json", "/state.json"} {
		mux.HandleFunc(p, state)
	}
	mux.HandleFunc("/master/frameworks", leaderOnly(func(w http.ResponseWriter, r *http.Request, s *stateSnapshot) {
		writeJSON(w, r, map[string]any{
			"frameworks":              filterByID(s.state["frameworks"], "id", r.URL.Query().Get("framework_id")),
			"completed_frameworks":    filterByID(s.state["completed_frameworks"], "id", r.URL.Query().Get("framework_id")),
			"unregistered_frameworks": []any{},
		})
	}))
	mux.HandleFunc("/master/slaves", leaderOnly(func(w http.ResponseWriter, r *http.Request, s *stateSnapshot) {
		writeJSON(w, r, map[string]any{
			"slaves":           filterByID(s.state["slaves"], "id", r.URL.Query().Get("slave_id")),
			"recovered_slaves": s.state["recovered_slaves"],
		})
	}))
	mux.HandleFunc("/master/tasks", leaderOnly(func(w http.ResponseWriter, r *http.Request, s *stateSnapshot) {
		writeJSON(w, r, map[string]any{"tasks": tasksPage(s, r)})
	}))
	// /master/roles, /master/weights and /master/quota (read side) in the
	// legacy JSON shape the Mesos web UI and CLI read.
	mux.HandleFunc("/master/roles", func(w http.ResponseWriter, r *http.Request) {
		if m.redirectToLeader(w, r) {
			return
		}
		var roles []any
		if err := m.do(r.Context(), func() { roles = m.rolesJSON() }); err != nil {
			m.mapError(w, r, err)
			return
		}
		writeJSON(w, r, map[string]any{"roles": roles})
	})
	mux.HandleFunc("/master/weights", func(w http.ResponseWriter, r *http.Request) {
		if m.redirectToLeader(w, r) {
			return
		}
		var out json.RawMessage
		if err := m.do(r.Context(), func() { out = jsonProto(m.getWeights()) }); err != nil {
			m.mapError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	mux.HandleFunc("/master/quota", func(w http.ResponseWriter, r *http.Request) {
		if m.redirectToLeader(w, r) {
			return
		}
		var out json.RawMessage
		if err := m.do(r.Context(), func() { out = jsonProto(m.getQuota().GetStatus()) }); err != nil {
			m.mapError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	health := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	mux.HandleFunc("/master/health", health)
	mux.HandleFunc("/health", health)
	redirect := func(w http.ResponseWriter, r *http.Request) {
		addr := m.LeaderAddress()
		if addr == "" {
			http.Error(w, "No leader elected", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Location", "//"+addr)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
	mux.HandleFunc("/master/redirect", redirect)
	mux.HandleFunc("/redirect", redirect)
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, map[string]any{"version": Version, "build_date": "", "build_time": 0, "build_user": ""})
	})
	flags := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, r, map[string]any{"flags": m.flagsMap()}) }
	mux.HandleFunc("/master/flags", flags)
	mux.HandleFunc("/flags", flags)
	mux.HandleFunc("/metrics/snapshot", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.snapshot(r)
		if err != nil {
			m.mapError(w, r, err)
			return
		}
		writeJSON(w, r, s.metrics)
	})
}

// rolesJSON renders GET_ROLES in /master/roles' legacy shape.
func (m *Master) rolesJSON() []any {
	quotas := make(map[string]json.RawMessage)
	for _, q := range m.reg.QuotaConfigs() {
		quotas[q.GetRole()] = jsonProto(q)
	}
	out := []any{}
	for _, role := range m.getRoles().GetRoles() {
		var res resourceSums
		res.addProto(role.GetResources())
		fids := []string{}
		for _, id := range role.GetFrameworks() {
			fids = append(fids, id.GetValue())
		}
		entry := map[string]any{
			"name": role.GetName(), "weight": role.GetWeight(), "frameworks": fids,
			"resources": res.legacy(), "allocated": res.legacy(),
		}
		if q, ok := quotas[role.GetName()]; ok {
			entry["quota"] = q
		}
		out = append(out, entry)
	}
	return out
}

func filterByID(list any, key, id string) any {
	items, _ := list.([]any)
	if id == "" {
		return items
	}
	out := []any{}
	for _, it := range items {
		if mm, ok := it.(map[string]any); ok && mm[key] == id {
			out = append(out, it)
		}
	}
	return out
}

// tasksPage implements /master/tasks?limit=&offset=&order=&framework_id=&task_id=.
func tasksPage(s *stateSnapshot, r *http.Request) []any {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	if offset < 0 {
		offset = 0
	}
	var all []map[string]any
	for _, list := range []string{"frameworks", "completed_frameworks"} {
		fws, _ := s.state[list].([]any)
		for _, fw := range fws {
			fm := fw.(map[string]any)
			if id := q.Get("framework_id"); id != "" && fm["id"] != id {
				continue
			}
			for _, k := range []string{"tasks", "completed_tasks"} {
				ts, _ := fm[k].([]any)
				for _, t := range ts {
					tm := t.(map[string]any)
					if id := q.Get("task_id"); id != "" && tm["id"] != id {
						continue
					}
					all = append(all, tm)
				}
			}
		}
	}
	ts := func(t map[string]any) float64 {
		sts, _ := t["statuses"].([]any)
		if len(sts) == 0 {
			return 0
		}
		v, _ := sts[len(sts)-1].(map[string]any)["timestamp"].(float64)
		return v
	}
	asc := q.Get("order") == "asc"
	sort.SliceStable(all, func(i, j int) bool {
		if asc {
			return ts(all[i]) < ts(all[j])
		}
		return ts(all[i]) > ts(all[j])
	})
	out := []any{}
	for i := offset; i < len(all) && len(out) < limit; i++ {
		out = append(out, all[i])
	}
	return out
}

// writeJSON writes v, honouring ?jsonp=callback like Mesos.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if cb := r.URL.Query().Get("jsonp"); cb != "" && validJSONP(cb) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = fmt.Fprintf(w, "%s(%s);", cb, b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// validJSONP limits callbacks to identifier characters so the endpoint cannot
// be used to inject script.
func validJSONP(cb string) bool {
	if len(cb) > 128 {
		return false
	}
	for _, c := range cb {
		if !(c == '_' || c == '$' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
