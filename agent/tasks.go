package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/fingerprint"
	"github.com/mesosd/mesosd/agent/sandbox"
	"github.com/mesosd/mesosd/internal/healthcheck"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// DefaultPath is the PATH given to tasks that set none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Loop messages from containerizer goroutines.
type (
	launchResult struct {
		key         taskKey
		containerID string
		err         error
	}
	// waitResumed: the runtime answers again after failing a Wait.
	waitResumed struct {
		key         taskKey
		containerID string
	}
	containerExited struct {
		key         taskKey
		containerID string
		status      containerizer.ExitStatus
		err         error
	}
)

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_KILLED,
		mesos.TaskState_TASK_ERROR, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_DROPPED,
		mesos.TaskState_TASK_GONE, mesos.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func hasCapability(fw *mesos.FrameworkInfo, c mesos.FrameworkInfo_Capability_Type) bool {
	for _, cap := range fw.GetCapabilities() {
		if cap.GetType() == c {
			return true
		}
	}
	return false
}

func (a *Agent) sortedKeys() []taskKey {
	keys := make([]taskKey, 0, len(a.tasks))
	for k := range a.tasks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].framework != keys[j].framework {
			return keys[i].framework < keys[j].framework
		}
		return keys[i].task < keys[j].task
	})
	return keys
}

