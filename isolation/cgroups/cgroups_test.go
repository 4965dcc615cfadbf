package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hybridMountinfo = `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const unifiedMountinfo = `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

const legacyMountinfo = `31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/my\040memory rw,relatime - cgroup cgroup rw,memory
`

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		mode       Mode
		mem, cpu   string
		v2         string
		modeString string
	}{
		{"hybrid", hybridMountinfo, Hybrid, "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified", "hybrid"},
		{"unified", unifiedMountinfo, Unified, "", "", "/sys/fs/cgroup", "v2"},
		{"legacy", legacyMountinfo, Legacy, "/sys/fs/cgroup/my memory", "/sys/fs/cgroup/cpu,cpuacct", "", "v1"},
		{"none", "", Unavailable, "", "", "", "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseMountinfo(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if h.Mode != tc.mode || h.Mode.String() != tc.modeString {
				t.Errorf("mode = %v, want %v", h.Mode, tc.mode)
			}
			if got := h.V1Controller("memory"); got != tc.mem {
				t.Errorf("memory = %q, want %q", got, tc.mem)
			}
			if got := h.V1Controller("cpu"); got != tc.cpu {
				t.Errorf("cpu = %q, want %q", got, tc.cpu)
			}
			if h.V2 != tc.v2 {
				t.Errorf("v2 = %q, want %q", h.V2, tc.v2)
			}
		})
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestV1Readers(t *testing.T) {
	root := t.TempDir()
	h := &Hierarchy{Mode: Hybrid, V1: map[string]string{
		"memory":  filepath.Join(root, "memory"),
		"cpu":     filepath.Join(root, "cpu"),
		"cpuacct": filepath.Join(root, "cpuacct"),
	}, V2: filepath.Join(root, "unified")}
	cg := "/mesosd/c1"
	writeFiles(t, filepath.Join(root, "memory", cg), map[string]string{
		"memory.usage_in_bytes":     "1000\n",
		"memory.max_usage_in_bytes": "33554432\n",
		"memory.limit_in_bytes":     "33554432\n",
		"memory.failcnt":            "12\n",
		"memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
		"memory.stat":               "cache 10\nrss 20\ntotal_cache 100\ntotal_rss 200\n",
	})
	writeFiles(t, filepath.Join(root, "cpu", cg), map[string]string{
		"cpu.cfs_quota_us":  "50000\n",
		"cpu.cfs_period_us": "100000\n",
		"cpu.shares":        "512\n",
		"cpu.stat":          "nr_periods 10\nnr_throttled 3\nthrottled_time 999\n",
	})
	writeFiles(t, filepath.Join(root, "cpuacct", cg), map[string]string{"cpuacct.usage": "12345\n"})

	if !h.Exists(cg) || h.Exists("/mesosd/nope") {
		t.Fatal("Exists wrong")
	}
	m, err := h.Memory(cg)
	if err != nil {
		t.Fatal(err)
	}
	want := MemoryStats{Usage: 1000, MaxUsage: 33554432, Limit: 33554432, Failcnt: 12, OOMKills: 1, Anon: 200, File: 100}
	if m != want {
		t.Errorf("memory = %+v, want %+v", m, want)
	}
	c, err := h.CPU(cg)
	if err != nil {
		t.Fatal(err)
	}
	wantC := CPUStats{Quota: 50000, Period: 100000, Shares: 512, UsageNanos: 12345, ThrottledPeriods: 3, ThrottledNanos: 999}
	if c != wantC {
		t.Errorf("cpu = %+v, want %+v", c, wantC)
	}
	// Unlimited v1 memory reads as 0.
	writeFiles(t, filepath.Join(root, "memory", cg), map[string]string{"memory.limit_in_bytes": "9223372036854771712\n"})
	if m, _ := h.Memory(cg); m.Limit != 0 {
		t.Errorf("unlimited limit = %d", m.Limit)
	}
	if _, err := h.Memory("/mesosd/nope"); err == nil {
		t.Error("missing cgroup: want error")
	}
}

func TestV2Readers(t *testing.T) {
	root := t.TempDir()
	h := &Hierarchy{Mode: Unified, V1: map[string]string{}, V2: root}
	cg := "/mesosd/c2"
	writeFiles(t, filepath.Join(root, cg), map[string]string{
		"memory.current": "4096\n",
		"memory.peak":    "8192\n",
		"memory.max":     "33554432\n",
		"memory.events":  "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n",
		"memory.stat":    "anon 300\nfile 400\n",
		"cpu.max":        "150000 100000\n",
		"cpu.weight":     "59\n",
		"cpu.stat":       "usage_usec 10\nnr_throttled 2\nthrottled_usec 5\n",
	})
	m, err := h.Memory(cg)
	if err != nil {
		t.Fatal(err)
	}
	want := MemoryStats{Usage: 4096, MaxUsage: 8192, Limit: 33554432, Failcnt: 7, OOM: 1, OOMKills: 1, Anon: 300, File: 400}
	if m != want {
		t.Errorf("memory = %+v, want %+v", m, want)
	}
	c, err := h.CPU(cg)
	if err != nil {
		t.Fatal(err)
	}
	wantC := CPUStats{Quota: 150000, Period: 100000, Weight: 59, UsageNanos: 10000, ThrottledPeriods: 2, ThrottledNanos: 5000}
	if c != wantC {
		t.Errorf("cpu = %+v, want %+v", c, wantC)
	}
	writeFiles(t, filepath.Join(root, cg), map[string]string{"cpu.max": "max 100000\n", "memory.max": "max\n"})
	if c, _ := h.CPU(cg); c.Quota != -1 {
		t.Errorf("unlimited quota = %d", c.Quota)
	}
	if m, _ := h.Memory(cg); m.Limit != 0 {
		t.Errorf("unlimited memory = %d", m.Limit)
	}
}

func TestUnsupported(t *testing.T) {
	h := &Hierarchy{Mode: Unavailable}
	if _, err := h.Memory("/x"); err == nil {
		t.Fatal("want error")
	}
}

func TestDetectHost(t *testing.T) {
	h, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host cgroups: mode=%v v1=%v v2=%q", h.Mode, h.V1, h.V2)
}
