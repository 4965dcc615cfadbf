package ctrd

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCPULimits(t *testing.T) {
	for _, tc := range []struct {
		cpus   float64
		quota  int64
		shares uint64
	}{{0.5, 50000, 512}, {2, 200000, 2048}, {0.001, 1000, 2}, {1.25, 125000, 1280}} {
		q, s := cpuLimits(tc.cpus)
		if q != tc.quota || s != tc.shares {
			t.Errorf("cpus %g: quota %d shares %d, want %d %d", tc.cpus, q, s, tc.quota, tc.shares)
		}
	}
	if got := memLimit(32); got != 32<<20 {
		t.Errorf("memLimit(32) = %d", got)
	}
}

func TestResolveUser(t *testing.T) {
	dir := t.TempDir()
	pw, gr := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	os.WriteFile(pw, []byte("root:x:0:0:root:/root:/bin/sh\n1001:x:1002:1002::/home/odd:/bin/sh\nalice:x:1001:100:Alice:/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(gr, []byte("users:x:100:\ndocker:x:999:alice,bob\nwheel:x:10:bob\n"), 0o644)
	passwdFile, groupFile = pw, gr
	t.Cleanup(func() { passwdFile, groupFile = "/etc/passwd", "/etc/group" })

	u, err := resolveUser("alice")
	if err != nil {
		t.Fatal(err)
	}
	if want := (hostUser{uid: 1001, gid: 100, groups: []uint32{999}, home: "/home/alice"}); !reflect.DeepEqual(u, want) {
		t.Errorf("alice = %+v, want %+v", u, want)
	}
	// A user literally named "1001" beats uid 1001.
	if u, _ := resolveUser("1001"); u.uid != 1002 {
		t.Errorf("name match should win: %+v", u)
	}
	if u, _ := resolveUser("0"); u.uid != 0 || u.home != "/root" {
		t.Errorf("uid 0 = %+v", u)
	}
	if u, err := resolveUser("4242"); err != nil || u.uid != 4242 || u.gid != 4242 {
		t.Errorf("unknown numeric uid = %+v, %v", u, err)
	}
	if _, err := resolveUser("mallory"); err == nil {
		t.Error("unknown user: want error")
	}
}

func TestFilterMounts(t *testing.T) {
	got := filterMounts(
		[]string{"/", "/proc", "/sys/fs/cgroup", "/var/lib/docker", "/home", "/home/x", "/tmp/foo", "/home", "/run/user/0", "/srv/sandbox/a"},
		append(append([]string(nil), replacedPaths...), "/srv/sandbox"))
	want := []string{"/home", "/home/x", "/var/lib/docker"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if unescape(`/a\040b`) != "/a b" {
		t.Error("unescape")
	}
}

func TestKernelAtLeast(t *testing.T) {
	if !kernelAtLeast(2, 6) {
		t.Error("kernel older than 2.6?")
	}
	if kernelAtLeast(1000, 0) {
		t.Error("kernel 1000?")
	}
}
