package mastersim

// Benchmarks of the real master under simulated load (BENCHMARKS.md,
// "Cluster simulator"). Setup (registering N agents, launching the tasks a
// failover needs) is outside the timer and slow at 10k agents, so run with a
// fixed iteration count, e.g.
//
//	go test -run '^$' -bench LaunchThroughput -benchtime 20000x ./master/mastersim
//	go test -run '^$' -bench FailoverReregistration -benchtime 1x -count 3 ./master/mastersim
//	go test -run '^$' -bench LaunchSustained -benchtime 100000x ./master/mastersim
//
// Flags after -args: -sim.agents=1000,10000, -sim.cpuprofile (timed section
// only), -sim.heapprofile, -sim.loopback (real TCP), and the knobs below.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mesosd/mesosd/master"
)

var (
	benchAgents        = flag.String("sim.agents", "1000,10000", "comma-separated agent counts")
	benchFrameworks    = flag.Int("sim.frameworks", 100, "frameworks in the launch benchmark")
	benchTasksPerOffer = flag.Int("sim.tasks_per_offer", 5, "tasks launched per offer in the launch benchmark")
	benchAllocInterval = flag.Duration("sim.allocation_interval", time.Second, "master --allocation_interval")
	benchTasksPerAgent = flag.Int("sim.tasks_per_agent", 10, "running tasks per agent before a failover")
	benchFailoverFws   = flag.Int("sim.failover_frameworks", 5, "frameworks in the failover benchmark")
	benchBackoff       = flag.Duration("sim.registration_backoff", 0, "agent re-registration jitter after failover")
	benchRunTime       = flag.Duration("sim.task_run_time", 5*time.Second, "task run time in the sustained launch benchmark")
	benchLoopback      = flag.Bool("sim.loopback", false, "use real loopback TCP (httptest.Server + net/http client) instead of MemTransport")
	benchProfile       = flag.String("sim.cpuprofile", "", "write a CPU profile of the timed section only (setup excluded) to this file")
	benchHeapProfile   = flag.String("sim.heapprofile", "", "write a heap profile after the timed section to this file")
)

// profileTimed profiles the timed section when -sim.cpuprofile is set; the
// returned func stops it.
func profileTimed(b *testing.B) func() {
	stop := func() {}
	if *benchProfile != "" {
		f, err := os.Create(*benchProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		stop = func() { pprof.StopCPUProfile(); f.Close() }
	}
	return stop
}

// writeHeapProfile writes -sim.heapprofile (after a GC), if set.
func writeHeapProfile(b *testing.B) {
	if *benchHeapProfile == "" {
		return
	}
	f, err := os.Create(*benchHeapProfile)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	_ = pprof.WriteHeapProfile(f)
	f.Close()
}

func benchTransport() Transport {
	if *benchLoopback {
		return TransportLoopback
	}
	return TransportMemory
}

func agentCounts(b *testing.B) []int {
	var out []int
	for _, f := range splitComma(*benchAgents) {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
			b.Fatalf("bad -sim.agents entry %q", f)
		}
		out = append(out, n)
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// startBench runs s until the benchmark ends; it reports how long the first
// registration of every agent and framework took.
func startBench(b *testing.B, s *Sim) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d agents and %d frameworks registered in %v", s.cfg.Agents, s.cfg.Frameworks, time.Since(t0).Round(time.Millisecond))
}

func waitCounter(b *testing.B, what string, c interface{ Load() int64 }, want int64, limit time.Duration) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for c.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s: %d of %d", what, c.Load(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func reportFootprint(b *testing.B, s *Sim) {
	fp := MeasureFootprint()
	b.ReportMetric(float64(fp.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(fp.Goroutines), "goroutines")
	n, first := s.MasterWarnings()
	if n > 0 {
		b.Logf("master logged %d warnings; first: %q", n, first)
	}
}

// BenchmarkLaunchThroughput: one op is one task launched end to end: the
// framework's ACCEPT → RUN_TASK at the agent → TASK_RUNNING (sent by the
// agent, acknowledged by the framework) at the framework. The budget of b.N
// tasks is released at once to suppressed frameworks (REVIVE), so the figure
// includes the first allocation run.
func BenchmarkLaunchThroughput(b *testing.B) {
	for _, n := range agentCounts(b) {
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d", n, *benchFrameworks), func(b *testing.B) {
			s, err := New(Config{
				Agents:        n,
				Frameworks:    *benchFrameworks,
				TasksPerOffer: *benchTasksPerOffer,
				MaxTasks:      -1,
				Transport:     benchTransport(),
				Master:        master.Config{AllocationInterval: *benchAllocInterval},
			})
			if err != nil {
				b.Fatal(err)
			}
			startBench(b, s)
			base := s.Counters.TasksRunning.Load()
			s.LaunchLatency.Reset()
			before := s.Snapshot()
			b.ResetTimer()
			stopProf := profileTimed(b)
			t0 := time.Now()
			s.AddTaskBudget(int64(b.N))
			waitCounter(b, "tasks RUNNING", &s.Counters.TasksRunning, base+int64(b.N), 10*time.Minute)
			el := time.Since(t0)
			b.StopTimer()
			stopProf()
			writeHeapProfile(b)
			after := s.Snapshot()
			b.ReportMetric(float64(b.N)/el.Seconds(), "tasks/s")
			b.ReportMetric(float64(s.LaunchLatency.Quantile(0.5))/1e6, "p50-ms")
			b.ReportMetric(float64(s.LaunchLatency.Quantile(0.99))/1e6, "p99-ms")
			b.ReportMetric(float64(after.Accepts-before.Accepts), "accepts")
			b.ReportMetric(float64(after.CallErrors-before.CallErrors), "call-errors")
			reportFootprint(b, s)
		})
	}
}