// newStatus builds a status with a fresh UUID, as the executor or agent
// would.
func (a *Agent) newStatus(t *task, state mesos.TaskState, src mesos.TaskStatus_Source, msg string) *mesos.TaskStatus {
	u := uuid.New()
	st := &mesos.TaskStatus{
		TaskId:    proto.Clone(t.rec.GetTaskId()).(*mesos.TaskID),
		State:     state.Enum(),
		Source:    src.Enum(),
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
		Uuid:      u[:],
	}
	if a.agentID != "" {
		st.AgentId = &mesos.AgentID{Value: proto.String(a.agentID)}
	}
	if t.rec.GetTask() != nil {
		st.ExecutorId = &mesos.ExecutorID{Value: proto.String(t.rec.GetTaskId().GetValue())}
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	return st
}

// executorStatus builds a status as the command executor would; for a
// task with a check it carries the check's empty result (check.go).
func (a *Agent) executorStatus(t *task, state mesos.TaskState, msg string) *mesos.TaskStatus {
	st := a.newStatus(t, state, mesos.TaskStatus_SOURCE_EXECUTOR, msg)
	st.CheckStatus = taskCheckStatus(t)
	return st
}

func (a *Agent) agentStatus(t *task, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) *mesos.TaskStatus {
	st := a.newStatus(t, state, mesos.TaskStatus_SOURCE_AGENT, msg)
	st.Reason = reason.Enum()
	return st
}

// runTask accepts a task from the master: checkpoint it, then launch its
// container on a goroutine.
func (a *Agent) runTask(rt *mesosdpb.AgentEvent_RunTask) {
	fwInfo, ti := rt.GetFramework(), rt.GetTask()
	fwID, taskID := fwInfo.GetId().GetValue(), ti.GetTaskId().GetValue()
	if fwID == "" || taskID == "" {
		a.metrics.invalidMasterEvents++
		a.log.Warn("ignoring RUN_TASK without framework or task ID")
		return
	}
	key := taskKey{fwID, taskID}
	if _, dup := a.tasks[key]; dup {
		a.log.Warn("ignoring RUN_TASK for a task the agent already has", "framework_id", fwID, "task_id", taskID)
		return
	}
	fw := a.frameworks[fwID]
	if fw == nil {
		// Like Mesos, a completed framework that runs a task again comes
		// back with its completed executors.
		fw = a.reviveFramework(fwID)
		a.frameworks[fwID] = fw
	}
	fw.info, fw.terminating = proto.Clone(fwInfo).(*mesos.FrameworkInfo), false
	a.checkpointFramework(fw.info)

	cid := uuid.NewString()
	t := &task{rec: &mesosdpb.AgentTaskRecord{
		FrameworkId: proto.Clone(fwInfo.GetId()).(*mesos.FrameworkID),
		TaskId:      proto.Clone(ti.GetTaskId()).(*mesos.TaskID),
		Task:        proto.Clone(ti).(*mesos.TaskInfo),
		State:       mesos.TaskState_TASK_STAGING.Enum(),
		CreatedNs:   proto.Int64(time.Now().UnixNano()),
	}}
	a.tasks[key] = t
	user := ti.GetCommand().GetUser()
	if user == "" {
		user = fwInfo.GetUser()
	}
	if user != "" {
		t.rec.User = proto.String(user)
	}
	log := a.log.With("framework_id", fwID, "task_id", taskID)

	if reason := unsupported(ti); reason != "" {
		log.Warn("rejecting task", "reason", reason)
		a.statusUpdate(t, a.agentStatus(t, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, reason))
		return
	}
	if hc := ti.GetHealthCheck(); hc != nil {
		// Mesos' master validates this (master/validation.cpp); checked
		// here too so a task never runs with a check that cannot run.
		if err := healthcheck.Validate(hc); err != nil {
			reason := "Task uses invalid health check: " + err.Error()
			log.Warn("rejecting task", "reason", reason)
			a.statusUpdate(t, a.agentStatus(t, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, reason))
			return
		}
	}
	if c := ti.GetCheck(); c != nil {
		// As for health checks: the master validates it too.
		if err := healthcheck.ValidateCheck(c); err != nil {
			reason := "Task uses invalid check: " + err.Error()
			log.Warn("rejecting task", "reason", reason)
			a.statusUpdate(t, a.agentStatus(t, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, reason))
			return
		}
	}
	vols, err := a.volumesFor(key, ti, a.checkpointed)
	if err != nil {
		log.Warn("rejecting task", "reason", err.Error())
		a.statusUpdate(t, a.agentStatus(t, mesos.TaskState_TASK_ERROR, mesos.TaskStatus_REASON_TASK_INVALID, err.Error()))
		return
	}
	dir := sandbox.Dir(a.cfg.WorkDir, a.agentID, fwID, taskID, cid)
	vols.resolve(dir)
	t.rec.ContainerId = proto.String(cid)
	t.rec.SandboxDir = proto.String(dir)
	// Checkpoint before launching, so a crash mid-launch leaves a record
	// that recovery maps the container to, not an orphan.
	a.checkpointTask(t)
	spec := containerizer.LaunchSpec{
		ContainerID: cid,
		Argv:        argv(ti.GetCommand()),
		Env:         a.taskEnv(t, dir),
		User:        user,
		SandboxDir:  dir,
		StdoutPath:  filepath.Join(dir, "stdout"),
		StderrPath:  filepath.Join(dir, "stderr"),
		CPUs:        fingerprint.Scalar(ti.GetResources(), "cpus"),
		MemMB:       fingerprint.Scalar(ti.GetResources(), "mem"),
		Labels: map[string]string{
			LabelFrameworkID: fwID,
			LabelTaskID:      taskID,
			LabelAgentID:     a.agentID,
			LabelWorkDir:     a.cfg.WorkDir,
		},
		Mounts: vols.mounts,
	}
	t.launching = true
	log.Info("launching task", "container_id", cid, "argv", spec.Argv, "user", user, "sandbox", dir, "mounts", len(spec.Mounts))
	ctx := a.loopCtx
	a.goLoop(func() {
		err := prepareSandbox(dir, user)
		if err == nil {
			err = makeSandboxDirs(dir, vols.sandboxDirs)
		}
		if err == nil {
			chownVolumes(dir, vols.chown)
			err = a.cz.Launch(ctx, spec)
		}
		a.post(launchResult{key: key, containerID: cid, err: err})
	})
}

// unsupported says why the agent cannot run ti, or "" if it can.
func unsupported(ti *mesos.TaskInfo) string {
	switch {
	case ti.GetExecutor() != nil:
		return "custom executors are not supported yet: mesosd runs command tasks (TaskInfo.command) only"
	case ti.GetCommand() == nil:
		return "task has neither command nor executor"
	case ti.GetContainer().GetMesos().GetImage() != nil || ti.GetContainer().GetDocker() != nil:
		return "container images are not supported yet: run the command on the host filesystem (no ContainerInfo image)"
	}
	c := ti.GetCommand()
	if c.GetShell() && c.GetValue() == "" {
		return "shell command is empty (CommandInfo.value)"
	}
	if !c.GetShell() && c.GetValue() == "" {
		return "CommandInfo.value must name the executable when shell=false"
	}
	for _, v := range c.GetEnvironment().GetVariables() {
		if v.GetType() == mesos.Environment_Variable_SECRET {
			return fmt.Sprintf("secret environment variable %q is not supported yet", v.GetName())
		}
	}
	return ""
}

// argv builds the command line as Mesos does: shell=true runs
// "/bin/sh -c value"; shell=false runs value with arguments as the full
// argv (argv[0] included).
func argv(c *mesos.CommandInfo) []string {
	if c.GetShell() {
		return []string{"/bin/sh", "-c", c.GetValue()}
	}
	args := c.GetArguments()
	if len(args) == 0 {
		return []string{c.GetValue()}
	}
	out := append([]string{}, args...)
	// The containerizer execs argv[0]; Mesos execs value with argv as
	// given, so the executable comes from value.
	if out[0] != c.GetValue() {
		out[0] = c.GetValue()
	}
	return out
}

// taskEnv is Mesos' command-task environment plus CommandInfo.environment
// (which wins, as in Mesos).
func (a *Agent) taskEnv(t *task, dir string) []string {
	ti := t.rec.GetTask()
	env := map[string]string{
		"MESOS_SANDBOX":        dir,
		"MESOS_DIRECTORY":      dir,
		"MESOS_TASK_ID":        ti.GetTaskId().GetValue(),
		"MESOS_FRAMEWORK_ID":   t.rec.GetFrameworkId().GetValue(),
		"MESOS_AGENT_ID":       a.agentID,
		"MESOS_SLAVE_ID":       a.agentID,
		"MESOS_EXECUTOR_ID":    ti.GetTaskId().GetValue(),
		"MESOS_AGENT_ENDPOINT": fmt.Sprintf("%s:%d", a.advertisedIP(), a.cfg.Port),
		"HOST":                 a.cfg.Hostname,
		"PATH":                 DefaultPath,
	}
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		env[v.GetName()] = v.GetValue()
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (a *Agent) advertisedIP() string {
	if a.cfg.IP != "" {
		return a.cfg.IP
	}
	return a.cfg.Hostname
}

// prepareSandbox creates the sandbox and hands it to the task's user when
// the agent runs as root (as Mesos does), so the task can write its files.
func prepareSandbox(dir, userName string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create sandbox %q: %w", dir, err)
	}
	if userName == "" || os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(userName)
	if err != nil {
		if u, err = user.LookupId(userName); err != nil {
			return fmt.Errorf("sandbox owner: unknown user %q on this agent: %w", userName, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown sandbox %q to %q: %w", dir, userName, err)
	}
	return nil
}

func (a *Agent) onLaunchResult(m launchResult) {
	t := a.tasks[m.key]
	if t == nil || t.rec.GetContainerId() != m.containerID {
		// The task was forgotten meanwhile (framework shut down, agent
		// removed): nothing wants this container.
		a.destroyContainer(m.containerID)
		return
	}
	t.launching = false
	log := a.log.With("framework_id", m.key.framework, "task_id", m.key.task, "container_id", m.containerID)
	if fw := a.frameworks[m.key.framework]; fw != nil && fw.terminating {
		a.destroyContainer(m.containerID)
		a.forget(t)
		return
	}
	if m.err != nil {
		log.Warn("task launch failed", "err", m.err)
		a.destroyContainer(m.containerID)
		a.statusUpdate(t, a.agentStatus(t, mesos.TaskState_TASK_FAILED, mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED,
			"Failed to launch container: "+m.err.Error()))
		return
	}
	a.startWait(t)
	if t.rec.GetKillRequested() {
		// Killed while launching: never report it as running.
		a.killContainer(m.containerID, time.Duration(t.rec.GetKillGraceNs()))
		return
	}
	log.Info("task running")
	a.statusUpdate(t, a.executorStatus(t, mesos.TaskState_TASK_STARTING, ""))
	a.statusUpdate(t, a.executorStatus(t, mesos.TaskState_TASK_RUNNING, ""))
	if a.fatal == nil {
		a.startCheckers(t)
	}
}

// startWait watches the task's container until it exits.
func (a *Agent) startWait(t *task) {
	if t.waiting {
		return
	}
	t.waiting = true
	key, cid, ctx := t.key(), t.rec.GetContainerId(), a.loopCtx
	a.goLoop(func() {
		st, err := a.waitContainer(ctx, key, cid)
		if ctx.Err() != nil {
			return // agent stopping; the next Run reattaches
		}
		a.post(containerExited{key: key, containerID: cid, status: st, err: err})
	})
}

// waitContainer waits for cid to exit, riding out runtime outages: a Wait
// that fails for any reason but ErrNotFound (containerd restarting, its
// socket gone) does not mean the task died — it keeps running under its
// shim — so Wait is retried with backoff. Before each retry the runtime's
// container list is consulted, not missed events: a container absent from
// it is gone (ErrNotFound); one that exited while unobserved gives its
// status through the next Wait.
func (a *Agent) waitContainer(ctx context.Context, key taskKey, cid string) (containerizer.ExitStatus, error) {
	log := a.log.With("framework_id", key.framework, "task_id", key.task, "container_id", cid)
	backoff, failures := a.cfg.WaitRetryMin, 0
	for {
		st, err := a.cz.Wait(ctx, cid)
		if err == nil || errors.Is(err, containerizer.ErrNotFound) || ctx.Err() != nil {
			return st, err
		}
		failures++
		if failures == 1 {
			log.Warn("lost track of the container (runtime unavailable?); the task keeps running, retrying", "err", err)
		} else {
			log.Debug("waiting for container failed again", "err", err, "retry_in", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return st, ctx.Err()
		}
		backoff = min(2*backoff, a.cfg.WaitRetryMax)
		cs, lerr := a.cz.Containers(ctx)
		if lerr != nil {
			continue // still unreachable
		}
		found := false
		for _, c := range cs {
			found = found || c.ID == cid
		}
		if !found {
			return st, fmt.Errorf("container %q vanished while the runtime was unavailable: %w", cid, containerizer.ErrNotFound)
		}
		log.Info("runtime reachable again; watching the container", "failures", failures)
		a.post(waitResumed{key: key, containerID: cid})
	}
}

// onWaitResumed re-issues a kill that may have failed during the outage;
// Kill is idempotent.
func (a *Agent) onWaitResumed(m waitResumed) {
	t := a.tasks[m.key]
	if t == nil || t.rec.GetContainerId() != m.containerID || !t.rec.GetKillRequested() || isTerminal(t.rec.GetState()) {
		return
	}
	a.killContainer(m.containerID, time.Duration(t.rec.GetKillGraceNs()))
}

func (a *Agent) killContainer(cid string, grace time.Duration) {
	if grace <= 0 {
		grace = a.cfg.KillGracePeriod
	}
	ctx := a.loopCtx
	a.goLoop(func() {
		if err := a.cz.Kill(ctx, cid, grace); err != nil && ctx.Err() == nil && !errors.Is(err, containerizer.ErrNotFound) {
			a.log.Error("kill container failed", "container_id", cid, "err", err)
		}
	})
}

// destroyTimeout bounds one container cleanup.
const destroyTimeout = 30 * time.Second

// destroyContainer removes a container on a goroutine. Its context is
// detached from the agent's shutdown, and Run waits for it: an agent stopped
// right after a task exited must not leave the exited container (and its
// shim) behind.
func (a *Agent) destroyContainer(cid string) {
	if cid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.loopCtx), destroyTimeout)
	a.goLoop(func() {
		defer cancel()
		if err := a.cz.Destroy(ctx, cid); err != nil {
			a.log.Error("destroy container failed; the next agent start retries it",
				"container_id", cid, "err", err)
		}
	})
}

func (a *Agent) onContainerExited(m containerExited) {
	t := a.tasks[m.key]
	if t == nil || t.rec.GetContainerId() != m.containerID {
		a.destroyContainer(m.containerID)
		return
	}
	t.waiting = false
	t.stopCheckers()
	if fw := a.frameworks[m.key.framework]; fw != nil && fw.terminating {
		a.destroyContainer(m.containerID)
		a.forget(t)
		return
	}
	if !isTerminal(t.rec.GetState()) {
		a.statusUpdate(t, a.exitStatus(t, m.status, m.err))
	}
	// Destroy only once the terminal update is checkpointed: if that
	// failed, the next start must still find the container to Wait on.
	if a.fatal == nil {
		a.destroyContainer(m.containerID)
	}
}

// exitStatus turns a container exit into the terminal update Mesos' command
// executor (or, for limitations and lost containers, the agent) sends.
func (a *Agent) exitStatus(t *task, st containerizer.ExitStatus, err error) *mesos.TaskStatus {
	if err != nil {
		// Only ErrNotFound gets here: the container is gone.
		return a.executorTerminated(t, "Executor terminated: "+err.Error())
	}
	msg := commandMessage(st)
	switch {
	case st.ExitCode < 0:
		// The runtime lost the exit status: nobody saw the command end,
		// as when Mesos' command executor dies.
		return a.executorTerminated(t, "Executor terminated: "+st.Message)
	case t.rec.GetKillRequested():
		s := a.executorStatus(t, mesos.TaskState_TASK_KILLED, msg)
		if t.healthKilled {
			// As the command executor: no reason, only healthy=false.
			s.Healthy = proto.Bool(false)
		}
		return s
	case st.OOMKilled:
		m := st.Message
		if !strings.Contains(m, "Memory limit exceeded") {
			m = "Memory limit exceeded: " + msg
		}
		s := a.agentStatus(t, mesos.TaskState_TASK_FAILED, mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY, m)
		var mem []*mesos.Resource
		for _, r := range t.rec.GetTask().GetResources() {
			if r.GetName() == "mem" {
				mem = append(mem, r)
			}
		}
		s.Limitation = &mesos.TaskResourceLimitation{Resources: mem}
		return s
	case st.ExitCode == 0 && st.Signal == 0:
		return a.executorStatus(t, mesos.TaskState_TASK_FINISHED, msg)
	default:
		// Mesos' command executor (reaped()) sets no reason here, only
		// the message.
		return a.executorStatus(t, mesos.TaskState_TASK_FAILED, msg)
	}
}

// executorTerminated is the agent's update for a task whose executor
// (here: container) is gone without reporting an exit.
func (a *Agent) executorTerminated(t *task, msg string) *mesos.TaskStatus {
	st := a.agentStatus(t, mesos.TaskState_TASK_FAILED, mesos.TaskStatus_REASON_EXECUTOR_TERMINATED, msg)
	if t.rec.GetKillRequested() {
		st.State = mesos.TaskState_TASK_KILLED.Enum()
	}
	return st
}

// commandMessage words an exit the way Mesos' command executor does.
func commandMessage(st containerizer.ExitStatus) string {
	if st.Signal > 0 {
		name := syscall.Signal(st.Signal).String()
		if r := []rune(name); len(r) > 0 {
			r[0] = unicode.ToUpper(r[0])
			name = string(r)
		}
		return "Command terminated with signal " + name
	}
	if st.ExitCode < 0 {
		return "Command exited with unknown status: " + st.Message
	}
	return "Command exited with status " + strconv.Itoa(st.ExitCode)
}

// killTask kills a task with its kill policy: TASK_KILLING first for
// frameworks that understand it, TASK_KILLED when the container exits.
func (a *Agent) killTask(k *mesosdpb.AgentEvent_KillTask) {
	key := taskKey{k.GetFrameworkId().GetValue(), k.GetTaskId().GetValue()}
	t := a.tasks[key]
	log := a.log.With("framework_id", key.framework, "task_id", key.task)
	if t == nil {
		// Never launched here: Mesos answers TASK_DROPPED (TASK_LOST for
		// frameworks that are not partition-aware).
		log.Warn("kill for a task unknown to the agent")
		a.unknownTaskUpdate(key, "Cannot kill task: it is unknown to the agent", mesos.TaskStatus_REASON_TASK_UNKNOWN)
		return
	}
	if t.rec.GetTask() == nil || isTerminal(t.rec.GetState()) {
		return // its terminal update is already queued
	}
	// A kill policy in the kill overrides the task's.
	grace := a.taskKillGrace(t)
	if p := k.GetKillPolicy(); p.GetGracePeriod() != nil {
		grace = max(time.Duration(p.GetGracePeriod().GetNanoseconds()), 0)
	}
	a.beginKill(t, grace)
}

// taskKillGrace is the grace period of the task's kill policy, or the
// agent's default.
func (a *Agent) taskKillGrace(t *task) time.Duration {
	if p := t.rec.GetTask().GetKillPolicy(); p.GetGracePeriod() != nil {
		return max(time.Duration(p.GetGracePeriod().GetNanoseconds()), 0)
	}
	return a.cfg.KillGracePeriod
}

// beginKill kills a running (or launching) task: health checking stops,
// TASK_KILLING goes to frameworks that understand it, and the container
// gets SIGTERM, then SIGKILL after grace. Its exit is reported TASK_KILLED.
func (a *Agent) beginKill(t *task, grace time.Duration) {
	t.stopCheckers()
	first := !t.rec.GetKillRequested()
	t.rec.KillRequested = proto.Bool(true)
	t.rec.KillGraceNs = proto.Int64(int64(grace))
	key := t.key()
	a.log.Info("killing task", "framework_id", key.framework, "task_id", key.task, "grace", grace)
	fw := a.frameworks[key.framework]
	if first && fw != nil && hasCapability(fw.info, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) &&
		(t.rec.GetState() == mesos.TaskState_TASK_RUNNING || t.rec.GetState() == mesos.TaskState_TASK_STARTING) {
		a.statusUpdate(t, a.executorStatus(t, mesos.TaskState_TASK_KILLING, ""))
	} else {
		a.checkpointTask(t)
	}
	if t.launching {
		return // killed when the launch completes
	}
	if grace == 0 {
		// Kill with zero grace means SIGKILL now; Kill treats 0 as that.
		grace = time.Nanosecond
	}
	a.killContainer(t.rec.GetContainerId(), grace)
}

// unknownTaskUpdate queues a terminal update on an update-only stream for a
// task the agent does not run.
func (a *Agent) unknownTaskUpdate(key taskKey, msg string, reason mesos.TaskStatus_Reason) {
	if _, ok := a.tasks[key]; ok {
		return
	}
	state := mesos.TaskState_TASK_LOST
	if fw := a.frameworks[key.framework]; fw != nil && hasCapability(fw.info, mesos.FrameworkInfo_Capability_PARTITION_AWARE) {
		state = mesos.TaskState_TASK_DROPPED
	}
	t := &task{rec: &mesosdpb.AgentTaskRecord{
		FrameworkId: &mesos.FrameworkID{Value: proto.String(key.framework)},
		TaskId:      &mesos.TaskID{Value: proto.String(key.task)},
		State:       state.Enum(),
		CreatedNs:   proto.Int64(time.Now().UnixNano()),
	}}
	a.tasks[key] = t
	a.statusUpdate(t, a.agentStatus(t, state, reason, msg))
}

// reconcileTasks answers tasks the master expects here but the agent does
// not know, as Slave::reconcileTasks does: TASK_DROPPED for partition-aware
// frameworks, TASK_LOST otherwise, REASON_RECONCILIATION.
func (a *Agent) reconcileTasks(r *mesosdpb.AgentEvent_ReconcileTasks) {
	fwID := r.GetFrameworkId().GetValue()
	for _, id := range r.GetTaskIds() {
		key := taskKey{fwID, id.GetValue()}
		if _, ok := a.tasks[key]; ok {
			continue
		}
		a.log.Warn("reconciling task unknown to the agent", "framework_id", fwID, "task_id", id.GetValue())
		a.unknownTaskUpdate(key, "Reconciliation: task unknown to the agent", mesos.TaskStatus_REASON_RECONCILIATION)
	}
}

// shutdownFramework kills every task of a framework the master removed.
// No updates are sent: nobody would acknowledge them.
func (a *Agent) shutdownFramework(fwID string) {
	fw := a.frameworks[fwID]
	if fw == nil {
		return
	}
	a.log.Info("shutting down framework", "framework_id", fwID)
	fw.terminating = true
	for _, k := range a.sortedKeys() {
		if k.framework != fwID {
			continue
		}
		t := a.tasks[k]
		t.stopRetry()
		t.stopCheckers()
		t.rec.Pending = nil // nobody will acknowledge them
		running := t.rec.GetTask() != nil && !isTerminal(t.rec.GetState()) && t.rec.GetContainerId() != ""
		switch {
		case t.launching:
			// onLaunchResult destroys and forgets it.
		case running && t.waiting:
			t.rec.KillRequested = proto.Bool(true)
			a.killContainer(t.rec.GetContainerId(), a.cfg.KillGracePeriod)
		default:
			a.destroyContainer(t.rec.GetContainerId())
			a.forget(t)
		}
	}
	a.maybeForgetFramework(fwID)
}

// forget drops a task whose stream is finished: delete its checkpoint and
// keep it in the bounded completed list for /state.
func (a *Agent) forget(t *task) {
	t.stopRetry()
	t.stopCheckers()
	k := t.key()
	delete(a.tasks, k)
	if err := a.db.DeleteTask(k.framework, k.task); err != nil {
		a.metrics.checkpointErrors++
		a.log.Error("delete task checkpoint", "framework_id", k.framework, "task_id", k.task, "err", err)
	}
	if t.rec.GetTask() != nil {
		tp := a.taskProto(t)
		a.completed = appendBounded(a.completed, tp, a.cfg.MaxCompletedTasks)
		if fw := a.frameworks[k.framework]; fw != nil {
			fw.completedExecs = appendBounded(fw.completedExecs, completedExecutor{
				task: tp, containerID: t.rec.GetContainerId(), dir: t.rec.GetSandboxDir(),
			}, a.cfg.MaxCompletedExecutorsPerFramework)
		}
	}
	a.maybeForgetFramework(k.framework)
}

// appendBounded appends v and drops the oldest elements beyond limit.
func appendBounded[T any](s []T, v T, limit int) []T {
	s = append(s, v)
	if over := len(s) - limit; over > 0 {
		s = append(s[:0:0], s[over:]...)
	}
	return s
}

// reviveFramework takes fwID out of the completed frameworks, or returns a
// new framework if it is not there.
func (a *Agent) reviveFramework(fwID string) *framework {
	for i, fw := range a.completedFws {
		if fw.info.GetId().GetValue() == fwID {
			a.completedFws = append(a.completedFws[:i:i], a.completedFws[i+1:]...)
			fw.terminating = false
			return fw
		}
	}
	return &framework{}
}

func (a *Agent) maybeForgetFramework(fwID string) {
	for k := range a.tasks {
		if k.framework == fwID {
			return
		}
	}
	fw, ok := a.frameworks[fwID]
	if !ok {
		return
	}
	delete(a.frameworks, fwID)
	a.reviveFramework(fwID) // drop an older entry of the same ID
	a.completedFws = appendBounded(a.completedFws, fw, a.cfg.MaxCompletedFrameworks)
	if err := a.db.DeleteFramework(fwID); err != nil {
		a.metrics.checkpointErrors++
		a.log.Error("delete framework checkpoint", "framework_id", fwID, "err", err)
	}
}

// taskProto is the mesos.v1.Task the master and /state see.
func (a *Agent) taskProto(t *task) *mesos.Task {
	ti := t.rec.GetTask()
	out := &mesos.Task{
		Name:        ti.Name,
		TaskId:      t.rec.GetTaskId(),
		FrameworkId: t.rec.GetFrameworkId(),
		ExecutorId:  &mesos.ExecutorID{Value: proto.String(t.rec.GetTaskId().GetValue())},
		AgentId:     &mesos.AgentID{Value: proto.String(a.agentID)},
		State:       t.rec.State,
		Resources:   ti.GetResources(),
		Statuses:    t.rec.GetStatuses(),
		Labels:      ti.GetLabels(),
		Discovery:   ti.GetDiscovery(),
		Container:   ti.GetContainer(),
		HealthCheck: ti.GetHealthCheck(),
		KillPolicy:  ti.GetKillPolicy(),
		Limits:      ti.GetLimits(),
	}
	if out.Name == nil {
		out.Name = proto.String("")
	}
	if u := t.rec.GetUser(); u != "" {
		out.User = proto.String(u)
	}
	if p := t.rec.GetPending(); len(p) > 0 {
		out.StatusUpdateState = p[0].GetStatus().State
		out.StatusUpdateUuid = p[0].GetStatus().GetUuid()
	}
	return proto.Clone(out).(*mesos.Task)
}
