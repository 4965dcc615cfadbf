package ctrd

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mesosd/mesosd/agent/containerizer"
)

const (
	// cfsPeriod is the CFS period in µs (the kernel default, as Mesos uses).
	cfsPeriod = 100000
	// minCFSQuota is the kernel's lower bound for cpu.cfs_quota_us.
	minCFSQuota = 1000
	// minShares is the kernel's lower bound for cpu.shares.
	minShares = 2
	// initPath is where the helper binary is bind-mounted (read-only)
	// in each container, on the private /run tmpfs.
	initPath = "/run/mesosd/init"
)

// replacedPaths are host mount points the spec covers with fresh mounts
// (proc, sysfs, tmpfs): host submounts below them are not re-bound.
var replacedPaths = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}

// cpuLimits converts Mesos cpus into CFS quota and shares.
func cpuLimits(cpus float64) (quota int64, shares uint64) {
	quota = int64(math.Ceil(cpus * cfsPeriod))
	if quota < minCFSQuota {
		quota = minCFSQuota
	}
	shares = uint64(math.Round(cpus * 1024))
	if shares < minShares {
		shares = minShares
	}
	return quota, shares
}

// memLimit converts Mesos mem (MiB) into bytes.
func memLimit(memMB float64) int64 {
	return int64(math.Ceil(memMB * 1024 * 1024))
}

// hostUser is a resolved task user.
type hostUser struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

