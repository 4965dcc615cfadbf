// Package agent is the mesosd agent: it registers with the leading master,
// runs command tasks through a containerizer, and reports their status
// reliably.
//
// Concurrency: one goroutine (the loop in Run) owns all agent state — tasks,
// frameworks, status update streams, the master session. Everything else
// (the master stream reader, the call sender, containerizer calls, timers,
// HTTP handlers) talks to it by message: they post to a.in, and readers of
// state send a reply channel. No agent map is shared behind a lock.
//
// Invariants:
//   - A status update is checkpointed before it is sent, and stays queued
//     (retried with backoff) until the master relays the framework's
//     ACKNOWLEDGE for its UUID. Per task only the head of the queue is in
//     flight, so updates arrive in order.
//   - Stopping the agent (ctx cancel) never kills tasks: containers outlive
//     the agent, and the next Run reattaches to them from the checkpoint.
//   - Containers labelled with this work dir that the checkpoint does not
//     know are orphans and are destroyed on recovery.
//   - The AgentID is checkpointed once the master assigns it and is reused
//     until the master tells the agent to shut down.
//   - A task with a health check has one checker goroutine (health.go),
//     and one with a general check another (check.go), while it is RUNNING
//     and not being killed; they only post verdicts and results, and the
//     loop turns them into updates (and kills). Checker state is rebuilt
//     from the checkpointed statuses after a restart.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/agent/fingerprint"
	"github.com/mesosd/mesosd/agent/sandbox"
	"github.com/mesosd/mesosd/agent/state"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// Container labels the agent sets, so recovery can map containers back to
// tasks and recognise its own orphans.
const (
	LabelFrameworkID = "mesosd.framework_id"
	LabelTaskID      = "mesosd.task_id"
	LabelAgentID     = "mesosd.agent_id"
	LabelWorkDir     = "mesosd.work_dir"
)

// Agent is one mesosd agent. Create it with New, then call Run once.
type Agent struct {
	cfg   Config
	cz    containerizer.Containerizer
	log   *slog.Logger
	files *sandbox.Files
	http  *http.Client

	// info is the AgentInfo without id, as fingerprinted; immutable.
	baseInfo *mesos.AgentInfo
	session  string

	in        chan any           // messages to the loop
	snapshots chan chan snapshot // /state and /metrics readers
	done      chan struct{}      // closed when the loop exits
	running   chan struct{}      // closed when the loop starts

	// Everything below is owned by the loop goroutine.
	loopCtx context.Context
	wg      sync.WaitGroup
	db      state.StateDB
	agentID string
	// checkpointed are the dynamic reservations and persistent volumes the
	// master told this agent to checkpoint (resources.go).
	checkpointed resources.Resources
	frameworks   map[string]*framework
	tasks        map[taskKey]*task
	completed    []*mesos.Task // ring of forgotten tasks, newest last
	// completedFws are frameworks with nothing left here, newest last,
	// kept (bounded) for /state's completed_frameworks.
	completedFws []*framework
	conn         *conn
	connGen      uint64
	registered   bool
	leaderHint   string // host:port learned from a redirect or a working master
	masterInfo   *mesos.MasterInfo
	backoff      time.Duration
	retryConn    *time.Timer
	pingEvery    time.Duration
	lastPing     time.Time
	startTime    time.Time
	metrics      metrics
	fatal        error
}

type taskKey struct{ framework, task string }

type framework struct {
	info        *mesos.FrameworkInfo
	terminating bool // SHUTDOWN_FRAMEWORK received: tasks die without updates
	// completedExecs are the executors of forgotten tasks, oldest first,
	// bounded by MaxCompletedExecutorsPerFramework: /state keeps listing
	// their sandboxes after the terminal update is acknowledged.
	completedExecs []completedExecutor
}

// completedExecutor is a finished command executor as /state shows it.
type completedExecutor struct {
	task        *mesos.Task
	containerID string
	dir         string
}

