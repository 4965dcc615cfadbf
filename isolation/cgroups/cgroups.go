// Package cgroups detects how the host mounts cgroups (v1, v2 or the hybrid
// layout) and reads the few per-container files the agent needs: OOM
// counters before a dead container's cgroup is deleted, CPU limits, and
// memory/CPU usage for metrics.
//
// It never creates or removes cgroups: runc owns their lifecycle. Paths
// passed to the readers are cgroup paths relative to the hierarchy root
// (e.g. "/mesosd/task-1"), exactly what goes into the OCI spec's
// linux.cgroupsPath.
//
// Invariant: detection is based on /proc/self/mountinfo, never on
// assumptions about /sys/fs/cgroup, because hosts differ (pure v1, hybrid
// with a cgroup2 tree at /sys/fs/cgroup/unified, or pure v2).
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is the host's cgroup layout.
type Mode int

const (
	// Unavailable means no cgroup filesystem is mounted.
	Unavailable Mode = iota
	// Legacy is cgroup v1 only.
	Legacy
	// Hybrid is cgroup v1 controllers plus a controller-less cgroup2
	// tree (systemd's "hybrid" layout). Resource control goes through v1.
	Hybrid
	// Unified is cgroup v2 only.
	Unified
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "v1"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "v2"
	}
	return "unavailable"
}

// ErrUnsupported is returned when a controller needed for a reading is not
// mounted.
var ErrUnsupported = errors.New("cgroup controller not available")

// Hierarchy describes where the cgroup filesystems are mounted.
type Hierarchy struct {
	Mode Mode
	// V1 maps a v1 controller name ("memory", "cpu", "name=systemd", ...)
	// to its mount point.
	V1 map[string]string
	// V2 is the cgroup2 mount point, "" if none.
	V2 string
}

// Detect reads /proc/self/mountinfo.
func Detect() (*Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	defer f.Close()
	return ParseMountinfo(f)
}

