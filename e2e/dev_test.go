package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// TestDev: `mesosd dev` starts its own containerd, prints its start-up
// message, serves /master/state with one active agent, runs a task to
// TASK_FINISHED, and exits 0 on SIGTERM, stopping its containerd.
func TestDev(t *testing.T) {
	bin := requireE2E(t)
	dir := t.TempDir()
	work := filepath.Join(dir, "data")
	masterPort, agentPort := freePort(t), freePort(t)
	p := &proc{name: "mesosd dev", logPath: filepath.Join(dir, "dev.log")}
	dumpLogsOnFailure(t, p)
	t.Cleanup(func() {
		p.stop(15 * time.Second)
		// Whatever mesosd dev left behind (its containerd, shims) has the
		// work dir on its command line.
		killProcsMentioning(t, work)
	})
	p.start(t, bin, "dev", "--work_dir", work, "--port", strconv.Itoa(masterPort), "--agent_port", strconv.Itoa(agentPort))
	masterURL := "http://127.0.0.1:" + strconv.Itoa(masterPort)

	eventually(t, 60*time.Second, "start-up message", func() error {
		if p.exited() {
			t.Fatalf("mesosd dev exited during start-up: %v", p.exitErr())
		}
		b, _ := os.ReadFile(p.logPath)
		if !strings.Contains(string(b), "mesosd dev is running") || !strings.Contains(string(b), "127.0.0.1:"+strconv.Itoa(masterPort)) {
			return errNotYet
		}
		return nil
	})
	st := waitMasterState(t, masterURL, "one active agent", 60*time.Second, p, func(s *masterState) bool {
		return len(s.Slaves) == 1 && s.Slaves[0].Active
	})
	agentID := st.Slaves[0].ID

	s := newSchedClient(t, masterURL, codec.JSON)
	s.subscribe(frameworkInfo("e2e-dev", 0))
	if got := s.launch(shellTask("dev-echo", "echo dev-ok", 0.1, 32)); got != agentID {
		t.Errorf("offer from agent %q, /master/state lists %q", got, agentID)
	}
	s.waitUpdate("dev-echo", mesos.TaskState_TASK_FINISHED, taskTimeout)
	runs := sandboxRuns(filepath.Join(work, "agent"), agentID, s.frameworkID(), "dev-echo")
	if len(runs) != 1 {
		t.Errorf("sandbox of dev-echo under %s/agent: %v, want one run", work, runs)
	} else if b, err := os.ReadFile(filepath.Join(runs[0], "stdout")); err != nil || !strings.Contains(string(b), "dev-ok") {
		t.Errorf("dev-echo stdout = %q (%v), want dev-ok", b, err)
	}
	s.checkAcks()
	s.teardown()
	s.close()

	sock := filepath.Join(work, "containerd", "containerd.sock")
	if !ctrAnswers(sock) {
		t.Fatalf("no private containerd answering on %s while mesosd dev runs", sock)
	}
	// The agent deletes a task's container once it has exited.
	if len(runs) == 1 {
		cid := filepath.Base(runs[0])
		eventually(t, 20*time.Second, "container of the finished task deleted", func() error {
			if containerExists(sock, cid) {
				return errNotYet
			}
			return nil
		})
	}
	err, clean := p.stop(20 * time.Second)
	if !clean {
		t.Fatalf("mesosd dev did not exit within 20s of SIGTERM")
	}
	if err != nil {
		t.Errorf("mesosd dev exit after SIGTERM: %v, want exit status 0", err)
	}
	if ctrAnswers(sock) {
		t.Errorf("private containerd still answers on %s after mesosd dev stopped", sock)
	}
	for _, pid := range procsMentioning(work) {
		t.Errorf("process left behind by mesosd dev after SIGTERM: pid %d: %s", pid, cmdline(pid))
	}
}

// procsMentioning lists PIDs whose command line contains s.
func procsMentioning(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// killProcsMentioning SIGKILLs the processes whose command line contains s
// (a unique temporary directory, so only processes this test caused).
func killProcsMentioning(t *testing.T, s string) {
	for _, pid := range procsMentioning(s) {
		t.Logf("cleanup: killing leftover pid %d: %s", pid, cmdline(pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
