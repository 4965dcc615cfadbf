package master

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
)

// handleOperator serves the v1 operator API (POST /api/v1). It shares the
// scheduler API's preamble; Accept is checked on every call (406), GET_*
// calls answer 200 with a Response, TEARDOWN answers 200 without a body.
func (m *Master) handleOperator(w http.ResponseWriter, r *http.Request) {
	var call masterpb.Call
	// GET_HEALTH, GET_FLAGS, GET_VERSION and GET_METRICS are served by any
	// master (as /master/health and friends are); the rest need the leader.
	if _, ok := m.readCall(w, r, &call); !ok {
		return
	}
	out, ok := codec.Negotiate(r.Header.Values("Accept"))
	if !ok {
		http.Error(w, "Expecting 'Accept' to allow application/json or application/x-protobuf", http.StatusNotAcceptable)
		return
	}
	if call.Type == nil {
		http.Error(w, "Failed to validate master::Call: Expecting 'type' to be present", http.StatusBadRequest)
		return
	}
	local := map[masterpb.Call_Type]bool{
		masterpb.Call_GET_HEALTH: true, masterpb.Call_GET_FLAGS: true,
		masterpb.Call_GET_VERSION: true, masterpb.Call_GET_METRICS: true,
		masterpb.Call_GET_LOGGING_LEVEL: true, masterpb.Call_SET_LOGGING_LEVEL: true,
	}
	if !local[call.GetType()] && m.redirectToLeader(w, r) {
		return
	}
	var resp *masterpb.Response
	switch call.GetType() {
	case masterpb.Call_GET_HEALTH:
		resp = &masterpb.Response{Type: masterpb.Response_GET_HEALTH.Enum(), GetHealth: &masterpb.Response_GetHealth{Healthy: proto.Bool(true)}}
	case masterpb.Call_GET_VERSION:
		resp = &masterpb.Response{Type: masterpb.Response_GET_VERSION.Enum(), GetVersion: &masterpb.Response_GetVersion{
			VersionInfo: &mesos.VersionInfo{Version: proto.String(Version)},
		}}
	case masterpb.Call_GET_FLAGS:
		flags := m.flagsMap()
		names := make([]string, 0, len(flags))
		for k := range flags {
			names = append(names, k)
		}
		sort.Strings(names)
		gf := &masterpb.Response_GetFlags{}
		for _, k := range names {
			gf.Flags = append(gf.Flags, &mesos.Flag{Name: proto.String(k), Value: proto.String(flags[k])})
		}
		resp = &masterpb.Response{Type: masterpb.Response_GET_FLAGS.Enum(), GetFlags: gf}
	case masterpb.Call_GET_LOGGING_LEVEL:
		// Mesos reports glog's verbosity: 0 normally, higher when verbose.
		resp = &masterpb.Response{Type: masterpb.Response_GET_LOGGING_LEVEL.Enum(),
			GetLoggingLevel: &masterpb.Response_GetLoggingLevel{Level: proto.Uint32(m.loggingVerbosity())}}
	case masterpb.Call_SET_LOGGING_LEVEL:
		sl := call.GetSetLoggingLevel()
		if sl == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'set_logging_level' to be present", http.StatusBadRequest)
			return
		}
		d := time.Duration(sl.GetDuration().GetNanoseconds())
		if d <= 0 {
			http.Error(w, "Failed to validate master::Call: 'set_logging_level.duration' must be positive", http.StatusBadRequest)
			return
		}
		if !m.setLoggingLevel(sl.GetLevel(), d) {
			http.Error(w, "This master's logging level cannot be changed at runtime", http.StatusNotImplemented)
			return
		}
		w.WriteHeader(http.StatusOK) // no body, so no Content-Type
		return
	case masterpb.Call_GET_OPERATIONS:
		// Operations on agent default resources are applied synchronously
		// by the master (no resource providers), so none is ever pending.
		if err := m.linearizable(r.Context()); err != nil {
			m.mapError(w, r, err)
			return
		}
		resp = &masterpb.Response{Type: masterpb.Response_GET_OPERATIONS.Enum(), GetOperations: &masterpb.Response_GetOperations{}}
	case masterpb.Call_GET_METRICS:
		s, err := m.snapshot(r)
		if err != nil {
			m.mapError(w, r, err)
			return
		}
		names := make([]string, 0, len(s.metrics))
		for k := range s.metrics {
			names = append(names, k)
		}
		sort.Strings(names)
		gm := &masterpb.Response_GetMetrics{}
		for _, k := range names {
			gm.Metrics = append(gm.Metrics, &mesos.Metric{Name: proto.String(k), Value: proto.Float64(s.metrics[k])})
		}
		resp = &masterpb.Response{Type: masterpb.Response_GET_METRICS.Enum(), GetMetrics: gm}
	case masterpb.Call_GET_STATE, masterpb.Call_GET_AGENTS, masterpb.Call_GET_FRAMEWORKS,
		masterpb.Call_GET_EXECUTORS, masterpb.Call_GET_TASKS, masterpb.Call_GET_MASTER, masterpb.Call_GET_ROLES,
		masterpb.Call_GET_WEIGHTS, masterpb.Call_GET_QUOTA,
		masterpb.Call_GET_MAINTENANCE_SCHEDULE, masterpb.Call_GET_MAINTENANCE_STATUS:
		// Leader-only reads: confirm leadership (ReadIndex), then read on
		// the loop.
		if err := m.linearizable(r.Context()); err != nil {
			m.mapError(w, r, err)
			return
		}
		var b []byte
		var encErr error
		if err := m.do(r.Context(), func() {
			if resp = m.operatorRead(call.GetType()); resp != nil {
				// Encoded on the loop: the response shares the loop's
				// task, agent and framework messages, which it mutates.
				b, encErr = out.Marshal(resp)
			}
		}); err != nil {
			m.mapError(w, r, err)
			return
		}
		if resp == nil {
			m.mapError(w, r, ErrNotLeader) // raced a loss of leadership
			return
		}
		if encErr != nil {
			m.mapError(w, r, fmt.Errorf("encode operator response: %w", encErr))
			return
		}
		w.Header().Set("Content-Type", out.ContentType())
		_, _ = w.Write(b)
		return
	case masterpb.Call_SUBSCRIBE:
		m.serveOperatorSubscribe(w, r, out) // operator_events.go
		return
	case masterpb.Call_MARK_AGENT_GONE:
		m.serveMarkAgentGone(w, r, &call) // gone.go
		return
	case masterpb.Call_TEARDOWN:
		if call.Teardown == nil {
			http.Error(w, "Failed to validate master::Call: Expecting 'teardown' to be present", http.StatusBadRequest)
			return
		}
		var callErr error
		if err := m.do(r.Context(), func() { callErr = m.operatorTeardown(call.GetTeardown().GetFrameworkId().GetValue()) }); err != nil {
			m.mapError(w, r, err)
			return
		}
		if callErr != nil {
			m.mapError(w, r, callErr)
			return
		}
		w.WriteHeader(http.StatusOK) // no body, so no Content-Type (mesos-go checks)
		return
	case masterpb.Call_RESERVE_RESOURCES, masterpb.Call_UNRESERVE_RESOURCES, masterpb.Call_CREATE_VOLUMES, masterpb.Call_DESTROY_VOLUMES:
		m.serveResourceCall(w, r, &call) // reservations.go
		return
	case masterpb.Call_UPDATE_WEIGHTS, masterpb.Call_UPDATE_QUOTA:
		m.servePolicyCall(w, r, &call)
		return
	case masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE, masterpb.Call_START_MAINTENANCE,
		masterpb.Call_STOP_MAINTENANCE, masterpb.Call_DRAIN_AGENT,
		masterpb.Call_DEACTIVATE_AGENT, masterpb.Call_REACTIVATE_AGENT:
		m.serveMaintenanceCall(w, r, &call) // maintenance.go
		return
	case masterpb.Call_UNKNOWN:
		http.Error(w, "Received an Unknown call type", http.StatusNotImplemented)
		return
	default:
		http.Error(w, fmt.Sprintf("Operator call %s is not supported by this mesosd version", call.GetType()), http.StatusNotImplemented)
		return
	}
	if resp == nil {
		// A leader-only read raced a loss of leadership.
		m.mapError(w, r, ErrNotLeader)
		return
	}
	b, err := out.Marshal(resp)
	if err != nil {
		m.mapError(w, r, fmt.Errorf("encode operator response: %w", err))
		return
	}
	w.Header().Set("Content-Type", out.ContentType())
	_, _ = w.Write(b)
}

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: proto.Int64(t.UnixNano())}
}

