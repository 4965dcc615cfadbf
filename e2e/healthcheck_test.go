package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	sched "github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// TestHealthCheck runs Mesos task health checks on a real master + agent
// on containerd, through the JSON scheduler API:
//   - web: `python3 -m http.server` with an HTTP check: the scheduler gets
//     TASK_RUNNING healthy=true (reason HEALTH_CHECK_STATUS_UPDATED), and
//     the agent's and master's /state show it;
//   - inside: a COMMAND check that only passes inside the task's
//     container (its PID namespace, sandbox cwd, environment), whose output
//     lands in the sandbox's stderr;
//   - sick: a COMMAND check `exit 1` with consecutive_failures 2: two
//     healthy=false updates, then the task is killed and reported as Mesos'
//     command executor does: TASK_KILLED, healthy=false, no reason.
func TestHealthCheck(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		// Tasks run on the host's root filesystem (read-only).
		t.Skip("needs /usr/bin/python3 on the host for the HTTP server task")
	}
	c := newCluster(t)
	s := newSchedClient(t, c.masterURL(), codec.JSON)
	s.subscribe(frameworkInfo("e2e-health", 60))
	fwID := s.frameworkID()

	port := freePort(t)
	web := shellTask("web", fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port), 0.1, 64)
	web.HealthCheck = &mesos.HealthCheck{
		Type:               mesos.HealthCheck_HTTP.Enum(),
		Http:               &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port)), Path: proto.String("/")},
		DelaySeconds:       proto.Float64(0),
		IntervalSeconds:    proto.Float64(0.5),
		TimeoutSeconds:     proto.Float64(5),
		GracePeriodSeconds: proto.Float64(30), // python's start-up
	}
	inside := shellTask("inside", "sleep 1000", 0.1, 32)
	inside.HealthCheck = &mesos.HealthCheck{
		Type: mesos.HealthCheck_COMMAND.Enum(),
		Command: &mesos.CommandInfo{
			Value: proto.String(`echo "check ran as $CHECK_NAME" >&2; test -f stdout && [ "$MESOS_TASK_ID" = inside ] && ` +
				`[ "$CHECK_NAME" = in-container ] && tr '\0' ' ' </proc/1/cmdline | grep -q 'sleep 1000'`),
			Environment: &mesos.Environment{Variables: []*mesos.Environment_Variable{
				{Name: proto.String("CHECK_NAME"), Value: proto.String("in-container")},
			}},
		},
		DelaySeconds:        proto.Float64(0.2),
		IntervalSeconds:     proto.Float64(0.5),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(1),
	}
	sick := shellTask("sick", "sleep 1000", 0.1, 32)
	sick.HealthCheck = &mesos.HealthCheck{
		Type:                mesos.HealthCheck_COMMAND.Enum(),
		Command:             &mesos.CommandInfo{Value: proto.String("exit 1")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.5),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(2),
	}
	agentID := s.launch(web, inside, sick)

	healthy := func(id string, want bool) func(*sched.Event) bool {
		return func(e *sched.Event) bool {
			st := e.GetUpdate().GetStatus()
			return isUpdateFor(id, mesos.TaskState_TASK_RUNNING)(e) && st.Healthy != nil && st.GetHealthy() == want
		}
	}
	checkHealthUpdate := func(id string, st *mesos.TaskStatus, want bool) {
		t.Helper()
		if st.GetReason() != mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED || st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR ||
			len(st.GetUuid()) == 0 || st.GetHealthy() != want {
			t.Errorf("health update of %s: %v; want TASK_RUNNING healthy=%v, REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, SOURCE_EXECUTOR, a uuid",
				id, st, want)
		}
	}

	t.Run("http", func(t *testing.T) {
		ev, err := s.waitEventFrom(0, taskTimeout, "web healthy", healthy("web", true))
		if err != nil {
			t.Fatalf("%v; updates: %s", err, s.describeUpdates("web"))
		}
		checkHealthUpdate("web", ev.GetUpdate().GetStatus(), true)
		for _, u := range []string{c.agentURL() + "/state", c.masterURL() + "/master/state"} {
			eventually(t, 20*time.Second, "web healthy in "+u, func() error {
				h, err := stateHealth(u, "web")
				if err != nil {
					return err
				}
				if h != "true" {
					return fmt.Errorf("latest TASK_RUNNING status of web has healthy=%s", h)
				}
				return nil
			})
		}
	})

	t.Run("command-in-container", func(t *testing.T) {
		// The first health result, or the end of the task.
		ev, err := s.waitEventFrom(0, taskTimeout, "inside's first health result", func(e *sched.Event) bool {
			st := e.GetUpdate().GetStatus()
			return isUpdateFor("inside")(e) && (st.Healthy != nil || (st.GetState() != mesos.TaskState_TASK_RUNNING &&
				st.GetState() != mesos.TaskState_TASK_STARTING))
		})
		if err != nil {
			t.Fatalf("%v; updates: %s", err, s.describeUpdates("inside"))
		}
		st := ev.GetUpdate().GetStatus()
		if st.GetState() != mesos.TaskState_TASK_RUNNING || !st.GetHealthy() {
			t.Fatalf("first health result of inside: %s healthy=%v; the check does not run in the task's container (updates: %s)",
				st.GetState(), st.GetHealthy(), s.describeUpdates("inside"))
		}
		checkHealthUpdate("inside", st, true)
		runs := sandboxRuns(c.agentDir, agentID, fwID, "inside")
		if len(runs) != 1 {
			t.Fatalf("sandbox runs of inside: %v", runs)
		}
		b, _ := os.ReadFile(filepath.Join(runs[0], "stderr"))
		if !strings.Contains(string(b), "check ran as in-container") {
			t.Errorf("sandbox stderr of inside = %q, want the check's output", b)
		}
	})

	t.Run("kill-unhealthy", func(t *testing.T) {
		st := s.waitUpdate("sick", mesos.TaskState_TASK_KILLED, taskTimeout)
		if st.Healthy == nil || st.GetHealthy() || st.Reason != nil || st.GetSource() != mesos.TaskStatus_SOURCE_EXECUTOR ||
			!strings.Contains(st.GetMessage(), "signal") {
			t.Errorf("terminal update of sick: %v; want TASK_KILLED healthy=false, no reason, SOURCE_EXECUTOR, killed by a signal", st)
		}
		var health []*mesos.TaskStatus
		var states []string
		for _, u := range s.updates("sick") {
			if len(u.GetUuid()) == 0 {
				continue
			}
			states = append(states, u.GetState().String())
			if u.GetState() == mesos.TaskState_TASK_RUNNING && u.Healthy != nil {
				health = append(health, u)
			}
		}
		want := "TASK_STARTING TASK_RUNNING TASK_RUNNING TASK_RUNNING TASK_KILLED"
		if strings.Join(states, " ") != want || len(health) != 2 {
			t.Fatalf("updates of sick: %s; want %s (two healthy=false, then killed)", s.describeUpdates("sick"), want)
		}
		for _, h := range health {
			checkHealthUpdate("sick", h, false)
		}
		ex, err := c.executor("sick")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "sick's container removed", func() error {
			if taskExists(c.sock, ex.Container) {
				return errNotYet
			}
			return nil
		})
	})

	// A framework kill of a healthy task is a plain TASK_KILLED.
	s.kill("web", agentID)
	if st := s.waitUpdate("web", mesos.TaskState_TASK_KILLED, taskTimeout); st.Healthy != nil {
		t.Errorf("framework-killed web reported healthy=%v", st.GetHealthy())
	}
	s.checkAcks()
}

