package replog

import (
	"errors"
	"io"
	"log"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// TestStorageErrorIsSticky pulls the disk out from under the log: the
// failed write must surface from Process, and every later call must keep
// returning it, since raft cannot be advanced past state that is not durable.
func TestStorageErrorIsSticky(t *testing.T) {
	l, err := Open(Config{
		Dir: t.TempDir(), ID: 1, Peers: []uint64{1},
		Logger:  &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
		Restore: func(uint64, []byte) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	apply := func([]*raftpb.Entry) error { return nil }
	if err := l.Campaign(); err != nil {
		t.Fatal(err)
	}
	for l.HasReady() {
		if _, err := l.Process(nil, apply); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.st.Close(); err != nil { // simulate a dead disk
		t.Fatal(err)
	}
	if err := l.Propose([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	_, err = l.Process(nil, apply)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Process err = %v, want ErrFailed", err)
	}
	first := err
	for name, got := range map[string]error{
		"Propose":  l.Propose([]byte("x")),
		"Campaign": l.Campaign(),
		"Step":     l.Step(&raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(uint64(2))}),
		"Snapshot": l.Snapshot(1, nil),
	} {
		if got != first {
			t.Errorf("%s after failure = %v, want the first error %v", name, got, first)
		}
	}
	if _, err := l.Process(nil, apply); err != first {
		t.Errorf("Process after failure = %v", err)
	}
	if l.HasReady() {
		t.Error("HasReady true after failure")
	}
	_ = l.Close() // must not panic on the already-closed store
}
