package state

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

var (
	bucketMeta       = []byte("meta")
	bucketAgent      = []byte("agent")
	bucketFrameworks = []byte("frameworks")
	bucketTasks      = []byte("tasks")

	keyVersion = []byte("version")
	keyInfo    = []byte("info")
)

// BoltDB is the on-disk StateDB.
type BoltDB struct {
	db *bolt.DB
}

// Path returns the checkpoint file for an agent work directory.
func Path(workDir string) string { return filepath.Join(workDir, "meta", "agent.db") }

// OpenBolt opens (creating if needed) the checkpoint at path and upgrades its
// schema.
func OpenBolt(path string) (*BoltDB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create checkpoint directory: %w", err)
	}
	// The timeout turns "another agent uses this work_dir" (bbolt's flock)
	// into an error instead of a hang.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open agent checkpoint %q (is another agent using this --work_dir?): %w", path, err)
	}
	b := &BoltDB{db: db}
	if err := b.Upgrade(); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// Upgrade brings the schema to SchemaVersion. Version 1 is the first layout,
// so it only creates buckets; later versions add migrations here, each
// tested against a frozen file written by the previous version.
func (b *BoltDB) Upgrade() error {
	return b.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("checkpoint schema version %q is not a number: %w", v, err)
			}
			if n > SchemaVersion {
				return fmt.Errorf("checkpoint version %d, agent supports %d: %w", n, SchemaVersion, ErrNewerSchema)
			}
		}
		for _, name := range [][]byte{bucketAgent, bucketFrameworks, bucketTasks} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return meta.Put(keyVersion, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// TaskKey encodes the key of a task record.
func TaskKey(frameworkID, taskID string) []byte {
	k := binary.AppendUvarint(nil, uint64(len(frameworkID)))
	k = append(k, frameworkID...)
	return append(k, taskID...)
}

func (b *BoltDB) put(bucket, key []byte, m proto.Message) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode checkpoint record: %w", err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, data) })
	if err != nil {
		return fmt.Errorf("write checkpoint %s/%q: %w", bucket, key, err)
	}
	return nil
}

func (b *BoltDB) del(bucket, key []byte) error {
	err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete(key) })
	if err != nil {
		return fmt.Errorf("delete checkpoint %s/%q: %w", bucket, key, err)
	}
	return nil
}

func (b *BoltDB) AgentInfo() (*mesos.AgentInfo, error) {
	var info *mesos.AgentInfo
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAgent).Get(keyInfo)
		if v == nil {
			return nil
		}
		info = &mesos.AgentInfo{}
		return proto.Unmarshal(v, info)
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpointed agent info: %w", err)
	}
	return info, nil
}

func (b *BoltDB) PutAgentInfo(info *mesos.AgentInfo) error {
	return b.put(bucketAgent, keyInfo, info)
}

func (b *BoltDB) Frameworks() ([]*mesos.FrameworkInfo, error) {
	var out []*mesos.FrameworkInfo
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFrameworks).ForEach(func(k, v []byte) error {
			fw := &mesos.FrameworkInfo{}
			if err := proto.Unmarshal(v, fw); err != nil {
				return fmt.Errorf("framework %q: %w", k, err)
			}
			out = append(out, fw)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpointed frameworks: %w", err)
	}
	return out, nil
}

func (b *BoltDB) PutFramework(info *mesos.FrameworkInfo) error {
	return b.put(bucketFrameworks, []byte(info.GetId().GetValue()), info)
}

func (b *BoltDB) DeleteFramework(frameworkID string) error {
	return b.del(bucketFrameworks, []byte(frameworkID))
}

func (b *BoltDB) Tasks() ([]*mesosdpb.AgentTaskRecord, error) {
	var out []*mesosdpb.AgentTaskRecord
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			rec := &mesosdpb.AgentTaskRecord{}
			if err := proto.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("task record %q: %w", k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpointed tasks: %w", err)
	}
	return out, nil
}

func (b *BoltDB) PutTask(rec *mesosdpb.AgentTaskRecord) error {
	return b.put(bucketTasks, TaskKey(rec.GetFrameworkId().GetValue(), rec.GetTaskId().GetValue()), rec)
}

func (b *BoltDB) DeleteTask(frameworkID, taskID string) error {
	return b.del(bucketTasks, TaskKey(frameworkID, taskID))
}

func (b *BoltDB) Reset() error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketAgent, bucketFrameworks, bucketTasks} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset agent checkpoint: %w", err)
	}
	return nil
}

func (b *BoltDB) Close() error { return b.db.Close() }