// BenchmarkFailoverReregistration: one op is one restart-failover of the
// single master (stop Run, master.New on the same work dir, elected) until
// every agent re-registered with its tasks and every framework re-subscribed.
// Custom metrics split it: stop-ms, elect-ms, and reregister-ms (new master
// leading → last agent REGISTERED: the figure to compare with Mesos 1.5's
// ≈4.5 s at 10k agents), with reregister-cpu-ms and reregister-gcs (process
// CPU time and GC cycles over that window, for comparisons on a busy box).
func BenchmarkFailoverReregistration(b *testing.B) {
	for _, n := range agentCounts(b) {
		b.Run(fmt.Sprintf("agents=%d/tasks=%d", n, n**benchTasksPerAgent), func(b *testing.B) {
			tasks := int64(n * *benchTasksPerAgent)
			s, err := New(Config{
				Agents:              n,
				Frameworks:          *benchFailoverFws,
				TasksPerOffer:       *benchTasksPerAgent,
				MaxTasksPerAgent:    *benchTasksPerAgent,
				MaxTasks:            tasks,
				RefuseSeconds:       5,
				RegistrationBackoff: *benchBackoff,
				Transport:           benchTransport(),
				Master:              master.Config{AllocationInterval: *benchAllocInterval},
			})
			if err != nil {
				b.Fatal(err)
			}
			startBench(b, s)
			t0 := time.Now()
			waitCounter(b, "tasks RUNNING", &s.Counters.TasksRunning, tasks, 10*time.Minute)
			b.Logf("%d tasks running after %v", tasks, time.Since(t0).Round(time.Millisecond))
			// Footprint of one master's worth of state, before any failover:
			// a stopped master stays reachable until its timers fire (see
			// BENCHMARKS.md), so heap after failovers overstates it.
			waitCounter(b, "acknowledgements", &s.Counters.AcksReceived, tasks, time.Minute)
			setup := MeasureFootprint()
			writeHeapProfile(b) // the failover benchmark profiles the heap at setup
			var sum FailoverResult
			b.ResetTimer()
			stopProf := profileTimed(b)
			for range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				r, err := s.Failover(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("failover: stop %v, elect %v, agents back %v (CPU %v, %d GC cycles), frameworks back %v, total %v",
					r.Stop.Round(time.Millisecond), r.Elect.Round(time.Millisecond), r.AgentsReregistered.Round(time.Millisecond),
					r.AgentsReregisteredCPU.Round(time.Millisecond), r.AgentsReregisteredGCs,
					r.FrameworksResubscribed.Round(time.Millisecond), r.Total.Round(time.Millisecond))
				sum.Stop += r.Stop
				sum.Elect += r.Elect
				sum.AgentsReregistered += r.AgentsReregistered
				sum.AgentsReregisteredCPU += r.AgentsReregisteredCPU
				sum.AgentsReregisteredGCs += r.AgentsReregisteredGCs
				sum.Total += r.Total
			}
			b.StopTimer()
			stopProf()
			if *benchHeapProfile != "" {
				if f, err := os.Create(*benchHeapProfile + ".after"); err == nil {
					runtime.GC()
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			per := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
			b.ReportMetric(per(sum.Stop), "stop-ms")
			b.ReportMetric(per(sum.Elect), "elect-ms")
			b.ReportMetric(per(sum.AgentsReregistered), "reregister-ms")
			// Process CPU (master and simulator) over reregister-ms, and GC
			// cycles in it: on a shared box, steadier than wall time.
			b.ReportMetric(per(sum.AgentsReregisteredCPU), "reregister-cpu-ms")
			b.ReportMetric(float64(sum.AgentsReregisteredGCs)/float64(b.N), "reregister-gcs")
			b.ReportMetric(per(sum.Total), "total-ms")
			b.ReportMetric(float64(setup.HeapInuse)/(1<<20), "setup-heap-MiB")
			b.ReportMetric(float64(setup.Goroutines), "setup-goroutines")
			if got := s.Counters.TasksOther.Load(); got != 0 {
				b.Errorf("%d tasks reported LOST/other across failovers", got)
			}
			reportFootprint(b, s)
		})
	}
}

// BenchmarkLaunchSustained: frameworks with an unlimited budget keep
// launching while tasks finish after -sim.task_run_time, so the master
// carries the whole lifecycle (RUNNING and FINISHED updates, their
// acknowledgements, resources coming back) at saturation. One op is one
// task reaching RUNNING at its framework, measured after a warm-up.
func BenchmarkLaunchSustained(b *testing.B) {
	for _, n := range agentCounts(b) {
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d", n, *benchFrameworks), func(b *testing.B) {
			s, err := New(Config{
				Agents:        n,
				Frameworks:    *benchFrameworks,
				TasksPerOffer: *benchTasksPerOffer,
				TaskRunTime:   *benchRunTime,
				Transport:     benchTransport(),
				Master:        master.Config{AllocationInterval: *benchAllocInterval},
			})
			if err != nil {
				b.Fatal(err)
			}
			startBench(b, s)
			waitCounter(b, "warm-up", &s.Counters.TasksRunning, s.Counters.TasksRunning.Load()+int64(n), 5*time.Minute)
			s.LaunchLatency.Reset()
			before := s.Snapshot()
			b.ResetTimer()
			stopProf := profileTimed(b)
			waitCounter(b, "tasks RUNNING", &s.Counters.TasksRunning, before.TasksRunning+int64(b.N), 10*time.Minute)
			b.StopTimer()
			stopProf()
			r := RatesBetween(before, s.Snapshot())
			b.ReportMetric(r.TasksRunning, "tasks/s")
			b.ReportMetric(r.TasksFinished, "finished/s")
			b.ReportMetric(float64(s.LaunchLatency.Quantile(0.5))/1e6, "p50-ms")
			b.ReportMetric(float64(s.LaunchLatency.Quantile(0.99))/1e6, "p99-ms")
			b.ReportMetric(r.CallErrors, "call-errors/s")
			reportFootprint(b, s)
		})
	}
}