// ParseMountinfo builds a Hierarchy from mountinfo(5) content.
func ParseMountinfo(r io.Reader) (*Hierarchy, error) {
	h := &Hierarchy{V1: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		switch fields[sep+1] {
		case "cgroup2":
			// With several cgroup2 mounts (e.g. bind mounts into
			// containers) the first one wins: it is the host's.
			if h.V2 == "" {
				h.V2 = mp
			}
		case "cgroup":
			for _, opt := range strings.Split(fields[sep+3], ",") {
				switch opt {
				case "rw", "ro", "":
					continue
				}
				if _, dup := h.V1[opt]; !dup {
					h.V1[opt] = mp
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	// A v1 mount carries options such as "clone_children" or "noprefix"
	// too; they are harmless map entries nobody looks up.
	hasV1 := len(h.V1) > 0
	switch {
	case hasV1 && h.V2 != "":
		h.Mode = Hybrid
	case hasV1:
		h.Mode = Legacy
	case h.V2 != "":
		h.Mode = Unified
	}
	return h, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) the
// kernel uses in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// V1Controller returns the mount point of a v1 controller, or "" when the
// controller is not a v1 one (so it is on v2, or absent).
func (h *Hierarchy) V1Controller(name string) string {
	return h.V1[name]
}

// usesV1 reports whether a controller is managed through v1. In hybrid
// mode runc uses v1 for every mounted v1 controller.
func (h *Hierarchy) usesV1(ctrl string) bool {
	return h.V1[ctrl] != ""
}

// dir returns the directory of cgroup cg for controller ctrl.
func (h *Hierarchy) dir(ctrl, cg string) (string, error) {
	if mp := h.V1[ctrl]; mp != "" {
		return filepath.Join(mp, cg), nil
	}
	if h.V2 != "" && h.Mode == Unified {
		return filepath.Join(h.V2, cg), nil
	}
	return "", fmt.Errorf("%s controller: %w", ctrl, ErrUnsupported)
}

// Exists reports whether cgroup cg exists in the memory hierarchy (the one
// the agent cares about most; used to decide whether OOM counters can still
// be read).
func (h *Hierarchy) Exists(cg string) bool {
	d, err := h.dir("memory", cg)
	if err != nil {
		return false
	}
	_, err = os.Stat(d)
	return err == nil
}

// MemoryStats are the memory counters of one cgroup. Fields the host does
// not expose stay zero.
type MemoryStats struct {
	Usage    uint64 // bytes currently charged
	MaxUsage uint64 // peak bytes (v1 max_usage_in_bytes, v2 memory.peak)
	Limit    uint64 // hard limit; 0 = unlimited
	Failcnt  uint64 // v1: times the limit was hit; v2: memory.events "max"
	OOM      uint64 // v2 memory.events "oom"; v1 under_oom is a state, so 0
	OOMKills uint64 // processes killed by the OOM killer in this cgroup
	Anon     uint64 // anonymous memory (rss), for the "Memory limit exceeded" message
	File     uint64 // page cache
}

// Memory reads the memory counters of cgroup cg.
func (h *Hierarchy) Memory(cg string) (MemoryStats, error) {
	d, err := h.dir("memory", cg)
	if err != nil {
		return MemoryStats{}, err
	}
	var st MemoryStats
	if h.usesV1("memory") {
		if st.Usage, err = readUint(d, "memory.usage_in_bytes"); err != nil {
			return st, err
		}
		st.MaxUsage, _ = readUint(d, "memory.max_usage_in_bytes")
		st.Limit, _ = readUint(d, "memory.limit_in_bytes")
		st.Failcnt, _ = readUint(d, "memory.failcnt")
		// oom_kill exists since Linux 4.13.
		kv, _ := readKV(d, "memory.oom_control")
		st.OOMKills = kv["oom_kill"]
		kv, _ = readKV(d, "memory.stat")
		st.Anon, st.File = kv["total_rss"], kv["total_cache"]
		if st.Limit >= 1<<62 { // the v1 "unlimited" sentinel is ~2^63 rounded to pages
			st.Limit = 0
		}
		return st, nil
	}
	if st.Usage, err = readUint(d, "memory.current"); err != nil {
		return st, err
	}
	st.MaxUsage, _ = readUint(d, "memory.peak")
	st.Limit, _ = readUint(d, "memory.max") // "max" parses as error → 0 = unlimited
	kv, _ := readKV(d, "memory.events")
	st.Failcnt, st.OOM, st.OOMKills = kv["max"], kv["oom"], kv["oom_kill"]
	kv, _ = readKV(d, "memory.stat")
	st.Anon, st.File = kv["anon"], kv["file"]
	return st, nil
}

// CPUStats are the CPU settings and counters of one cgroup.
type CPUStats struct {
	// Quota is the CFS quota in µs per Period; -1 = unlimited.
	Quota  int64
	Period uint64
	// Shares is the v1 cpu.shares; Weight is the v2 cpu.weight. Only
	// the one matching the hierarchy is set.
	Shares, Weight uint64
	// UsageNanos is the total CPU time consumed.
	UsageNanos uint64
	// ThrottledPeriods and ThrottledNanos come from cpu.stat.
	ThrottledPeriods, ThrottledNanos uint64
}

// CPU reads the CPU settings and counters of cgroup cg.
func (h *Hierarchy) CPU(cg string) (CPUStats, error) {
	d, err := h.dir("cpu", cg)
	if err != nil {
		return CPUStats{}, err
	}
	var st CPUStats
	if h.usesV1("cpu") {
		q, err := readString(d, "cpu.cfs_quota_us")
		if err != nil {
			return st, err
		}
		if st.Quota, err = strconv.ParseInt(q, 10, 64); err != nil {
			return st, fmt.Errorf("parse cpu.cfs_quota_us %q: %w", q, err)
		}
		st.Period, _ = readUint(d, "cpu.cfs_period_us")
		st.Shares, _ = readUint(d, "cpu.shares")
		kv, _ := readKV(d, "cpu.stat")
		st.ThrottledPeriods, st.ThrottledNanos = kv["nr_throttled"], kv["throttled_time"]
		if acct, err := h.dir("cpuacct", cg); err == nil {
			st.UsageNanos, _ = readUint(acct, "cpuacct.usage")
		}
		return st, nil
	}
	max, err := readString(d, "cpu.max")
	if err != nil {
		return st, err
	}
	f := strings.Fields(max)
	if len(f) != 2 {
		return st, fmt.Errorf("parse cpu.max %q: unexpected format", max)
	}
	st.Quota = -1
	if f[0] != "max" {
		if st.Quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return st, fmt.Errorf("parse cpu.max %q: %w", max, err)
		}
	}
	if st.Period, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return st, fmt.Errorf("parse cpu.max %q: %w", max, err)
	}
	st.Weight, _ = readUint(d, "cpu.weight")
	kv, _ := readKV(d, "cpu.stat")
	st.UsageNanos = kv["usage_usec"] * 1000
	st.ThrottledPeriods, st.ThrottledNanos = kv["nr_throttled"], kv["throttled_usec"]*1000
	return st, nil
}

func readString(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("read cgroup file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readUint(dir, name string) (uint64, error) {
	s, err := readString(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", name, s, err)
	}
	return v, nil
}

// readKV parses "key value" lines (memory.stat, memory.events, cpu.stat,
// memory.oom_control).
func readKV(dir, name string) (map[string]uint64, error) {
	s, err := readString(dir, name)
	if err != nil {
		return nil, err
	}
	return parseKV(s), nil
}

func parseKV(s string) map[string]uint64 {
	m := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}
