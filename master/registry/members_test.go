package registry

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// Membership changes are recorded deterministically, survive snapshots, and
// a removed ID never comes back.
func TestMemberChanges(t *testing.T) {
	r := New()
	boot := map[uint64]string{1: "h1:5050", 2: "h2:5050", 3: "h3:5050"}
	r.ApplyMemberChange(10, 4, "h4:5050", false)
	r.ApplyMemberChange(11, 2, "", true)
	r.ApplyMemberChange(12, 2, "h2:6060", false) // a removed ID stays removed
	r.ApplyMemberChange(11, 5, "h5:5050", false) // replay of an applied index: no-op
	got := r.MasterPeers(boot)
	want := map[uint64]string{1: "h1:5050", 3: "h3:5050", 4: "h4:5050"}
	if len(got) != len(want) {
		t.Fatalf("peers = %v, want %v", got, want)
	}
	for id, a := range want {
		if got[id] != a {
			t.Fatalf("peers = %v, want %v", got, want)
		}
	}
	data, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(r.AppliedIndex(), data)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(restored.Proto(), r.Proto()) {
		t.Fatalf("restore differs: %v vs %v", restored.Proto(), r.Proto())
	}
}
