// Package state is the agent's checkpoint: the durable record of who the agent
// is and what it runs, so that an agent restart can reattach to running
// containers and resume delivering unacknowledged status updates.
//
// Invariants:
//   - A write returns only once it is durable (bbolt commits with fsync).
//     The agent checkpoints a status update before sending it, so an update
//     the master has seen is never lost by a crash.
//   - Records are protobuf (mesos.v1 types and mesosd.v1.AgentTaskRecord),
//     so fields can be added without a migration; the schema version guards
//     layout changes (see Upgrade).
//
// Bolt schema (file work_dir/meta/agent.db):
//
//	meta/
//	  version            -> decimal schema version ("1")
//	agent/
//	  info               -> mesos.v1.AgentInfo (id set once registered)
//	frameworks/
//	  <framework id>     -> mesos.v1.FrameworkInfo
//	tasks/
//	  <task key>         -> mesosd.v1.AgentTaskRecord
//
// A task key is uvarint(len(framework id)) ‖ framework id ‖ task id, which is
// unambiguous for any ID bytes.
//
// Calls take no context: they are local, short and not cancellable midway
// (a bbolt transaction either commits or not).
package state

import (
	"errors"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// SchemaVersion is the layout version written by this code.
const SchemaVersion = 1

// ErrNewerSchema is returned by Open when the checkpoint was written by a
// newer agent: downgrading would lose data, so the agent refuses to start.
var ErrNewerSchema = errors.New("checkpoint schema is newer than this agent")

// StateDB stores the agent checkpoint. Implementations are safe for use by
// one goroutine at a time (the agent loop); they do not lock internally
// beyond what their storage needs.
type StateDB interface {
	// AgentInfo returns the checkpointed AgentInfo, or nil if none.
	AgentInfo() (*mesos.AgentInfo, error)
	PutAgentInfo(info *mesos.AgentInfo) error

	Frameworks() ([]*mesos.FrameworkInfo, error)
	PutFramework(info *mesos.FrameworkInfo) error
	DeleteFramework(frameworkID string) error

	// Tasks returns every task record, in key order.
	Tasks() ([]*mesosdpb.AgentTaskRecord, error)
	PutTask(rec *mesosdpb.AgentTaskRecord) error
	DeleteTask(frameworkID, taskID string) error

	// Reset forgets everything (the master removed this agent: the next
	// registration is as a new agent).
	Reset() error
	Close() error
}