// stateHealth is the healthy field ("true", "false" or "unset") of the
// latest TASK_RUNNING status of task id in a /state or /master/state.
func stateHealth(stateURL, id string) (string, error) {
	code, body, err := httpGet(stateURL)
	if err != nil {
		return "", err
	}
	if code != 200 {
		return "", fmt.Errorf("GET %s: %d", stateURL, code)
	}
	type task struct {
		ID       string `json:"id"`
		Statuses []struct {
			State   string `json:"state"`
			Healthy *bool  `json:"healthy"`
		} `json:"statuses"`
	}
	var st struct {
		Frameworks []struct {
			Tasks     []task `json:"tasks"`
			Executors []struct {
				Tasks []task `json:"tasks"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("GET %s: %v", stateURL, err)
	}
	var tasks []task
	for _, f := range st.Frameworks {
		tasks = append(tasks, f.Tasks...)
		for _, e := range f.Executors {
			tasks = append(tasks, e.Tasks...)
		}
	}
	for _, tk := range tasks {
		if tk.ID != id {
			continue
		}
		h := "unset"
		for _, s := range tk.Statuses {
			if s.State == "TASK_RUNNING" && s.Healthy != nil {
				h = fmt.Sprint(*s.Healthy)
			}
		}
		return h, nil
	}
	return "", fmt.Errorf("task %s not in %s", id, stateURL)
}
