// Package mastersim is a cluster simulator: it drives the real mesosd master
// (master.New, its loop, Raft on a work directory, the allocator and the
// HTTP handlers) with thousands of simulated agents and frameworks in one
// process, to measure launch throughput, failover re-registration and
// footprint at data-centre scale (issue 4 part 5, issue 3 performance).
//
// Shape. Agents and frameworks are plain structs, not goroutines. They speak
// the real protocols (the agent protocol of proto/mesosd/v1 and the v1
// scheduler API with the protobuf codec) through MemTransport, an in-memory
// http.RoundTripper onto Master.Handler(). Events reach them by push: the
// master's own stream goroutine flushes RecordIO bytes straight into the
// agent's decoder. Work they generate (status updates, PONGs, ACCEPTs,
// acknowledgements, subscriptions) goes into one unbounded queue served by a
// fixed pool of workers (Config.Concurrency), and everything time-based
// (task run time, update retries, registration backoff) sits in one timer
// heap. So the simulator's goroutine count is O(workers), and the only
// per-agent goroutine is the one the master itself runs per event stream.
//
// Invariants:
//   - Every agent and framework state change happens under its own mutex;
//     event callbacks for one stream never overlap (Pipe guarantees it) and
//     carry a stream generation so events of a replaced stream are ignored.
//   - A simulated agent behaves like the real one where the master can
//     tell: each status update carries a fresh 16-byte uuid, only the head
//     of a task's update stream is in flight, it is retried until
//     acknowledged, and re-registration reports every unacknowledged task.
//   - Failover waits until every stream of the old master has ended before it
//     starts counting re-registrations, so a late event from the old master
//     is never counted for the new one.
//
// Reuse from a command (a future `mesosd sim`): New(Config) with
// Config.Master carrying the flag values, Run(ctx) in a goroutine,
// WaitReady, Snapshot / RatesBetween for a periodic report, the exported
// histograms, Failover for a restart drill, Footprint for heap and
// goroutines, and Handler to serve the simulated master's HTTP API on a real
// port for curl and UIs.
package mastersim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/master"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// Transport selects how simulated clients reach the master.
type Transport int

const (
	// TransportMemory calls Master.Handler() in process (MemTransport).
	TransportMemory Transport = iota
	// TransportLoopback serves the handler on a loopback TCP port
	// (httptest.Server) and uses net/http's client: one connection and a
	// reader goroutine per stream. For comparison at small scale.
	TransportLoopback
)

// Defaults mirror the brief and Mesos' defaults (perf-anchors §1.4).
const (
	DefaultAgentResources = "cpus:32;mem:131072;disk:1048576;ports:[31000-32000]"
	DefaultTaskResources  = "cpus:0.1;mem:32"
)

// Config configures a simulation. Zero values take the documented default.
type Config struct {
	Agents     int
	Frameworks int
	// TasksPerOffer is the most tasks a framework launches on one offer (1).
	TasksPerOffer int
	// TaskRunTime is how long a task runs before the agent reports
	// TASK_FINISHED; 0 means tasks run until killed.
	TaskRunTime time.Duration
	// MaxTasks is the launch budget across frameworks: 0 unlimited, < 0 none
	// until AddTaskBudget. Frameworks SUPPRESS when it runs out and REVIVE
	// when budget is added.
	MaxTasks int64
	// MaxTasksPerAgent caps tasks launched on one agent over the run (0: no
	// cap); lets a failover benchmark put "a few tasks" on every agent.
	MaxTasksPerAgent int
	AgentResources   string  // DefaultAgentResources
	TaskResources    string  // DefaultTaskResources
	RefuseSeconds    float64 // filter on declined and left-over resources (5)
	// UpdateRetryInterval is how long an agent waits for an acknowledgement
	// before resending a status update (10s, Mesos' minimum).
	UpdateRetryInterval time.Duration
	// RegistrationBackoff spreads (re-)subscriptions after a new leader
	// appears: each waits uniform[0, RegistrationBackoff] (0: at once), like
	// --registration_backoff_factor.
	RegistrationBackoff time.Duration
	// Concurrency is the number of workers issuing calls (64). It is also
	// the most calls in flight, so it bounds the batching the loop sees.
	Concurrency int
	Transport   Transport
	// Master overrides the master's configuration. WorkDir defaults to a
	// fresh temporary directory (removed by Run on return); Logger defaults
	// to one that counts warnings (MasterWarnings) and drops the rest.
	Master master.Config
	// Seed makes task IDs and jitter reproducible (0: time-based).
	Seed uint64
}