// task is the loop's view of one status update stream and its task.
type task struct {
	rec *mesosdpb.AgentTaskRecord
	// launching is true between Launch start and its result.
	launching bool
	// waiting is true while a Wait goroutine watches the container.
	waiting bool
	// Retry state of the head update.
	retryEvery time.Duration
	retryTimer *time.Timer
	// health is the running health checker (health.go), nil if none.
	health *checkerRun
	// check is the running general checker (check.go), nil if none.
	check *checkerRun
	// healthKilled: the health checker killed the task, so its terminal
	// update says healthy=false.
	healthKilled bool
}

func (t *task) key() taskKey {
	return taskKey{t.rec.GetFrameworkId().GetValue(), t.rec.GetTaskId().GetValue()}
}

type metrics struct {
	terminal             map[mesos.TaskState]int64
	validStatusUpdates   int64
	statusUpdatesSent    int64
	statusUpdateRetries  int64
	acknowledgements     int64
	ignoredAcks          int64
	registrations        int64
	recoveryErrors       int64
	orphansDestroyed     int64
	invalidMasterEvents  int64
	checkpointErrors     int64
	masterDisconnections int64
}

// New validates cfg, fingerprints the host and returns an agent that is not
// yet running. c runs the tasks; logger may be nil (slog.Default()).
func New(cfg Config, c containerizer.Containerizer, logger *slog.Logger) (*Agent, error) {
	if c == nil {
		return nil, errors.New("agent: a containerizer is required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	host := cfg.Host
	if host == nil {
		h, err := fingerprint.DetectHost(cfg.WorkDir)
		if err != nil {
			// The work dir may not exist yet: measure its parent chain.
			if mkErr := mkdirAll(cfg.WorkDir); mkErr != nil {
				return nil, fmt.Errorf("agent: create work dir %q: %w", cfg.WorkDir, mkErr)
			}
			if h, err = fingerprint.DetectHost(cfg.WorkDir); err != nil {
				return nil, fmt.Errorf("agent: detect resources: %w", err)
			}
		}
		host = &h
	}
	res, err := fingerprint.Resources(*host, cfg.Resources)
	if err != nil {
		return nil, fmt.Errorf("agent: --resources %q: %w", cfg.Resources, err)
	}
	attrs, err := fingerprint.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, fmt.Errorf("agent: --attributes %q: %w", cfg.Attributes, err)
	}
	files, err := sandbox.NewFiles(sandbox.Root(cfg.WorkDir))
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	a := &Agent{
		cfg:   cfg,
		cz:    c,
		log:   logger.With("component", "agent"),
		files: files,
		http:  hc,
		baseInfo: &mesos.AgentInfo{
			Hostname:   proto.String(cfg.Hostname),
			Port:       proto.Int32(int32(cfg.Port)),
			Resources:  res,
			Attributes: attrs,
		},
		session:    uuid.NewString(),
		in:         make(chan any, 256),
		snapshots:  make(chan chan snapshot),
		done:       make(chan struct{}),
		running:    make(chan struct{}),
		frameworks: map[string]*framework{},
		tasks:      map[taskKey]*task{},
		metrics:    metrics{terminal: map[mesos.TaskState]int64{}},
	}
	return a, nil
}

// post hands a message to the loop; it gives up when the loop has exited,
// so goroutines never block forever on a stopped agent.
func (a *Agent) post(m any) {
	select {
	case a.in <- m:
	case <-a.done:
	}
}

// goLoop runs f on a tracked goroutine; Run waits for all of them.
func (a *Agent) goLoop(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// Run recovers the checkpoint, reattaches to running containers, registers
// with the master and serves until ctx ends. Tasks keep running after Run
// returns. It returns nil on a clean stop, or the error that made the agent
// unable to continue (checkpoint unreadable or unwritable).
func (a *Agent) Run(ctx context.Context) error {
	select {
	case <-a.running:
		return errors.New("agent: Run called twice")
	default:
	}
	loopCtx, cancel := context.WithCancel(ctx)
	a.loopCtx = loopCtx
	a.startTime = time.Now()
	defer func() {
		cancel()
		close(a.done)
		a.wg.Wait()
		for _, t := range a.tasks {
			t.stopRetry()
		}
		if a.db != nil {
			if err := a.db.Close(); err != nil {
				a.log.Error("close checkpoint", "err", err)
			}
		}
	}()
	close(a.running)

	if a.cfg.StateDB != nil {
		a.db = a.cfg.StateDB
	} else {
		db, err := state.OpenBolt(state.Path(a.cfg.WorkDir))
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.db = db
	}
	if err := a.recover(loopCtx); err != nil {
		return fmt.Errorf("agent: recover checkpoint from %q: %w", a.cfg.WorkDir, err)
	}
	a.log.Info("agent started", "work_dir", a.cfg.WorkDir, "agent_id", a.agentID,
		"resources", fingerprint.Format(a.baseInfo.GetResources()), "masters", a.cfg.Masters,
		"recovered_tasks", len(a.tasks))

	a.backoff = a.cfg.RegistrationBackoffMin
	a.startAttempt()
	checkEvery := a.pingCheckInterval()
	pingCheck := time.NewTicker(checkEvery)
	defer pingCheck.Stop()
	for {
		// REGISTERED may change the ping interval; follow it.
		if d := a.pingCheckInterval(); d != checkEvery {
			checkEvery = d
			pingCheck.Reset(d)
		}
		if a.fatal != nil {
			return a.fatal
		}
		select {
		case <-loopCtx.Done():
			a.log.Info("agent stopping; tasks keep running", "tasks", len(a.tasks))
			if a.conn != nil {
				a.conn.cancel()
			}
			return nil
		case m := <-a.in:
			a.handle(m)
		case reply := <-a.snapshots:
			reply <- a.snapshot()
		case <-pingCheck.C:
			a.checkPing()
		}
	}
}

func (a *Agent) pingCheckInterval() time.Duration {
	if a.pingEvery > 0 {
		return a.pingEvery
	}
	return a.cfg.DefaultPingInterval
}

// handle dispatches one loop message.
func (a *Agent) handle(m any) {
	switch m := m.(type) {
	case streamOpened:
		a.onStreamOpened(m)
	case streamEvent:
		if a.conn != nil && m.gen == a.conn.gen {
			a.onEvent(m.ev)
		}
	case streamClosed:
		if a.conn != nil && m.gen == a.conn.gen {
			a.dropConnection(m.err.Error())
		}
	case callRejected:
		if a.conn != nil && m.gen == a.conn.gen {
			a.dropConnection(m.reason)
		}
	case reconnectNow:
		if m.gen == a.connGen && a.conn == nil {
			a.startAttempt()
		}
	case launchResult:
		a.onLaunchResult(m)
	case containerExited:
		a.onContainerExited(m)
	case waitResumed:
		a.onWaitResumed(m)
	case retryDue:
		a.onRetryDue(m)
	case healthResult:
		a.onHealthResult(m)
	case checkResult:
		a.onCheckResult(m)
	default:
		panic(fmt.Sprintf("agent: unknown loop message %T", m))
	}
}

// checkpointTask writes a task record; a failure is fatal because the
// agent can no longer promise that updates survive a crash.
func (a *Agent) checkpointTask(t *task) {
	if err := a.db.PutTask(t.rec); err != nil {
		a.metrics.checkpointErrors++
		a.fatal = fmt.Errorf("agent: checkpoint task %q of framework %q (check disk space and permissions under %q): %w",
			t.rec.GetTaskId().GetValue(), t.rec.GetFrameworkId().GetValue(), a.cfg.WorkDir, err)
	}
}

func (a *Agent) checkpointFramework(fw *mesos.FrameworkInfo) {
	if err := a.db.PutFramework(fw); err != nil {
		a.metrics.checkpointErrors++
		a.fatal = fmt.Errorf("agent: checkpoint framework %q: %w", fw.GetId().GetValue(), err)
	}
}

// agentInfo is the AgentInfo sent to the master and shown in /state.
func (a *Agent) agentInfo() *mesos.AgentInfo {
	info := proto.Clone(a.baseInfo).(*mesos.AgentInfo)
	info.Resources = a.reportedResources()
	if a.agentID != "" {
		info.Id = &mesos.AgentID{Value: proto.String(a.agentID)}
	}
	return info
}

// recover loads the checkpoint and reconciles it with the containers that
// actually exist: reattach to live ones, report tasks whose container is
// gone, destroy orphans. The runtime, not the checkpoint, says what runs.
func (a *Agent) recover(ctx context.Context) error {
	info, err := a.db.AgentInfo()
	if err != nil {
		return err
	}
	if info != nil {
		a.agentID = info.GetId().GetValue()
	}
	if a.checkpointed, err = loadCheckpointedResources(a.cfg.WorkDir); err != nil {
		return fmt.Errorf("checkpointed resources: %w", err)
	}
	fws, err := a.db.Frameworks()
	if err != nil {
		return err
	}
	for _, fw := range fws {
		a.frameworks[fw.GetId().GetValue()] = &framework{info: fw}
	}
	recs, err := a.db.Tasks()
	if err != nil {
		return err
	}
	containers, err := a.cz.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers (is the container runtime up?): %w", err)
	}
	live := map[string]containerizer.Container{}
	for _, c := range containers {
		live[c.ID] = c
	}
	known := map[string]bool{}
	for _, rec := range recs {
		t := &task{rec: rec}
		if fw := a.frameworks[t.key().framework]; fw != nil && !fw.info.GetCheckpoint() {
			// Mesos recovers only the executors of frameworks that asked
			// for checkpointing (FrameworkInfo.checkpoint): the others'
			// containers die with the agent and their tasks are unknown to
			// it, so the master's reconciliation reports them lost. The
			// record exists only to map a crash mid-launch to its container.
			a.log.Info("not recovering task of a framework without checkpointing", "framework_id", t.key().framework,
				"task_id", t.key().task, "container_id", rec.GetContainerId())
			if err := a.db.DeleteTask(t.key().framework, t.key().task); err != nil {
				return fmt.Errorf("drop task checkpoint of a non-checkpointing framework: %w", err)
			}
			continue // its container, if any, is destroyed as an orphan below
		}
		a.tasks[t.key()] = t
		cid := rec.GetContainerId()
		if cid != "" {
			known[cid] = true
		}
		_, exists := live[cid]
		switch {
		case rec.GetTask() == nil:
			// Update-only stream: nothing runs.
		case isTerminal(rec.GetState()):
			if exists {
				a.destroyContainer(cid)
			}
		case exists:
			a.log.Info("reattaching to running task", "framework_id", t.key().framework, "task_id", t.key().task, "container_id", cid)
			if rec.GetState() == mesos.TaskState_TASK_STAGING && !rec.GetKillRequested() {
				// The agent died between Launch and reporting it.
				a.statusUpdate(t, a.executorStatus(t, mesos.TaskState_TASK_STARTING, ""))
				a.statusUpdate(t, a.executorStatus(t, mesos.TaskState_TASK_RUNNING, ""))
			}
			a.startWait(t)
			if rec.GetKillRequested() {
				t.healthKilled = killedByHealthCheck(rec.GetStatuses())
				a.killContainer(cid, time.Duration(rec.GetKillGraceNs()))
			} else {
				a.startCheckers(t)
			}
		default:
			a.metrics.recoveryErrors++
			a.log.Warn("task's container is gone after agent restart", "framework_id", t.key().framework, "task_id", t.key().task, "container_id", cid)
			a.statusUpdate(t, a.executorTerminated(t, "Executor terminated: its container was gone when the agent recovered"))
		}
		if a.fatal != nil {
			return a.fatal
		}
	}
	for _, c := range containers {
		if known[c.ID] || c.Labels[LabelWorkDir] != a.cfg.WorkDir {
			continue
		}
		a.metrics.orphansDestroyed++
		a.log.Warn("destroying orphan container not in the checkpoint", "container_id", c.ID,
			"framework_id", c.Labels[LabelFrameworkID], "task_id", c.Labels[LabelTaskID])
		a.destroyContainer(c.ID)
	}
	// Drop frameworks that have nothing left (e.g. tasks forgotten just
	// before a crash).
	for id := range a.frameworks {
		a.maybeForgetFramework(id)
	}
	return a.fatal
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
