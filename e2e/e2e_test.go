package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

var codecs = []codec.Codec{codec.JSON, codec.Protobuf}

const (
	// The cgroup parent the containerizer puts tasks under
	// (agent/containerizer/ctrd DefaultCgroupParent).
	cgroupParent = "/mesosd"
	// taskTimeout bounds one task state transition.
	taskTimeout = 60 * time.Second
)

// TestTasks runs the single-task scenarios against one master + agent,
// once per codec, all four tasks of a codec in one ACCEPT:
//   - a command task's lifecycle, stdout/stderr in the sandbox and through
//     /files/read;
//   - the memory limit: an allocation far past mem:32 fails the task with
//     REASON_CONTAINER_LIMITATION_MEMORY, and the cgroup limits of a running
//     task (mem:64, cpus:0.5) are really set;
//   - KILL of a running task, whose container is gone afterwards;
//   - a non-zero exit.
//
// Then TEARDOWN removes the framework.
func TestTasks(t *testing.T) {
	c := newCluster(t)
	for _, cd := range codecs {
		t.Run(codecName(cd), func(t *testing.T) {
			testTasks(t, c, cd)
		})
	}
}

func testTasks(t *testing.T, c *cluster, cd codec.Codec) {
	name := codecName(cd)
	s := newSchedClient(t, c.masterURL(), cd)
	s.subscribe(frameworkInfo("e2e-tasks-"+name, 60))
	fwID := s.frameworkID()

	hello := "hello-" + name
	oom := "oom-" + name
	sleeper := "sleep-" + name
	exit3 := "exit3-" + name
	agentID := s.launch(
		shellTask(hello, "echo hello-e2e; echo err >&2", 0.1, 32),
		shellTask(oom, `x=$(head -c 200000000 /dev/zero | tr "\0" a); echo ${#x}`, 0.1, 32),
		shellTask(sleeper, "sleep 1000", 0.5, 64),
		shellTask(exit3, "exit 3", 0.1, 32),
	)
	if agentID != c.agentID {
		t.Errorf("offer from agent %q, /master/state lists %q", agentID, c.agentID)
	}

	t.Run("command", func(t *testing.T) {
		st := s.waitUpdate(hello, mesos.TaskState_TASK_FINISHED, taskTimeout)
		if got, want := s.reliableStates(hello), []string{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"}; !reflect.DeepEqual(got, want) {
			t.Errorf("task %s: states %v, want %v (all: %s)", hello, got, want, s.describeUpdates(hello))
		}
		if st.GetAgentId().GetValue() != agentID {
			t.Errorf("TASK_FINISHED agent_id %q, want %q", st.GetAgentId().GetValue(), agentID)
		}
		runs := sandboxRuns(c.agentDir, agentID, fwID, hello)
		if len(runs) != 1 {
			t.Fatalf("sandbox runs of %s under %s: %v, want exactly one <work_dir>/slaves/%s/frameworks/%s/executors/%s/runs/<container>",
				hello, c.agentDir, runs, agentID, fwID, hello)
		}
		dir := runs[0]
		for file, want := range map[string]string{"stdout": "hello-e2e\n", "stderr": "err\n"} {
			p := filepath.Join(dir, file)
			// TASK_FINISHED means the output is complete: read it once.
			b, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("sandbox %s: %v", file, err)
			} else if !strings.Contains(string(b), want) {
				t.Errorf("sandbox %s = %q, want it to contain %q", p, b, want)
			}
			data, err := readFileEndpoint(c.agentURL(), p)
			if err != nil {
				t.Errorf("agent /files/read %s: %v", file, err)
			} else if !strings.Contains(data, want) {
				t.Errorf("agent /files/read?path=%s: data %q, want it to contain %q", p, data, want)
			}
		}
	})

	// As in Mesos, the agent's /state keeps a finished command task's
	// executor under frameworks[].completed_executors, with its sandbox
	// directory (how UIs and CLIs find the logs of finished tasks), also
	// after the terminal update was acknowledged.
	t.Run("agent-state-completed-executor", func(t *testing.T) {
		s.checkAcks()
		var st *agentState
		eventually(t, 10*time.Second, "task "+hello+" completed in the agent's /state", func() error {
			var err error
			if st, err = c.agentState(); err != nil {
				return err
			}
			if !st.hasCompletedTask(hello) && st.completedExecutor(fwID, hello) == nil {
				return errNotYet
			}
			return nil
		})
		ex := st.completedExecutor(fwID, hello)
		if ex == nil {
			t.Fatalf("agent /state after TASK_FINISHED of %s was acknowledged: executor %s is in no framework's completed_executors "+
				"(the task is only in the top-level completed_tasks, so its sandbox directory is no longer listed); executors: %s",
				hello, hello, st.executorIDs())
		}
		runs := sandboxRuns(c.agentDir, agentID, fwID, hello)
		if len(runs) != 1 || ex.Directory != runs[0] || ex.Container != filepath.Base(runs[0]) {
			t.Errorf("agent /state completed executor %s: directory %q container %q, want the sandbox %v", hello, ex.Directory, ex.Container, runs)
		}
	})

	t.Run("exit3", func(t *testing.T) {
		st := s.waitUpdate(exit3, mesos.TaskState_TASK_FAILED, taskTimeout)
		if !strings.Contains(st.GetMessage(), "status 3") {
			t.Errorf("TASK_FAILED message %q, want it to mention status 3", st.GetMessage())
		}
		if got := s.reliableStates(exit3); len(got) == 0 || got[len(got)-1] != "TASK_FAILED" {
			t.Errorf("task %s: states %v, want TASK_FAILED last", exit3, got)
		}
	})

	t.Run("memory-limit", func(t *testing.T) {
		ev, err := s.waitEventFrom(0, 2*taskTimeout, "terminal update of "+oom, isUpdateFor(oom,
			mesos.TaskState_TASK_FAILED, mesos.TaskState_TASK_FINISHED, mesos.TaskState_TASK_KILLED, mesos.TaskState_TASK_LOST, mesos.TaskState_TASK_ERROR))
		if err != nil {
			t.Fatalf("%v; updates: %s", err, s.describeUpdates(oom))
		}
		st := ev.GetUpdate().GetStatus()
		if st.GetState() != mesos.TaskState_TASK_FAILED || st.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || st.GetSource() != mesos.TaskStatus_SOURCE_AGENT {
			t.Errorf("task %s allocating 200 MB with mem:32: got %s reason %s source %s message %q; want TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY, SOURCE_AGENT",
				oom, st.GetState(), st.GetReason(), st.GetSource(), st.GetMessage())
		}
		if runs := sandboxRuns(c.agentDir, agentID, fwID, oom); len(runs) == 1 {
			if b, _ := os.ReadFile(filepath.Join(runs[0], "stdout")); strings.Contains(string(b), "200000000") {
				t.Errorf("task %s printed %q: it held 200 MB despite mem:32", oom, b)
			}
		}
	})

	t.Run("cgroup-and-kill", func(t *testing.T) {
		s.waitUpdate(sleeper, mesos.TaskState_TASK_RUNNING, taskTimeout)
		ex, err := c.executor(sleeper)
		if err != nil {
			t.Fatal(err)
		}
		cid := ex.Container
		if cid == "" {
			t.Fatalf("agent /state has no container for %s", sleeper)
		}
		if !taskExists(c.sock, cid) {
			t.Errorf("container %s of running task %s: no containerd task (ctr tasks ls: %v)", cid, sleeper, ctrList(c.sock, "tasks"))
		}
		lim, err := readCgroupLimits(cgroupParent + "/" + cid)
		if err != nil {
			t.Errorf("cgroup of %s: %v", cid, err)
		} else {
			t.Logf("cgroup %s (%s): memory %d bytes, cpu quota %.3f, shares/weight %d", lim.memDir, lim.layout, lim.memBytes, lim.cpuQuota, lim.cpuShares)
			if want := int64(64 << 20); lim.memBytes != want {
				t.Errorf("memory limit of task with mem:64 = %d bytes, want %d", lim.memBytes, want)
			}
			if math.Abs(lim.cpuQuota-0.5) > 0.01 {
				t.Errorf("CFS quota of task with cpus:0.5 = %.3f CPUs, want 0.5", lim.cpuQuota)
			}
			if lim.layout == "v1" && lim.cpuShares != 512 {
				t.Errorf("cpu.shares of task with cpus:0.5 = %d, want 512", lim.cpuShares)
			}
		}

		// Implicit reconciliation answers for the running task; explicit
		// reconciliation of a task the master never saw, on a registered
		// agent, answers TASK_LOST (not partition-aware). Master-generated
		// answers carry no uuid.
		from := s.eventCount()
		s.reconcile(nil)
		rs := s.waitUpdateFrom(from, sleeper, mesos.TaskState_TASK_RUNNING, 20*time.Second)
		if rs.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION || rs.GetSource() != mesos.TaskStatus_SOURCE_MASTER || len(rs.GetUuid()) != 0 {
			t.Errorf("implicit reconciliation answer for %s: reason %s source %s uuid %x; want REASON_RECONCILIATION, SOURCE_MASTER, no uuid",
				sleeper, rs.GetReason(), rs.GetSource(), rs.GetUuid())
		}
		ghost := "never-launched-" + name
		from = s.eventCount()
		s.reconcile(map[string]string{ghost: agentID})
		if gs := s.waitUpdateFrom(from, ghost, mesos.TaskState_TASK_LOST, 20*time.Second); len(gs.GetUuid()) != 0 {
			t.Errorf("reconciliation answer for unknown task carries a uuid")
		}

		from = s.eventCount()
		s.kill(sleeper, agentID)
		s.waitUpdateFrom(from, sleeper, mesos.TaskState_TASK_KILLED, taskTimeout)
		if got, want := s.reliableStates(sleeper), []string{"TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"}; !reflect.DeepEqual(got, want) {
			t.Errorf("task %s: states %v, want %v (no TASK_KILLING without the TASK_KILLING_STATE capability); all: %s",
				sleeper, got, want, s.describeUpdates(sleeper))
		}
		eventually(t, 20*time.Second, "container of killed task removed from containerd", func() error {
			if containerExists(c.sock, cid) || taskExists(c.sock, cid) {
				return fmt.Errorf("container %s still listed (tasks: %v)", cid, ctrList(c.sock, "tasks")[cid])
			}
			return nil
		})
	})

	// Every task is terminal and acknowledged: the master moves them to
	// completed_tasks, and the agent deletes every container.
	s.checkAcks()
	c.waitState("all tasks of "+fwID+" completed after acknowledgement", 20*time.Second, func(st *masterState) bool {
		f := st.framework(fwID)
		return f != nil && len(f.Tasks) == 0 && len(f.CompletedTasks) == 4
	})
	for _, id := range []string{hello, oom, sleeper, exit3} {
		runs := sandboxRuns(c.agentDir, agentID, fwID, id)
		for _, r := range runs {
			cid := filepath.Base(r)
			eventually(t, 20*time.Second, "container of finished task "+id+" deleted", func() error {
				if containerExists(c.sock, cid) {
					return fmt.Errorf("container %s still in containerd", cid)
				}
				return nil
			})
		}
	}

	// TEARDOWN: the framework moves to completed_frameworks.
	s.teardown()
	c.waitState("framework "+fwID+" removed after TEARDOWN", 20*time.Second, func(st *masterState) bool {
		return st.framework(fwID) == nil && st.completedFramework(fwID)
	})
}