func (c *Config) setDefaults() {
	if c.TasksPerOffer <= 0 {
		c.TasksPerOffer = 1
	}
	if c.AgentResources == "" {
		c.AgentResources = DefaultAgentResources
	}
	if c.TaskResources == "" {
		c.TaskResources = DefaultTaskResources
	}
	if c.RefuseSeconds <= 0 {
		c.RefuseSeconds = 5
	}
	if c.UpdateRetryInterval <= 0 {
		c.UpdateRetryInterval = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Master.Hostname == "" {
		c.Master.Hostname = "mastersim"
	}
	if c.Master.IP == "" {
		c.Master.IP = "127.0.0.1"
	}
	if c.Master.Port == 0 {
		c.Master.Port = 5050
	}
}

// Sim is one simulated cluster. Create with New, drive with Run.
type Sim struct {
	cfg     Config
	tr      *MemTransport
	rt      http.RoundTripper
	srv     *httptest.Server // TransportLoopback only
	baseURL string
	workDir string
	ownDir  bool

	agents     []*simAgent
	frameworks []*simFramework
	wheel      *timerWheel
	work       *workQueue
	workers    sync.WaitGroup

	agentRes   []*mesos.Resource
	taskRes    []*mesos.Resource
	taskCPUs   float64
	taskMem    float64
	rngMu      sync.Mutex
	rng        *rand.Rand
	warnings   *warnLog
	unlimited  bool
	budget     atomic.Int64
	perAgentMu sync.Mutex
	perAgent   map[string]int

	// Counters are the simulation's event counters.
	Counters Counters
	// LaunchLatency: ACCEPT sent → TASK_RUNNING received by the framework.
	LaunchLatency Histogram
	// AgentCallLatency / SchedulerCallLatency: one call's round trip.
	AgentCallLatency     Histogram
	SchedulerCallLatency Histogram

	// mu guards the master, mounting and the parked subscriptions.
	mu           sync.Mutex
	m            *master.Master
	mCancel      context.CancelFunc
	mDone        chan error
	mounted      bool
	parked       []func()
	stopping     atomic.Bool
	openStreams  atomic.Int64
	inflightSubs atomic.Int64
	agentsMS     atomic.Pointer[milestone]
	fwMS         atomic.Pointer[milestone]
	ready        chan struct{}
	readyOnce    sync.Once
	fatal        chan error
}

// milestone counts distinct participants reaching a state in one epoch
// (initial start or one failover) and records when the last one did.
type milestone struct {
	target int64
	n      atomic.Int64
	at     atomic.Int64 // Unix ns of the target-th hit
	cpu    atomic.Int64 // process CPU time (ns) at the target-th hit
	gcs    atomic.Int64 // GC cycles completed by the target-th hit
	done   chan struct{}
}

func newMilestone(target int) *milestone {
	ms := &milestone{target: int64(target), done: make(chan struct{})}
	if target == 0 {
		ms.reached()
	}
	return ms
}

func (ms *milestone) hit() {
	if ms.n.Add(1) == ms.target {
		ms.reached()
	}
}

func (ms *milestone) reached() {
	ms.at.Store(time.Now().UnixNano())
	ms.cpu.Store(int64(processCPU()))
	ms.gcs.Store(int64(gcCycles()))
	close(ms.done)
}

// processCPU is the CPU time (user + system) of the whole process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gcCycles is the number of GC cycles completed so far.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// New validates cfg and builds the simulated cluster; nothing runs until Run.
func New(cfg Config) (*Sim, error) {
	cfg.setDefaults()
	if cfg.Agents < 0 || cfg.Frameworks < 0 {
		return nil, errors.New("mastersim: negative agent or framework count")
	}
	ar, err := resources.Parse(cfg.AgentResources)
	if err != nil {
		return nil, fmt.Errorf("mastersim: agent resources: %w", err)
	}
	tres, err := resources.Parse(cfg.TaskResources)
	if err != nil {
		return nil, fmt.Errorf("mastersim: task resources: %w", err)
	}
	s := &Sim{
		cfg:      cfg,
		tr:       &MemTransport{},
		agentRes: ar.ToProto(),
		taskRes:  tres.ToProto(),
		taskCPUs: tres.CPUs(),
		taskMem:  tres.Mem(),
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		warnings: &warnLog{},
		perAgent: make(map[string]int),
		ready:    make(chan struct{}),
		fatal:    make(chan error, 1),
	}
	switch {
	case cfg.MaxTasks == 0:
		s.unlimited = true
	case cfg.MaxTasks > 0:
		s.budget.Store(cfg.MaxTasks)
	}
	s.workDir = cfg.Master.WorkDir
	if s.workDir == "" {
		d, err := os.MkdirTemp("", "mastersim-")
		if err != nil {
			return nil, fmt.Errorf("mastersim: work dir: %w", err)
		}
		s.workDir, s.ownDir = d, true
	}
	for i := range cfg.Agents {
		s.agents = append(s.agents, newSimAgent(s, i))
	}
	for i := range cfg.Frameworks {
		s.frameworks = append(s.frameworks, newSimFramework(s, i))
	}
	s.agentsMS.Store(newMilestone(cfg.Agents))
	s.fwMS.Store(newMilestone(cfg.Frameworks))
	return s, nil
}

// Handler is the current master's HTTP API (through the simulator's mount
// point, so it follows Failover), for serving on a real port.
func (s *Sim) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := s.tr.h.Load(); b != nil {
			b.h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "no master", http.StatusServiceUnavailable)
	})
}

