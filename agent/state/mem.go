package state

import (
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// MemDB is an in-memory StateDB for tests: it clones on the way in and out,
// so callers cannot alias stored records, exactly like a real round trip.
type MemDB struct {
	mu         sync.Mutex
	info       *mesos.AgentInfo
	frameworks map[string]*mesos.FrameworkInfo
	tasks      map[string]*mesosdpb.AgentTaskRecord
}

// NewMem returns an empty MemDB.
func NewMem() *MemDB {
	return &MemDB{
		frameworks: map[string]*mesos.FrameworkInfo{},
		tasks:      map[string]*mesosdpb.AgentTaskRecord{},
	}
}

func (m *MemDB) AgentInfo() (*mesos.AgentInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.info == nil {
		return nil, nil
	}
	return proto.Clone(m.info).(*mesos.AgentInfo), nil
}

func (m *MemDB) PutAgentInfo(info *mesos.AgentInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.info = proto.Clone(info).(*mesos.AgentInfo)
	return nil
}

func (m *MemDB) Frameworks() ([]*mesos.FrameworkInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.frameworks))
	for k := range m.frameworks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*mesos.FrameworkInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, proto.Clone(m.frameworks[k]).(*mesos.FrameworkInfo))
	}
	return out, nil
}

func (m *MemDB) PutFramework(info *mesos.FrameworkInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frameworks[info.GetId().GetValue()] = proto.Clone(info).(*mesos.FrameworkInfo)
	return nil
}

func (m *MemDB) DeleteFramework(frameworkID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.frameworks, frameworkID)
	return nil
}

func (m *MemDB) Tasks() ([]*mesosdpb.AgentTaskRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.tasks))
	for k := range m.tasks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*mesosdpb.AgentTaskRecord, 0, len(keys))
	for _, k := range keys {
		out = append(out, proto.Clone(m.tasks[k]).(*mesosdpb.AgentTaskRecord))
	}
	return out, nil
}

func (m *MemDB) PutTask(rec *mesosdpb.AgentTaskRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := string(TaskKey(rec.GetFrameworkId().GetValue(), rec.GetTaskId().GetValue()))
	m.tasks[k] = proto.Clone(rec).(*mesosdpb.AgentTaskRecord)
	return nil
}

func (m *MemDB) DeleteTask(frameworkID, taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tasks, string(TaskKey(frameworkID, taskID)))
	return nil
}

func (m *MemDB) Reset() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.info = nil
	m.frameworks = map[string]*mesos.FrameworkInfo{}
	m.tasks = map[string]*mesosdpb.AgentTaskRecord{}
	return nil
}

func (m *MemDB) Close() error { return nil }