// operatorRead builds a GET_* response on the loop; nil when not leading.
func (m *Master) operatorRead(t masterpb.Call_Type) *masterpb.Response {
	if !m.leaderOn {
		return nil
	}
	switch t {
	case masterpb.Call_GET_MASTER:
		return &masterpb.Response{Type: masterpb.Response_GET_MASTER.Enum(), GetMaster: &masterpb.Response_GetMaster{
			MasterInfo:  m.info,
			StartTime:   proto.Float64(unixSecs(m.startTime)),
			ElectedTime: proto.Float64(unixSecs(m.elected)),
		}}
	case masterpb.Call_GET_AGENTS:
		return &masterpb.Response{Type: masterpb.Response_GET_AGENTS.Enum(), GetAgents: m.getAgents()}
	case masterpb.Call_GET_FRAMEWORKS:
		return &masterpb.Response{Type: masterpb.Response_GET_FRAMEWORKS.Enum(), GetFrameworks: m.getFrameworks()}
	case masterpb.Call_GET_TASKS:
		return &masterpb.Response{Type: masterpb.Response_GET_TASKS.Enum(), GetTasks: m.getTasks()}
	case masterpb.Call_GET_EXECUTORS:
		// Command tasks have no executor of their own in mesosd (the agent
		// runs them directly), and custom executors are not supported yet.
		return &masterpb.Response{Type: masterpb.Response_GET_EXECUTORS.Enum(), GetExecutors: &masterpb.Response_GetExecutors{}}
	case masterpb.Call_GET_ROLES:
		return &masterpb.Response{Type: masterpb.Response_GET_ROLES.Enum(), GetRoles: m.getRoles()}
	case masterpb.Call_GET_WEIGHTS:
		return &masterpb.Response{Type: masterpb.Response_GET_WEIGHTS.Enum(), GetWeights: m.getWeights()}
	case masterpb.Call_GET_QUOTA:
		return &masterpb.Response{Type: masterpb.Response_GET_QUOTA.Enum(), GetQuota: m.getQuota()}
	case masterpb.Call_GET_MAINTENANCE_SCHEDULE, masterpb.Call_GET_MAINTENANCE_STATUS:
		return m.maintenanceRead(t)
	case masterpb.Call_GET_STATE:
		return &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: &masterpb.Response_GetState{
			GetTasks:      m.getTasks(),
			GetExecutors:  &masterpb.Response_GetExecutors{},
			GetFrameworks: m.getFrameworks(),
			GetAgents:     m.getAgents(),
		}}
	}
	return nil
}