// TestMasterRestart: kill -9 the master while a framework (failover_timeout
// 3600) has a task running, restart it with the same work dir. The registry
// brings back the framework and the agent, the agent re-registers with its
// task, the framework re-subscribes with its ID, reconciliation reports the
// task running, the update of a task that finished while the master was
// down is delivered, and KILL still works.
func TestMasterRestart(t *testing.T) {
	for _, cd := range codecs {
		t.Run(codecName(cd), func(t *testing.T) { testMasterRestart(t, cd) })
	}
}

func testMasterRestart(t *testing.T, cd codec.Codec) {
	c := newCluster(t)
	s := newSchedClient(t, c.masterURL(), cd)
	info := frameworkInfo("e2e-master-restart", 3600)
	s.subscribe(info)
	fwID := s.frameworkID()
	agentID := s.launch(
		shellTask("long", "sleep 1000", 0.1, 32),
		// Finishes while the master is down (the test creates "go" in
		// its sandbox): its update must reach the framework afterwards.
		shellTask("gated", "while [ ! -e go ]; do sleep 0.1; done", 0.1, 32),
	)
	s.waitUpdate("long", mesos.TaskState_TASK_RUNNING, taskTimeout)
	s.waitUpdate("gated", mesos.TaskState_TASK_RUNNING, taskTimeout)
	ex, err := c.executor("long")
	if err != nil {
		t.Fatal(err)
	}
	gatedEx, err := c.executor("gated")
	if err != nil {
		t.Fatal(err)
	}
	cid := ex.Container
	pid := taskPID(c.sock, cid)
	s.checkAcks()
	t.Logf("framework %s, task long on agent %s in container %s (init pid %d)", fwID, agentID, cid, pid)

	c.master.kill9(t)
	eventually(t, 10*time.Second, "subscription stream ends with the master", func() error {
		if ended, _ := s.streamEnded(); !ended {
			return errNotYet
		}
		return nil
	})
	if err := os.WriteFile(filepath.Join(gatedEx.Directory, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "task gated's container stops while the master is down", func() error {
		if line, ok := ctrList(c.sock, "tasks")[gatedEx.Container]; ok && !strings.Contains(line, "STOPPED") {
			return fmt.Errorf("ctr tasks ls: %s", line)
		}
		return nil
	})
	c.startMaster()

	// The framework comes back from the registry (not connected, recovered),
	// and the agent re-registers under the same ID with the task.
	st := c.waitState("framework recovered, agent re-registered with task long RUNNING", 60*time.Second, func(s *masterState) bool {
		f := s.framework(fwID)
		if f == nil || len(s.Slaves) != 1 || s.Slaves[0].ID != agentID || !s.Slaves[0].Active {
			return false
		}
		tk := f.task("long")
		return tk != nil && tk.State == "TASK_RUNNING"
	})
	f := st.framework(fwID)
	if f.Active || f.Connected {
		t.Errorf("framework %s before re-subscribing: active=%v connected=%v, want both false", fwID, f.Active, f.Connected)
	}
	if !f.Recovered {
		t.Errorf("framework %s before re-subscribing: recovered=false, want true", fwID)
	}
	if tk := f.task("long"); tk.SlaveID != agentID {
		t.Errorf("task long on agent %q, want %q", tk.SlaveID, agentID)
	}
	if got := taskPID(c.sock, cid); got != pid {
		t.Errorf("init pid of task long's container %s: %d after the master restart, %d before", cid, got, pid)
	}

	t.Logf("restarted master lists framework %s (recovered=%v active=%v) and agent %s with long %s",
		fwID, f.Recovered, f.Active, agentID, f.task("long").State)

	info.Id = &mesos.FrameworkID{Value: &fwID}
	from := s.eventCount()
	s.subscribe(info) // fails unless SUBSCRIBED carries the same ID
	st = c.waitState("framework active after re-subscribe", 20*time.Second, func(s *masterState) bool {
		f := s.framework(fwID)
		return f != nil && f.Active && f.Connected
	})
	if f := st.framework(fwID); f.Recovered {
		t.Errorf("framework %s still recovered=true after re-subscribing", fwID)
	}
	// The restarted master offers the re-registered agent again.
	if o := s.takeOffer(30 * time.Second); o.GetAgentId().GetValue() != agentID {
		t.Errorf("offer after re-subscribing from agent %q, want %q", o.GetAgentId().GetValue(), agentID)
	}

	s.reconcile(map[string]string{"long": agentID})
	rs := s.waitUpdateFrom(from, "long", mesos.TaskState_TASK_RUNNING, 30*time.Second)
	if rs.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION {
		t.Errorf("reconciliation answer for long: reason %s (message %q), want REASON_RECONCILIATION", rs.GetReason(), rs.GetMessage())
	}

	// The update produced while the master was down arrives (the agent
	// retries it until the re-subscribed framework acknowledges it).
	t0 := time.Now()
	gs := s.waitUpdateFrom(from, "gated", mesos.TaskState_TASK_FINISHED, 60*time.Second)
	if len(gs.GetUuid()) == 0 {
		t.Errorf("TASK_FINISHED of gated has no uuid: it is a reconciliation answer, not the agent's update")
	}
	t.Logf("TASK_FINISHED of gated (produced while the master was down) arrived %s after reconciliation", time.Since(t0).Round(time.Millisecond))

	from = s.eventCount()
	s.kill("long", agentID)
	s.waitUpdateFrom(from, "long", mesos.TaskState_TASK_KILLED, taskTimeout)
	eventually(t, 20*time.Second, "container of killed task removed", func() error {
		if containerExists(c.sock, cid) {
			return fmt.Errorf("container %s still listed", cid)
		}
		return nil
	})
	s.checkAcks()
	s.teardown()
}

// TestAgentRestart: kill -9 the agent while tasks run and restart it with the
// same work dir. It keeps its ID, the long task keeps running in the same
// container (same init PID, no new STARTING/RUNNING), the short task that
// finished while the agent was down is reported TASK_FINISHED after the
// restart, and KILL works afterwards.
func TestAgentRestart(t *testing.T) {
	for _, cd := range codecs {
		t.Run(codecName(cd), func(t *testing.T) { testAgentRestart(t, cd) })
	}
}

func testAgentRestart(t *testing.T, cd codec.Codec) {
	c := newCluster(t)
	s := newSchedClient(t, c.masterURL(), cd)
	s.subscribe(frameworkInfo("e2e-agent-restart", 3600))
	agentID := s.launch(
		shellTask("long", "sleep 1000", 0.1, 32),
		// Exits once the test creates "go" in its sandbox (its cwd),
		// which it does while the agent is down.
		shellTask("short", "while [ ! -e go ]; do sleep 0.1; done", 0.1, 32),
	)
	s.waitUpdate("long", mesos.TaskState_TASK_RUNNING, taskTimeout)
	s.waitUpdate("short", mesos.TaskState_TASK_RUNNING, taskTimeout)
	longEx, err := c.executor("long")
	if err != nil {
		t.Fatal(err)
	}
	shortEx, err := c.executor("short")
	if err != nil {
		t.Fatal(err)
	}
	longPID := taskPID(c.sock, longEx.Container)
	if longPID == 0 {
		t.Fatalf("no containerd task for container %s of long", longEx.Container)
	}
	s.checkAcks()

	t.Logf("agent %s; long in container %s (init pid %d), short in %s", agentID, longEx.Container, longPID, shortEx.Container)

	c.agent.kill9(t)
	// The master notices the broken connection and deactivates the agent
	// (it stays registered: well within the ping timeout).
	c.waitState("agent "+agentID+" inactive after kill -9", 20*time.Second, func(st *masterState) bool {
		return len(st.Slaves) == 1 && st.Slaves[0].ID == agentID && !st.Slaves[0].Active
	})
	// short finishes while the agent is down.
	if err := os.WriteFile(filepath.Join(shortEx.Directory, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "task short's container stops while the agent is down", func() error {
		line, ok := ctrList(c.sock, "tasks")[shortEx.Container]
		if ok && !strings.Contains(line, "STOPPED") {
			return fmt.Errorf("ctr tasks ls: %s", line)
		}
		return nil
	})
	if got := s.updates("short"); len(got) > 0 && got[len(got)-1].GetState() == mesos.TaskState_TASK_FINISHED {
		t.Fatalf("TASK_FINISHED of short arrived while its agent was down (%s)", s.describeUpdates("short"))
	}
	c.startAgent()
	c.waitAgentActive(agentID, 60*time.Second)
	t.Logf("agent restarted and re-registered as %s", agentID)

	st := s.waitUpdate("short", mesos.TaskState_TASK_FINISHED, 60*time.Second)
	if st.GetAgentId().GetValue() != agentID {
		t.Errorf("TASK_FINISHED of short from agent %q, want %q", st.GetAgentId().GetValue(), agentID)
	}

	ex, err := c.executor("long")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Container != longEx.Container {
		t.Errorf("after the agent restart long runs in container %q, before in %q", ex.Container, longEx.Container)
	}
	if pid := taskPID(c.sock, longEx.Container); pid != longPID {
		t.Errorf("init PID of long's container: %d after the agent restart, %d before (restarted?)", pid, longPID)
	}
	if got, want := s.reliableStates("long"), []string{"TASK_STARTING", "TASK_RUNNING"}; !reflect.DeepEqual(got, want) {
		t.Errorf("long: states %v, want %v (all: %s)", got, want, s.describeUpdates("long"))
	}
	if st, err := c.state(); err == nil {
		if f := st.framework(s.frameworkID()); f == nil || f.task("long") == nil || f.task("long").State != "TASK_RUNNING" {
			t.Errorf("/master/state after the agent restart: long not TASK_RUNNING: %v", st)
		}
	}

	from := s.eventCount()
	s.kill("long", agentID)
	s.waitUpdateFrom(from, "long", mesos.TaskState_TASK_KILLED, taskTimeout)
	eventually(t, 20*time.Second, "container of killed task removed", func() error {
		if containerExists(c.sock, longEx.Container) {
			return fmt.Errorf("container %s still listed", longEx.Container)
		}
		return nil
	})
	s.checkAcks()
	s.teardown()
}