// passwdFile and groupFile are variables so tests can point them at fixtures.
var (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// resolveUser looks name (a user name or numeric uid) up in the host's
// /etc/passwd and /etc/group. The host files, not NSS, because the task
// runs on the host rootfs and sees exactly these files.
func resolveUser(name string) (hostUser, error) {
	f, err := os.Open(passwdFile)
	if err != nil {
		return hostUser{}, fmt.Errorf("resolve user %q: %w", name, err)
	}
	defer f.Close()
	var u hostUser
	var uname string
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:x:uid:gid:gecos:home:shell
		p := strings.Split(sc.Text(), ":")
		if len(p) < 7 || strings.HasPrefix(p[0], "#") {
			continue
		}
		if p[0] != name && p[2] != name {
			continue
		}
		uid, err1 := strconv.ParseUint(p[2], 10, 32)
		gid, err2 := strconv.ParseUint(p[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		u, uname, found = hostUser{uid: uint32(uid), gid: uint32(gid), home: p[5]}, p[0], true
		if p[0] == name {
			break // an exact name match beats a numeric one
		}
	}
	if err := sc.Err(); err != nil {
		return hostUser{}, fmt.Errorf("resolve user %q: %w", name, err)
	}
	if !found {
		// A bare numeric uid unknown to passwd is still usable, as in runc.
		if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
			return hostUser{uid: uint32(uid), gid: uint32(uid)}, nil
		}
		return hostUser{}, fmt.Errorf("user %q not in %s: %w", name, passwdFile, containerizer.ErrInvalidArgument)
	}
	if g, err := os.Open(groupFile); err == nil {
		defer g.Close()
		sc := bufio.NewScanner(g)
		for sc.Scan() {
			// name:x:gid:member,member
			p := strings.Split(sc.Text(), ":")
			if len(p) < 4 {
				continue
			}
			gid, err := strconv.ParseUint(p[2], 10, 32)
			if err != nil || uint32(gid) == u.gid {
				continue
			}
			for _, m := range strings.Split(p[3], ",") {
				if m == uname {
					u.groups = append(u.groups, uint32(gid))
					break
				}
			}
		}
	}
	return u, nil
}

// hostSubmounts returns the host mount points below "/" that a plain
// read-only bind of the host root would leave writable (/var/lib/docker,
// /home, /boot, ...): needed only where recursive read-only ("rro") is not
// available.
func hostSubmounts(extraReplaced ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read host mounts: %w", err)
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		if len(p) < 5 {
			continue
		}
		mps = append(mps, unescape(p[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read host mounts: %w", err)
	}
	return filterMounts(mps, append(append([]string(nil), replacedPaths...), extraReplaced...)), nil
}

// filterMounts drops "/", duplicates and anything at or under a replaced
// path, and sorts parents before children.
func filterMounts(mps, replaced []string) []string {
	under := func(p, dir string) bool {
		return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
	}
	sort.Strings(mps)
	var out []string
next:
	for _, mp := range mps {
		if mp == "/" || !filepath.IsAbs(mp) {
			continue
		}
		for _, r := range replaced {
			if under(mp, r) {
				continue next
			}
		}
		if len(out) > 0 && out[len(out)-1] == mp {
			continue
		}
		out = append(out, mp)
	}
	return out
}

func unescape(s string) string {
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

// specOpts builds the OCI spec of a command task: the host rootfs
// read-only, host network, private /tmp and /run, the sandbox read-write,
// then the extra mounts (volumes),
// the default capability set and seccomp profile, no_new_privs, limits.
func (c *Containerizer) specOpts(spec *containerizer.LaunchSpec, user *hostUser, submounts []string, extra []specs.Mount) []oci.SpecOpts {
	// The rootfs is an empty directory onto which the host "/" is bound
	// (recursively, read-only) as the first mount, inside the container's
	// mount namespace only. Root.Path "/" itself does not work: runc's
	// pivot_root(".", ".") then fails with EBUSY, and its no-pivot MS_MOVE
	// with ELOOP. Bind sources are resolved in the host tree (the process
	// root before pivot_root), so they are never shadowed by the mounts
	// below; the sandbox comes last so no read-only mount covers it.
	mounts := []specs.Mount{{
		Destination: "/", Type: "bind", Source: "/",
		Options: []string{"rbind", c.roOption, "nosuid"},
	}}
	// Without recursive read-only (kernel < 5.12), re-bind every host
	// submount read-only one by one.
	for _, mp := range submounts {
		mounts = append(mounts, specs.Mount{
			Destination: mp, Type: "bind", Source: mp,
			Options: []string{"bind", "ro", "nosuid"},
		})
	}
	root := mounts
	mounts = nil
	if c.initBinary != "" {
		mounts = append(mounts, specs.Mount{
			Destination: initPath, Type: "bind", Source: c.initBinary,
			Options: []string{"bind", "ro", "nosuid", "nodev"},
		})
	}
	mounts = append(mounts, specs.Mount{
		Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "nodev", "mode=1777"},
	})
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		if _, err := os.Stat(f); err == nil {
			mounts = append(mounts, specs.Mount{
				Destination: f, Type: "bind", Source: f,
				Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	mounts = append(mounts, specs.Mount{
		Destination: spec.SandboxDir, Type: "bind", Source: spec.SandboxDir,
		Options: []string{"rbind", "rw", "nosuid", "nodev"},
	})
	// Volumes last: their mount points may be in the sandbox (see
	// extraMounts).
	mounts = append(mounts, extra...)

	argv := spec.Argv
	if c.initBinary != "" {
		argv = append([]string{initPath, InitSubcommand, "--"}, argv...)
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if user != nil && user.home != "" {
		env = append(env, "HOME="+user.home)
	}
	env = append(env, spec.Env...) // later entries win in oci.WithEnv

	opts := []oci.SpecOpts{
		oci.WithRootFSPath(c.rootfsDir),
		oci.WithRootFSReadonly(),
		oci.WithHostNamespace(specs.NetworkNamespace),
		c.withTaskMounts(root, mounts),
		oci.WithProcessArgs(argv...),
		oci.WithProcessCwd(spec.SandboxDir),
		oci.WithEnv(env),
		oci.WithNoNewPrivileges,
		withCgroupsPath(path.Join(c.cfg.CgroupParent, spec.ContainerID)),
	}
	if user != nil {
		opts = append(opts, oci.WithUIDGID(user.uid, user.gid), withAdditionalGIDs(user.groups))
	}
	if spec.CPUs > 0 {
		quota, shares := cpuLimits(spec.CPUs)
		opts = append(opts, oci.WithCPUCFS(quota, cfsPeriod), oci.WithCPUShares(shares))
	}
	if spec.MemMB > 0 {
		limit := memLimit(spec.MemMB)
		opts = append(opts, oci.WithMemoryLimit(uint64(limit)))
		// OCI swap is memory+swap: equal to the limit means no swap.
		// runc skips it where swap accounting is off.
		opts = append(opts, oci.WithMemorySwap(limit))
	}
	// After capabilities are final: the default profile depends on them.
	opts = append(opts, seccomp.WithDefaultProfile())
	return opts
}

// withTaskMounts orders the mounts: the host root first (everything else
// is mounted on top of it), then the runtime defaults (/proc, /dev, /run,
// ...), then the rest. The default fresh sysfs becomes a read-only bind
// of the host's /sys: a sysfs instance belongs to a network namespace,
// and with the host network the kernel would reuse the host's read-write
// superblock, so a read-only sysfs mount fails with EBUSY.
func (c *Containerizer) withTaskMounts(root, rest []specs.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		mounts := append([]specs.Mount(nil), root...)
		for _, m := range s.Mounts {
			if m.Destination == "/sys" {
				m = specs.Mount{
					Destination: "/sys", Type: "bind", Source: "/sys",
					Options: []string{"rbind", c.roOption, "nosuid", "noexec", "nodev"},
				}
			}
			mounts = append(mounts, m)
		}
		s.Mounts = append(mounts, rest...)
		return nil
	}
}

func withCgroupsPath(p string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.CgroupsPath = p
		return nil
	}
}

func withAdditionalGIDs(gids []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gids...)
		return nil
	}
}
