package ctrd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mesosd/mesosd/agent/containerizer"
)

// Extra mounts (LaunchSpec.Mounts) on top of the read-only host root.
//
// Where a mount point can come from: the container's root is the host "/"
// bound read-only, so runc cannot create a missing mount point there
// (EROFS). Hence:
//   - a target inside the sandbox (every relative ContainerPath) gets its
//     mount point created on the host, in the sandbox, before the launch;
//     the sandbox is bound read-write before the extra mounts, so the
//     container sees it;
//   - a target under a private tmpfs of the container (/tmp, /run) is
//     created by runc in that tmpfs;
//   - any other absolute target must already exist on the host, as a
//     directory for a directory and a non-directory for a file.
//
// Targets under /proc, /sys and /dev, and the init's own path, are
// refused: covering them breaks the container or the kernel interfaces
// it relies on.

// tmpfsPaths are container paths backed by a private, writable tmpfs in
// every container (see specOpts and containerd's default spec).
var tmpfsPaths = []string{"/tmp", "/run"}

// forbiddenTargets may not be mount targets, nor lie below one.
var forbiddenTargets = []string{"/proc", "/sys", "/dev"}

// under reports whether p is dir or below it (both clean and absolute).
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// extraMounts checks spec.Mounts against the host, creates the mount
// points that belong in the sandbox, and returns the OCI mounts in order.
func (c *Containerizer) extraMounts(spec *containerizer.LaunchSpec, user *hostUser) ([]specs.Mount, error) {
	var out []specs.Mount
	sandbox := filepath.Clean(spec.SandboxDir)
	for i, m := range spec.Mounts {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("container %q: mount %d (%q -> %q): %s: %w", spec.ContainerID, i,
				m.HostPath, m.ContainerPath, fmt.Sprintf(format, args...), containerizer.ErrInvalidArgument)
		}
		// Resolve symlinks so the checks below see what is really bound.
		src, err := filepath.EvalSymlinks(m.HostPath)
		if err != nil {
			return nil, bad("host path must exist: %v", err)
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, bad("host path must exist: %v", err)
		}
		// Never hand a task the agent's own binary, writable (it runs as
		// root in every container as init, and as the shim's logger):
		// CVE-2019-0204 in Mesos was exactly that.
		if !m.ReadOnly {
			for _, b := range []string{c.cfg.HelperBinary, c.initBinary} {
				if b != "" && under(b, src) {
					return nil, bad("a writable mount of %q would expose the agent binary %q; mount it read-only", src, b)
				}
			}
		}
		target := m.Target(sandbox)
		for _, f := range forbiddenTargets {
			if under(target, f) {
				return nil, bad("target %q is under %s", target, f)
			}
		}
		if c.initBinary != "" && under(initPath, target) {
			return nil, bad("target %q would hide the container init at %s", target, initPath)
		}
		switch {
		case under(target, sandbox):
			if err := makeMountPoint(sandbox, target, fi.IsDir(), user); err != nil {
				return nil, bad("create mount point: %v", err)
			}
		case underAny(target, tmpfsPaths):
			// runc creates it in the container's tmpfs.
		default:
			tfi, err := os.Stat(target)
			if err != nil {
				return nil, bad("target %q outside the sandbox must exist on the host (the container's root is the read-only host root; use a relative container path, or one under /tmp): %v", target, err)
			}
			if tfi.IsDir() != fi.IsDir() {
				return nil, bad("target %q and host path %q must both be directories or both be files", target, src)
			}
		}
		opts := []string{"rbind", "rw", "nosuid", "nodev"}
		if m.ReadOnly {
			opts[1] = c.roOption
		}
		out = append(out, specs.Mount{Destination: target, Type: "bind", Source: src, Options: opts})
	}
	return out, nil
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if under(p, d) {
			return true
		}
	}
	return false
}

// makeMountPoint creates target (inside sandbox) as a directory, or as an
// empty file when !dir, with any missing parents. It refuses to follow a
// symlink anywhere below the sandbox: the sandbox belongs to the task (and
// to whatever a fetched archive unpacked), and the agent runs as root, so
// following one could create files anywhere on the host. New entries are
// given to the task user.
func makeMountPoint(sandbox, target string, dir bool, user *hostUser) error {
	rel, err := filepath.Rel(sandbox, target)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("%q is not below the sandbox %q", target, sandbox)
	}
	elems := strings.Split(rel, string(filepath.Separator))
	p := sandbox
	for i, e := range elems {
		p = filepath.Join(p, e)
		last := i == len(elems)-1
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%q is a symlink; refusing to follow it", p)
		case err == nil && !last && !fi.IsDir():
			return fmt.Errorf("%q is not a directory", p)
		case err == nil && last && fi.IsDir() != dir:
			if dir {
				return fmt.Errorf("%q exists and is not a directory, but the host path is one", p)
			}
			return fmt.Errorf("%q is a directory, but the host path is a file", p)
		case err == nil:
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if !last || dir {
			err = os.Mkdir(p, 0o755)
		} else {
			var f *os.File
			// O_EXCL: never open something that appeared meanwhile.
			if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return err
		}
		if os.Getuid() == 0 && user != nil {
			_ = os.Lchown(p, int(user.uid), int(user.gid))
		}
	}
	return nil
}
