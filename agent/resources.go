package agent

// Checkpointed resources: the dynamic reservations and persistent volumes
// the master tells the agent about (CHECKPOINT_RESOURCES). The agent keeps
// them in work_dir/meta/resources.pb, reports its resources with them
// applied when it (re)registers, and keeps one directory per persistent
// volume under work_dir/volumes/roles/<role>/<persistence id> (a '/' in a
// hierarchical role becomes ' ', as in Mesos' paths::getPersistentVolumePath).
//
// A task that uses a volume gets its directory mounted in its sandbox (see
// volumes.go).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// resourcesCheckpointPath is where the checkpointed resources live.
func resourcesCheckpointPath(workDir string) string {
	return filepath.Join(workDir, "meta", "resources.pb")
}

// VolumePath is the host directory of a persistent volume.
func VolumePath(workDir, role, persistenceID string) string {
	return filepath.Join(workDir, "volumes", "roles", strings.ReplaceAll(role, "/", " "), persistenceID)
}

// loadCheckpointedResources reads the checkpointed resources (none if the
// file does not exist).
func loadCheckpointedResources(workDir string) (resources.Resources, error) {
	b, err := os.ReadFile(resourcesCheckpointPath(workDir))
	if errors.Is(err, os.ErrNotExist) {
		return resources.Resources{}, nil
	}
	if err != nil {
		return resources.Resources{}, err
	}
	var msg mesosdpb.AgentEvent_CheckpointResources
	if err := proto.Unmarshal(b, &msg); err != nil {
		return resources.Resources{}, fmt.Errorf("decode %s: %w", resourcesCheckpointPath(workDir), err)
	}
	return resources.FromProto(msg.GetResources())
}

// storeCheckpointedResources writes the checkpointed resources atomically.
func storeCheckpointedResources(workDir string, r resources.Resources) error {
	p := resourcesCheckpointPath(workDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&mesosdpb.AgentEvent_CheckpointResources{Resources: r.ToProto()})
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

type volumeKey struct{ role, id string }

func volumeKeys(r resources.Resources) map[volumeKey]bool {
	out := map[volumeKey]bool{}
	for _, v := range r.PersistentVolumes().Items() {
		out[volumeKey{v.Role(), v.Disk.PersistenceID}] = true
	}
	return out
}

// syncVolumeDirs creates the directories of volumes in want and removes
// those of volumes in had that are gone (DESTROY).
func (a *Agent) syncVolumeDirs(had, want resources.Resources) error {
	wantKeys := volumeKeys(want)
	for k := range wantKeys {
		if err := os.MkdirAll(VolumePath(a.cfg.WorkDir, k.role, k.id), 0o755); err != nil {
			return fmt.Errorf("create persistent volume %q of role %q: %w", k.id, k.role, err)
		}
	}
	for k := range volumeKeys(had) {
		if wantKeys[k] {
			continue
		}
		p := VolumePath(a.cfg.WorkDir, k.role, k.id)
		a.log.Info("deleting destroyed persistent volume", "role", k.role, "persistence_id", k.id, "path", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove persistent volume %q of role %q: %w", k.id, k.role, err)
		}
	}
	return nil
}

// onCheckpointResources handles CHECKPOINT_RESOURCES: persist first (a
// failure is fatal, as for task checkpoints), then the volume directories.
func (a *Agent) onCheckpointResources(ev *mesosdpb.AgentEvent_CheckpointResources) {
	want, err := resources.FromProto(ev.GetResources())
	if err != nil {
		a.metrics.invalidMasterEvents++
		a.log.Warn("ignoring CHECKPOINT_RESOURCES with invalid resources", "err", err)
		return
	}
	if _, err := a.totalWith(want); err != nil {
		a.metrics.invalidMasterEvents++
		a.log.Warn("ignoring CHECKPOINT_RESOURCES that do not fit this agent", "err", err)
		return
	}
	if err := storeCheckpointedResources(a.cfg.WorkDir, want); err != nil {
		a.metrics.checkpointErrors++
		a.fatal = fmt.Errorf("agent: checkpoint resources (check disk space and permissions under %q): %w", a.cfg.WorkDir, err)
		return
	}
	had := a.checkpointed
	a.checkpointed = want
	if err := a.syncVolumeDirs(had, want); err != nil {
		a.log.Error("persistent volume directories", "err", err)
	}
	a.log.Info("checkpointed resources", "resources", want.String())
}

// totalWith is the agent's configured resources with ckpt applied.
func (a *Agent) totalWith(ckpt resources.Resources) (resources.Resources, error) {
	configured, err := resources.FromProto(a.baseInfo.GetResources())
	if err != nil {
		return resources.Resources{}, err
	}
	return resources.ApplyCheckpointed(configured, ckpt)
}

// reportedResources is info.resources as sent to the master: the
// configured resources with the checkpointed ones applied. If they no
// longer fit (the agent was restarted with fewer resources) the configured
// resources are reported and the master's registry decides.
func (a *Agent) reportedResources() []*mesos.Resource {
	if a.checkpointed.IsEmpty() {
		return a.baseInfo.GetResources()
	}
	total, err := a.totalWith(a.checkpointed)
	if err != nil {
		a.log.Warn("checkpointed resources do not fit the agent's resources; reporting the configured ones", "err", err)
		return a.baseInfo.GetResources()
	}
	return total.ToProto()
}