func (m *Master) getAgents() *masterpb.Response_GetAgents {
	out := &masterpb.Response_GetAgents{}
	for _, a := range m.sortedAgents() {
		if a.recovered {
			out.RecoveredAgents = append(out.RecoveredAgents, a.info)
			continue
		}
		out.Agents = append(out.Agents, m.agentProto(a))
	}
	return out
}

// agentProto is a registered agent as GET_AGENTS lists it.
func (m *Master) agentProto(a *agent) *masterpb.Response_GetAgents_Agent {
	var allocated, offered []*mesos.Resource
	for _, t := range a.tasks {
		if !t.resourcesRecovered {
			allocated = append(allocated, t.t.GetResources()...)
		}
	}
	for _, o := range a.offers {
		offered = append(offered, o.msg.GetResources()...)
	}
	return &masterpb.Response_GetAgents_Agent{
		AgentInfo:          a.info,
		Active:             proto.Bool(a.conn != nil),
		Deactivated:        proto.Bool(m.agentDeactivated(a.id)),
		Version:            proto.String(a.version),
		Pid:                proto.String(fmt.Sprintf("slave(1)@%s:%d", a.info.GetHostname(), a.info.GetPort())),
		RegisteredTime:     timeInfo(a.registeredTime),
		ReregisteredTime:   timeInfo(a.reregisteredTime),
		TotalResources:     a.info.GetResources(),
		AllocatedResources: allocated,
		OfferedResources:   offered,
	}
}

