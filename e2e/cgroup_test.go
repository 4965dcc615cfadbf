package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupLimits are a container's memory and CPU limits as the kernel has them.
type cgroupLimits struct {
	layout    string // "v1" or "v2"
	memDir    string
	memBytes  int64   // memory limit
	cpuQuota  float64 // CFS quota / period, in CPUs (0: unlimited)
	cpuShares int64   // v1 cpu.shares, v2 cpu.weight
}

// cgroupMounts finds the v1 memory and cpu controller mounts and the cgroup2
// mount from /proc/self/mountinfo (detect, don't assume: hosts are pure v1,
// hybrid or pure v2).
func cgroupMounts() (memV1, cpuV1, v2 string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 > len(fields) || len(fields) < 5 {
			continue
		}
		mnt, fstype, super := fields[4], fields[sep+1], fields[sep+3]
		switch fstype {
		case "cgroup2":
			if v2 == "" {
				v2 = mnt
			}
		case "cgroup":
			for _, o := range strings.Split(super, ",") {
				switch o {
				case "memory":
					memV1 = mnt
				case "cpu":
					cpuV1 = mnt
				}
			}
		}
	}
	return memV1, cpuV1, v2, sc.Err()
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readCgroupLimits reads the limits of the cgroup at rel (e.g.
// "/mesosd/<container-id>"). Resource control goes through v1 whenever the
// v1 memory controller is mounted (the hybrid layout's cgroup2 tree has no
// controllers).
func readCgroupLimits(rel string) (*cgroupLimits, error) {
	memV1, cpuV1, v2, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	switch {
	case memV1 != "":
		l := &cgroupLimits{layout: "v1", memDir: filepath.Join(memV1, rel)}
		if l.memBytes, err = readInt(filepath.Join(l.memDir, "memory.limit_in_bytes")); err != nil {
			return nil, err
		}
		if cpuV1 != "" {
			cpuDir := filepath.Join(cpuV1, rel)
			quota, err := readInt(filepath.Join(cpuDir, "cpu.cfs_quota_us"))
			if err != nil {
				return nil, err
			}
			period, err := readInt(filepath.Join(cpuDir, "cpu.cfs_period_us"))
			if err != nil {
				return nil, err
			}
			if quota > 0 && period > 0 {
				l.cpuQuota = float64(quota) / float64(period)
			}
			if l.cpuShares, err = readInt(filepath.Join(cpuDir, "cpu.shares")); err != nil {
				return nil, err
			}
		}
		return l, nil
	case v2 != "":
		dir := filepath.Join(v2, rel)
		l := &cgroupLimits{layout: "v2", memDir: dir}
		b, err := os.ReadFile(filepath.Join(dir, "memory.max"))
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "max" {
			if l.memBytes, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, err
			}
		}
		b, err = os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return nil, err
		}
		var q string
		var period int64
		if _, err := fmt.Sscan(string(b), &q, &period); err != nil {
			return nil, fmt.Errorf("cpu.max %q: %v", b, err)
		}
		if q != "max" && period > 0 {
			quota, _ := strconv.ParseInt(q, 10, 64)
			l.cpuQuota = float64(quota) / float64(period)
		}
		l.cpuShares, _ = readInt(filepath.Join(dir, "cpu.weight"))
		return l, nil
	}
	return nil, fmt.Errorf("no cgroup memory controller mounted (v1 memory or cgroup2)")
}
