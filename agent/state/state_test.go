package state

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	mesosdpb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

func exercise(t *testing.T, db StateDB) {
	t.Helper()
	if info, err := db.AgentInfo(); err != nil || info != nil {
		t.Fatalf("empty AgentInfo = %v, %v", info, err)
	}
	info := &mesos.AgentInfo{Hostname: proto.String("h"), Id: &mesos.AgentID{Value: proto.String("S1")}}
	must(t, db.PutAgentInfo(info))
	fw := &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Id: &mesos.FrameworkID{Value: proto.String("fw")}}
	must(t, db.PutFramework(fw))
	// IDs whose concatenation collides must stay distinct.
	for _, ids := range [][2]string{{"fw", "ab"}, {"fwa", "b"}} {
		must(t, db.PutTask(&mesosdpb.AgentTaskRecord{
			FrameworkId: &mesos.FrameworkID{Value: proto.String(ids[0])},
			TaskId:      &mesos.TaskID{Value: proto.String(ids[1])},
			State:       mesos.TaskState_TASK_RUNNING.Enum(),
		}))
	}
	got, err := db.AgentInfo()
	if err != nil || !proto.Equal(got, info) {
		t.Fatalf("AgentInfo = %v, %v", got, err)
	}
	fws, err := db.Frameworks()
	if err != nil || len(fws) != 1 || !proto.Equal(fws[0], fw) {
		t.Fatalf("Frameworks = %v, %v", fws, err)
	}
	tasks, err := db.Tasks()
	if err != nil || len(tasks) != 2 {
		t.Fatalf("Tasks = %v, %v", tasks, err)
	}
	must(t, db.DeleteTask("fw", "ab"))
	if tasks, _ = db.Tasks(); len(tasks) != 1 || tasks[0].GetFrameworkId().GetValue() != "fwa" {
		t.Fatalf("after delete: %v", tasks)
	}
	must(t, db.DeleteFramework("fw"))
	must(t, db.Reset())
	if info, _ := db.AgentInfo(); info != nil {
		t.Fatal("Reset kept the agent info")
	}
	if tasks, _ := db.Tasks(); len(tasks) != 0 {
		t.Fatal("Reset kept tasks")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMem(t *testing.T) { exercise(t, NewMem()) }

func TestBoltPersistsAcrossReopen(t *testing.T) {
	path := Path(t.TempDir())
	db, err := OpenBolt(path)
	must(t, err)
	exercise(t, db)
	must(t, db.PutAgentInfo(&mesos.AgentInfo{Hostname: proto.String("h"), Id: &mesos.AgentID{Value: proto.String("S9")}}))
	must(t, db.Close())
	db, err = OpenBolt(path)
	must(t, err)
	defer db.Close()
	info, err := db.AgentInfo()
	if err != nil || info.GetId().GetValue() != "S9" {
		t.Fatalf("after reopen AgentInfo = %v, %v", info, err)
	}
}

func TestBoltRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	raw, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, raw.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyVersion, []byte("99"))
	}))
	must(t, raw.Close())
	if _, err := OpenBolt(path); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("OpenBolt on a newer schema = %v, want ErrNewerSchema", err)
	}
}
