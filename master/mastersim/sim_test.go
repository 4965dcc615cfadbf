package mastersim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mesosd/mesosd/master"
)

// testMaster is a master config with short timers so tests take seconds.
func testMaster() master.Config {
	return master.Config{
		AllocationInterval: 20 * time.Millisecond,
		TickInterval:       10 * time.Millisecond,
	}
}

// start runs s until the test ends and waits for every agent and framework.
func start(t *testing.T, s *Sim) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("Run did not return")
		}
		n, first := s.MasterWarnings()
		for _, w := range first {
			if strings.Contains(w, "bookkeeping") {
				t.Errorf("master warning: %s", w)
			}
		}
		t.Logf("master warnings: %d", n)
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTasksRunToCompletion(t *testing.T) {
	s, err := New(Config{
		Agents:        20,
		Frameworks:    3,
		TasksPerOffer: 4,
		TaskRunTime:   30 * time.Millisecond,
		MaxTasks:      200,
		RefuseSeconds: 0.01,
		Master:        testMaster(),
		Seed:          1,
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "200 tasks FINISHED", func() bool { return s.Counters.TasksFinished.Load() >= 200 })
	snap := s.Snapshot()
	if snap.TasksLaunched != 200 || snap.RunTasks != 200 || snap.TasksRunning != 200 || snap.TasksFinished != 200 {
		t.Errorf("launched %d, RUN_TASK %d, RUNNING %d, FINISHED %d; want 200 each", snap.TasksLaunched, snap.RunTasks, snap.TasksRunning, snap.TasksFinished)
	}
	if snap.TasksOther != 0 {
		t.Errorf("%d unexpected task states (LOST, ERROR...)", snap.TasksOther)
	}
	// Every update was acknowledged: RUNNING and FINISHED for each task.
	waitFor(t, "all acknowledgements", func() bool { return s.Counters.AcksReceived.Load() >= 400 })
	if got := s.LaunchLatency.Count(); got != 200 {
		t.Errorf("launch latency samples = %d, want 200", got)
	}
	t.Logf("launch latency p50 %v p99 %v; %d offers, %d declined", s.LaunchLatency.Quantile(0.5), s.LaunchLatency.Quantile(0.99), snap.Offers, snap.OffersDeclined)
}

func TestFailoverReregistersEveryAgent(t *testing.T) {
	s, err := New(Config{
		Agents:           50,
		Frameworks:       2,
		TasksPerOffer:    2,
		MaxTasksPerAgent: 2,
		MaxTasks:         100,
		RefuseSeconds:    0.01,
		Master:           testMaster(),
		Seed:             2,
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	waitFor(t, "100 tasks RUNNING", func() bool { return s.Counters.TasksRunning.Load() >= 100 })
	regs := s.Counters.AgentRegistrations.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Counters.AgentRegistrations.Load() - regs; got < 50 {
		t.Errorf("%d re-registrations, want at least 50", got)
	}
	t.Logf("failover: %+v", r)
	// The new master knows every task: nothing was reported lost, and the
	// tasks are still running (none were launched anew).
	if n := s.Counters.TasksOther.Load(); n != 0 {
		t.Errorf("%d tasks changed to an unexpected state across failover", n)
	}
	checkState(t, s, 50, 100)
}

// checkState reads /master/state through the simulator's handler.
func checkState(t *testing.T, s *Sim, agents, tasks int) {
	t.Helper()
	tr := &MemTransport{}
	tr.SetHandler(s.Handler())
	c := &http.Client{Transport: tr}
	resp, err := c.Get("http://mastersim/master/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("state: %d %s", resp.StatusCode, b)
	}
	st := string(b)
	if n := strings.Count(st, `"TASK_RUNNING"`); n < tasks {
		t.Errorf("/master/state mentions TASK_RUNNING %d times, want at least %d", n, tasks)
	}
	if n := strings.Count(st, `"hostname":"agent-`); n < agents {
		t.Errorf("/master/state lists %d agents, want %d", n, agents)
	}
}

func TestMemTransportStreams(t *testing.T) {
	tr := &MemTransport{}
	release := make(chan struct{})
	tr.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "1")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("3\nabc"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
			_, _ = w.Write([]byte("2\nde"))
		case <-r.Context().Done():
		}
	}))
	req, _ := http.NewRequestWithContext(WithStreaming(context.Background()), http.MethodPost, "http://x/s", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Test") != "1" {
		t.Fatalf("headers not delivered: %v", resp.Header)
	}
	got := make(chan string, 8)
	var d recordDecoder
	attach(resp.Body, func(b []byte, err error) {
		if err != nil {
			got <- "EOF"
			return
		}
		_ = d.feed(b, func(rec []byte) error { got <- string(rec); return nil })
	})
	if g := <-got; g != "abc" {
		t.Fatalf("first record %q", g)
	}
	close(release)
	if g := <-got; g != "de" {
		t.Fatalf("second record %q", g)
	}
	if g := <-got; g != "EOF" {
		t.Fatalf("want end of stream, got %q", g)
	}
	tr.Wait()
	tr.SetHandler(nil)
	if _, err := tr.RoundTrip(req); err != ErrNoMaster {
		t.Fatalf("unmounted transport: err %v, want ErrNoMaster", err)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.13 {
			t.Errorf("q%.2f = %v, want within 12.5%% above %v", c.q, got, c.want)
		}
	}
}