// Master returns the master currently running (it changes on Failover).
func (s *Sim) Master() *master.Master {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

// WorkDir is the master's work directory (Raft log and snapshots).
func (s *Sim) WorkDir() string { return s.workDir }

// Run starts the master, subscribes every agent and framework, and serves
// until ctx is done; then it stops the master and waits for every stream.
func (s *Sim) Run(ctx context.Context) error {
	s.work = newWorkQueue()
	s.wheel = newTimerWheel()
	for range s.cfg.Concurrency {
		s.workers.Add(1)
		go func() {
			defer s.workers.Done()
			s.work.serve()
		}()
	}
	switch s.cfg.Transport {
	case TransportLoopback:
		s.srv = httptest.NewServer(s.Handler())
		s.baseURL = s.srv.URL
		s.rt = &http.Transport{MaxIdleConnsPerHost: s.cfg.Concurrency, DisableCompression: true}
	default:
		s.baseURL = "http://mastersim"
		s.rt = s.tr
	}
	defer s.shutdown()
	if err := s.startMaster(ctx); err != nil {
		return err
	}
	go func() {
		// Ready once everybody subscribed for the first time.
		a, f := s.agentsMS.Load(), s.fwMS.Load()
		select {
		case <-a.done:
		case <-ctx.Done():
			return
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return
		}
		s.readyOnce.Do(func() { close(s.ready) })
	}()
	for _, f := range s.frameworks {
		s.work.push(f.subscribe)
	}
	for _, a := range s.agents {
		s.work.push(a.subscribe)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.fatal:
		return fmt.Errorf("mastersim: %w", err)
	}
}

// Ready is closed once every agent registered and every framework
// subscribed for the first time.
func (s *Sim) Ready() <-chan struct{} { return s.ready }

// WaitReady waits for Ready or ctx.
func (s *Sim) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mastersim: not ready (%d/%d agents registered, %d/%d frameworks subscribed): %w",
			s.agentsMS.Load().n.Load(), s.cfg.Agents, s.fwMS.Load().n.Load(), s.cfg.Frameworks, ctx.Err())
	}
}

// startMaster opens a master on the work directory, runs it, waits until it
// leads, mounts its handler and releases parked subscriptions.
func (s *Sim) startMaster(ctx context.Context) error {
	mc := s.cfg.Master
	mc.WorkDir = s.workDir
	if mc.Logger == nil {
		mc.Logger = slog.New(s.warnings)
	}
	m, err := master.New(mc)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := m.Run(mctx)
		if mctx.Err() == nil {
			// Not stopped by us: the replicated log failed.
			select {
			case s.fatal <- fmt.Errorf("master stopped: %v", err):
			default:
			}
		}
		done <- err
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !m.IsLeader() {
		select {
		case err := <-done:
			cancel()
			return fmt.Errorf("mastersim: master exited before leading: %v", err)
		case <-ctx.Done():
			cancel()
			<-done
			return ctx.Err()
		case <-tick.C:
		}
	}
	s.mu.Lock()
	s.m, s.mCancel, s.mDone = m, cancel, done
	s.tr.SetHandler(m.Handler())
	s.mounted = true
	parked := s.parked
	s.parked = nil
	s.mu.Unlock()
	for _, f := range parked {
		s.soon(f)
	}
	return nil
}