func (m *Master) frameworkProto(f *framework) *masterpb.Response_GetFrameworks_Framework {
	fw := &masterpb.Response_GetFrameworks_Framework{
		FrameworkInfo:    f.info,
		Active:           proto.Bool(f.connected()),
		Connected:        proto.Bool(f.connected()),
		Recovered:        proto.Bool(f.recovered),
		RegisteredTime:   timeInfo(f.registeredTime),
		ReregisteredTime: timeInfo(f.reregisteredTime),
		UnregisteredTime: timeInfo(f.unregisteredTime),
	}
	for _, t := range sortedTasks(f) {
		if !t.resourcesRecovered {
			fw.AllocatedResources = append(fw.AllocatedResources, t.t.GetResources()...)
		}
	}
	ids := make([]string, 0, len(f.offers))
	for id := range f.offers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := f.offers[id]
		fw.Offers = append(fw.Offers, o.msg)
		fw.OfferedResources = append(fw.OfferedResources, o.msg.GetResources()...)
	}
	return fw
}

func (m *Master) getFrameworks() *masterpb.Response_GetFrameworks {
	out := &masterpb.Response_GetFrameworks{}
	for _, f := range m.sortedFrameworks() {
		out.Frameworks = append(out.Frameworks, m.frameworkProto(f))
	}
	for _, f := range m.completedFrameworks {
		out.CompletedFrameworks = append(out.CompletedFrameworks, m.frameworkProto(f))
	}
	return out
}

func (m *Master) getTasks() *masterpb.Response_GetTasks {
	out := &masterpb.Response_GetTasks{}
	for _, f := range m.sortedFrameworks() {
		for _, t := range sortedTasks(f) {
			out.Tasks = append(out.Tasks, t.t)
		}
		out.UnreachableTasks = append(out.UnreachableTasks, f.unreachableTasks()...)
		out.CompletedTasks = append(out.CompletedTasks, f.completed...)
	}
	for _, f := range m.completedFrameworks {
		out.CompletedTasks = append(out.CompletedTasks, f.completed...)
	}
	return out
}

func (m *Master) getRoles() *masterpb.Response_GetRoles {
	type roleInfo struct {
		frameworks []*mesos.FrameworkID
		resources  []*mesos.Resource
	}
	roles := map[string]*roleInfo{"*": {}}
	weights := m.reg.Weights()
	for r := range weights {
		roles[r] = &roleInfo{}
	}
	for _, q := range m.reg.QuotaConfigs() {
		if _, ok := roles[q.GetRole()]; !ok {
			roles[q.GetRole()] = &roleInfo{}
		}
	}
	for _, f := range m.sortedFrameworks() {
		for _, r := range f.roles() {
			ri, ok := roles[r]
			if !ok {
				ri = &roleInfo{}
				roles[r] = ri
			}
			ri.frameworks = append(ri.frameworks, f.info.GetId())
		}
		for _, t := range sortedTasks(f) {
			if ri, ok := roles[t.role]; ok && !t.resourcesRecovered {
				ri.resources = append(ri.resources, t.t.GetResources()...)
			}
		}
	}
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	out := &masterpb.Response_GetRoles{}
	for _, n := range names {
		out.Roles = append(out.Roles, &mesos.Role{
			Name:       proto.String(n),
			Weight:     proto.Float64(weightOr1(weights, n)),
			Frameworks: roles[n].frameworks,
			Resources:  roles[n].resources,
		})
	}
	return out
}

func weightOr1(w map[string]float64, role string) float64 {
	if v, ok := w[role]; ok {
		return v
	}
	return 1
}

// operatorTeardown removes a framework on an operator's request.
func (m *Master) operatorTeardown(id string) error {
	if !m.leaderOn {
		return ErrNotLeader
	}
	f, ok := m.frameworks[id]
	if !ok {
		if m.reg.Completed(id) {
			return nil // already gone: teardown is idempotent
		}
		return fmt.Errorf("%w: no framework with ID %q", ErrInvalid, id)
	}
	m.removeFramework(f, "teardown by operator")
	return nil
}
