package agent

// Volumes of a task: what the agent mounts into its container.
//
//   - Persistent volumes (a disk resource with disk.persistence.id and
//     disk.volume.container_path): the agent's volume directory
//     (VolumePath) is mounted at <sandbox>/<container_path>, read-write
//     unless the volume's mode is RO. The container path must be relative,
//     as for a Mesos container without an image.
//   - ContainerInfo.volumes (MESOS containers): a SANDBOX_PATH source of
//     type SELF mounts <sandbox>/<source path> (created if missing) at the
//     container path (relative paths are inside the sandbox).
//   - host_path volumes (Volume.host_path, or a HOST_PATH source) are
//     refused with TASK_ERROR unless Config.AllowHostPathVolumes is set.
//     The reason: whoever can launch a task could otherwise mount any host
//     directory read-write (the Metasploit dcos_marathon exploit mounts "/"
//     and writes /etc/cron.d; tasks can also run as root), which turns
//     "may run a task" into "owns the machine". Even when allowed, nothing
//     in the agent's work_dir (checkpoints, other tasks' sandboxes, other
//     roles' volumes) is mounted, nor a writable parent of it, and the
//     containerizer never mounts the agent's own binary writable.
//
// Other volume kinds (images, Docker volumes, secrets, CSI, PARENT sandbox
// paths) are refused with TASK_ERROR: no silent no-op mounts.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mesosd/mesosd/agent/containerizer"
	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// ErrHostPathDisabled is the TASK_ERROR message for a host_path volume
// while Config.AllowHostPathVolumes is off.
const ErrHostPathDisabled = "host_path volumes are disabled for safety (an agent that allows them lets any framework mount host directories into its tasks); the operator can enable them on this agent with AllowHostPathVolumes"

// taskVolumes is what launching ti needs: the mounts, and the sandbox
// subdirectories (SANDBOX_PATH sources) to create first.
type taskVolumes struct {
	mounts      []containerizer.Mount
	sandboxDirs []string // relative to the sandbox, clean
	// chown are persistent volume directories to give to the task user
	// (read-write, and no other live task uses them).
	chown []string
}

// volumeError is a task the agent refuses (TASK_ERROR, REASON_TASK_INVALID).
type volumeError struct{ msg string }

func (e *volumeError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &volumeError{fmt.Sprintf(format, args...)}
}

// checkRelPath checks a path that must stay inside the sandbox.
func checkRelPath(what, p string) error {
	switch {
	case p == "":
		return refuse("%s is empty", what)
	case path.IsAbs(p):
		return refuse("%s %q must be relative to the sandbox", what, p)
	case hasDotDot(p):
		return refuse("%s %q must not contain '..'", what, p)
	case path.Clean(p) == ".":
		return refuse("%s %q names the sandbox itself; use a subdirectory", what, p)
	}
	return nil
}