// stopMaster unmounts the master (new requests fail as if refused), stops
// its loop and waits until every stream it served has ended.
func (s *Sim) stopMaster(ctx context.Context) error {
	s.mu.Lock()
	s.tr.SetHandler(nil)
	s.mounted = false
	cancel, done := s.mCancel, s.mDone
	s.m, s.mCancel, s.mDone = nil, nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.openStreams.Load() != 0 || s.inflightSubs.Load() != 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("mastersim: %d streams still open after the master stopped: %w", s.openStreams.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	return runErr
}

func (s *Sim) shutdown() {
	s.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.stopMaster(ctx)
	s.tr.Wait()
	s.work.close()
	s.workers.Wait()
	s.wheel.stop()
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
	}
	if t, ok := s.rt.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	if s.ownDir {
		os.RemoveAll(s.workDir)
	}
}

// FailoverResult times one restart-failover.
type FailoverResult struct {
	// Stop: old master's loop stopped and every stream it served ended.
	Stop time.Duration
	// Elect: new master opened its log, replayed it and leads.
	Elect time.Duration
	// AgentsReregistered / FrameworksResubscribed: from the new master
	// leading until the last agent got REGISTERED / the last framework got
	// SUBSCRIBED (the figure comparable to Mesos' failover benchmark).
	AgentsReregistered     time.Duration
	FrameworksResubscribed time.Duration
	// AgentsReregisteredCPU: CPU time the whole process (master and
	// simulator) used over AgentsReregistered, and AgentsReregisteredGCs the
	// GC cycles completed in it: steadier than wall time on a shared box.
	AgentsReregisteredCPU time.Duration
	AgentsReregisteredGCs int
	// Total: Failover called → everybody back.
	Total time.Duration
}

// Failover restarts the master as a crashed single master would be: stop
// its Run, open a new master.New on the same work directory, and wait until
// every agent re-registered and every framework re-subscribed.
func (s *Sim) Failover(ctx context.Context) (FailoverResult, error) {
	var r FailoverResult
	for _, a := range s.agents {
		a.prepareReregistration()
	}
	t0 := time.Now()
	if err := s.stopMaster(ctx); err != nil {
		return r, err
	}
	t1 := time.Now()
	r.Stop = t1.Sub(t0)
	ams, fms := newMilestone(len(s.agents)), newMilestone(len(s.frameworks))
	s.agentsMS.Store(ams)
	s.fwMS.Store(fms)
	if err := s.startMaster(ctx); err != nil {
		return r, err
	}
	t2 := time.Now()
	cpu2, gcs2 := processCPU(), gcCycles()
	r.Elect = t2.Sub(t1)
	for _, ms := range []*milestone{ams, fms} {
		select {
		case <-ms.done:
		case <-ctx.Done():
			return r, fmt.Errorf("mastersim: failover incomplete (%d/%d agents, %d/%d frameworks): %w",
				ams.n.Load(), ams.target, fms.n.Load(), fms.target, ctx.Err())
		}
	}
	at, ft := time.Unix(0, ams.at.Load()), time.Unix(0, fms.at.Load())
	r.AgentsReregistered = max(at.Sub(t2), 0)
	r.AgentsReregisteredCPU = max(time.Duration(ams.cpu.Load())-cpu2, 0)
	r.AgentsReregisteredGCs = max(int(uint64(ams.gcs.Load())-gcs2), 0)
	r.FrameworksResubscribed = max(ft.Sub(t2), 0)
	last := at
	if ft.After(last) {
		last = ft
	}
	r.Total = last.Sub(t0)
	return r, nil
}

// Snapshot returns the counters now.
func (s *Sim) Snapshot() Snapshot { return s.Counters.snapshot() }

// AddTaskBudget lets frameworks launch n more tasks (no effect when the
// budget is unlimited) and revives suppressed frameworks.
func (s *Sim) AddTaskBudget(n int64) {
	if s.unlimited {
		return
	}
	s.budget.Add(n)
	for _, f := range s.frameworks {
		f.revive()
	}
}

// reserve takes up to n launches from the budget and the agent's cap.
func (s *Sim) reserve(agentID string, n int) int {
	if !s.unlimited {
		for {
			b := s.budget.Load()
			if b <= 0 {
				return 0
			}
			k := min(int64(n), b)
			if s.budget.CompareAndSwap(b, b-k) {
				n = int(k)
				break
			}
		}
	}
	if c := s.cfg.MaxTasksPerAgent; c > 0 {
		s.perAgentMu.Lock()
		have := s.perAgent[agentID]
		k := min(n, c-have)
		if k < 0 {
			k = 0
		}
		s.perAgent[agentID] = have + k
		s.perAgentMu.Unlock()
		if !s.unlimited && k < n {
			s.budget.Add(int64(n - k))
		}
		n = k
	}
	return n
}

func (s *Sim) budgetLeft() bool { return s.unlimited || s.budget.Load() > 0 }

// Footprint is the process's memory and goroutines after a GC.
type Footprint struct {
	HeapInuse  uint64
	HeapAlloc  uint64
	Sys        uint64
	Goroutines int
}

// MeasureFootprint forces a GC and reads the heap and goroutine count (of
// the whole process: master and simulator together).
func MeasureFootprint() Footprint {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Footprint{HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, Sys: ms.Sys, Goroutines: runtime.NumGoroutine()}
}

// MasterWarnings returns how many warnings the master logged and the first
// few of them (allocator bookkeeping errors would show up here).
func (s *Sim) MasterWarnings() (int, []string) { return s.warnings.get() }

// ---- plumbing ----

// jitter returns uniform[0, d).
func (s *Sim) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return time.Duration(s.rng.Int64N(int64(d)))
}

// soon runs f on a worker after the registration backoff jitter.
func (s *Sim) soon(f func()) {
	if d := s.jitter(s.cfg.RegistrationBackoff); d > 0 {
		s.wheel.after(d, func() { s.work.push(f) })
		return
	}
	s.work.push(f)
}

// park holds a subscription attempt until a master is mounted: the
// simulator's stand-in for an agent's master detector.
func (s *Sim) park(f func()) {
	if s.stopping.Load() {
		return
	}
	s.mu.Lock()
	if !s.mounted {
		s.parked = append(s.parked, f)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	// Mounted but refused (a transition): retry shortly.
	s.wheel.after(10*time.Millisecond+s.jitter(10*time.Millisecond), func() { s.work.push(f) })
}

// post sends a call and reports the HTTP status (0 on transport error).
func (s *Sim) post(ctx context.Context, path string, body []byte, hdrName, hdrValue string, accept bool, lat *Histogram) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if accept {
		req.Header.Set("Accept", "application/x-protobuf")
	}
	if hdrName != "" {
		req.Header.Set(hdrName, hdrValue)
	}
	t0 := time.Now()
	resp, err := s.rt.RoundTrip(req)
	if lat != nil {
		lat.Record(time.Since(t0))
	}
	return resp, err
}

// call is post for a non-streaming call: the body is drained and closed.
func (s *Sim) call(path string, body []byte, hdrName, hdrValue string, lat *Histogram) int {
	resp, err := s.post(context.Background(), path, body, hdrName, hdrValue, false, lat)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// attach delivers a stream's bytes to push: directly for MemTransport
// bodies, through a reader goroutine otherwise.
func attach(body io.ReadCloser, push func([]byte, error)) {
	if p, ok := body.(*Pipe); ok {
		p.OnData(push)
		return
	}
	go readLoop(body, push)
}

// workQueue is an unbounded FIFO of jobs. Unbounded because producers
// include the master's stream goroutines and the workers themselves: a
// bounded queue could deadlock with every worker blocked on a full queue.
type workQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []func()
	head   int
	closed bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *workQueue) push(f func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *workQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *workQueue) serve() {
	for {
		q.mu.Lock()
		for q.head == len(q.items) && !q.closed {
			q.cond.Wait()
		}
		if q.head == len(q.items) {
			q.mu.Unlock()
			return
		}
		f := q.items[q.head]
		q.items[q.head] = nil
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
		} else if q.head > 4096 && q.head*2 > len(q.items) {
			// A queue that never empties would otherwise grow forever.
			n := copy(q.items, q.items[q.head:])
			clear(q.items[n:])
			q.items, q.head = q.items[:n], 0
		}
		q.mu.Unlock()
		f()
	}
}

// warnLog is the master's slog handler: warnings and errors are counted and
// the first few kept; everything below is dropped before formatting.
type warnLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (w *warnLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnLog) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	w.mu.Lock()
	w.n++
	if len(w.first) < 20 {
		w.first = append(w.first, b.String())
	}
	w.mu.Unlock()
	return nil
}
func (w *warnLog) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnLog) WithGroup(string) slog.Handler      { return w }
func (w *warnLog) get() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, append([]string(nil), w.first...)
}