// pathUnder reports whether p is dir or below it (both clean, absolute).
func pathUnder(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func hasDotDot(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// volumesFor works out the mounts of ti. known are the persistent volumes
// this agent holds (checkpointed); a task naming another one is refused.
// self is the task being launched (already in a.tasks).
func (a *Agent) volumesFor(self taskKey, ti *mesos.TaskInfo, known resources.Resources) (taskVolumes, error) {
	var tv taskVolumes
	res, err := resources.FromProto(ti.GetResources())
	if err != nil {
		return tv, refuse("invalid task resources: %v", err)
	}
	have := volumeKeys(known)
	for _, v := range res.PersistentVolumes().Items() {
		id, role := v.Disk.PersistenceID, v.Role()
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
			return tv, refuse("persistent volume ID %q is not a valid directory name", id)
		}
		if !have[volumeKey{role, id}] {
			return tv, refuse("persistent volume %q of role %q does not exist on this agent", id, role)
		}
		if !v.Disk.HasVolume || v.Disk.VolumeContainerPath == "" {
			return tv, refuse("persistent volume %q: expecting 'disk.volume.container_path' to be set", id)
		}
		if err := checkRelPath(fmt.Sprintf("persistent volume %q: container path", id), v.Disk.VolumeContainerPath); err != nil {
			return tv, err
		}
		m := containerizer.Mount{
			HostPath:      VolumePath(a.cfg.WorkDir, role, id),
			ContainerPath: path.Clean(v.Disk.VolumeContainerPath),
			ReadOnly:      v.Disk.VolumeMode == resources.VolumeRO,
		}
		tv.mounts = append(tv.mounts, m)
		if !m.ReadOnly && !a.volumeInUse(self, role, id) {
			tv.chown = append(tv.chown, m.HostPath)
		}
	}
	for i, v := range ti.GetContainer().GetVolumes() {
		what := fmt.Sprintf("volume %d (container path %q)", i, v.GetContainerPath())
		cp := v.GetContainerPath()
		if cp == "" {
			return tv, refuse("%s: container_path is required", what)
		}
		if hasDotDot(cp) {
			return tv, refuse("%s: container path must not contain '..'", what)
		}
		if path.IsAbs(cp) && path.Clean(cp) == "/" {
			return tv, refuse("%s: cannot mount over the container's root", what)
		}
		if !path.IsAbs(cp) && path.Clean(cp) == "." {
			return tv, refuse("%s: cannot mount over the sandbox itself; use a subdirectory", what)
		}
		ro := v.GetMode() == mesos.Volume_RO
		src := v.GetSource()
		switch {
		case v.GetImage() != nil:
			return tv, refuse("%s: image volumes are not supported", what)
		case v.HostPath != nil || src.GetType() == mesos.Volume_Source_HOST_PATH:
			if !a.cfg.AllowHostPathVolumes {
				return tv, refuse("%s: %s", what, ErrHostPathDisabled)
			}
			hp := v.GetHostPath()
			if src.GetType() == mesos.Volume_Source_HOST_PATH {
				hp = src.GetHostPath().GetPath()
			}
			if !path.IsAbs(hp) || hasDotDot(hp) {
				return tv, refuse("%s: host path %q must be absolute, without '..'", what, hp)
			}
			hp = path.Clean(hp)
			// The work dir holds the agent's checkpoints, every task's
			// sandbox and every role's volumes: never inside it, and never
			// a writable parent of it.
			if wd := a.cfg.WorkDir; pathUnder(hp, wd) || (!ro && pathUnder(wd, hp)) {
				return tv, refuse("%s: host path %q overlaps the agent's work_dir %q (read-only parents of it are allowed)", what, hp, wd)
			}
			tv.mounts = append(tv.mounts, containerizer.Mount{HostPath: hp, ContainerPath: cp, ReadOnly: ro})
		case src.GetType() == mesos.Volume_Source_SANDBOX_PATH:
			sp := src.GetSandboxPath()
			if sp.GetType() != mesos.Volume_Source_SandboxPath_SELF {
				return tv, refuse("%s: only SELF sandbox paths are supported (a command task has no parent container)", what)
			}
			if err := checkRelPath(what+": sandbox path", sp.GetPath()); err != nil {
				return tv, err
			}
			rel := path.Clean(sp.GetPath())
			tv.sandboxDirs = append(tv.sandboxDirs, rel)
			// HostPath is completed with the sandbox at launch.
			tv.mounts = append(tv.mounts, containerizer.Mount{HostPath: rel, ContainerPath: cp, ReadOnly: ro})
		case src.GetType() == mesos.Volume_Source_UNKNOWN:
			return tv, refuse("%s: no source (set source.sandbox_path)", what)
		default:
			return tv, refuse("%s: %s volumes are not supported", what, src.GetType())
		}
	}
	return tv, nil
}

// resolve makes the SANDBOX_PATH host paths absolute under sandbox.
func (tv *taskVolumes) resolve(sandbox string) {
	for i, m := range tv.mounts {
		if !filepath.IsAbs(m.HostPath) {
			tv.mounts[i].HostPath = filepath.Join(sandbox, m.HostPath)
		}
	}
}

// makeSandboxDirs creates the SANDBOX_PATH sources in the (fresh) sandbox,
// owned like the sandbox, without following symlinks.
func makeSandboxDirs(sandbox string, rels []string) error {
	st, err := os.Stat(sandbox)
	if err != nil {
		return err
	}
	for _, rel := range rels {
		p := sandbox
		for _, e := range strings.Split(rel, "/") {
			p = filepath.Join(p, e)
			fi, err := os.Lstat(p)
			switch {
			case err == nil && fi.IsDir():
				continue
			case err == nil:
				return fmt.Errorf("sandbox path %q: %q exists and is not a directory", rel, p)
			case !errors.Is(err, fs.ErrNotExist):
				return err
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("sandbox path %q: %w", rel, err)
			}
			chownLike(p, st)
		}
	}
	return nil
}

// volumeInUse reports whether a live task of this agent holds the
// persistent volume, other than the task self.
func (a *Agent) volumeInUse(self taskKey, role, id string) bool {
	for k, t := range a.tasks {
		if k == self || isTerminal(t.rec.GetState()) {
			continue
		}
		for _, r := range t.rec.GetTask().GetResources() {
			if r.GetDisk().GetPersistence().GetId() != id {
				continue
			}
			if rs, err := resources.FromProto([]*mesos.Resource{r}); err == nil {
				for _, v := range rs.Items() {
					if v.Role() == role {
						return true
					}
				}
			}
		}
	}
	return false
}

// chownVolumes gives the persistent volume directories to the task user
// (the sandbox's owner) when the agent runs as root, as Mesos does when a
// volume is not in use, so a non-root task can write to it. Only the
// volume's top directory changes owner, never its contents.
func chownVolumes(sandbox string, dirs []string) {
	if len(dirs) == 0 || os.Geteuid() != 0 {
		return
	}
	if st, err := os.Stat(sandbox); err == nil {
		for _, d := range dirs {
			chownLike(d, st)
		}
	}
}

// chownLike gives p the owner and group of ref.
func chownLike(p string, ref fs.FileInfo) {
	if os.Geteuid() != 0 {
		return
	}
	if st, ok := ref.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(p, int(st.Uid), int(st.Gid))
	}
}
