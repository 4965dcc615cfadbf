package ctrd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mesosd/mesosd/agent/containerizer"
)

func TestExtraMounts(t *testing.T) {
	dir := t.TempDir()
	sandbox := filepath.Join(dir, "sandbox")
	vol := filepath.Join(dir, "vol")
	bin := filepath.Join(dir, "bin", "mesosd")
	file := filepath.Join(dir, "file")
	for _, d := range []string{sandbox, vol, filepath.Dir(bin)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(bin, []byte("x"), 0o755)
	os.WriteFile(file, []byte("x"), 0o644)
	// A symlink planted in the sandbox (e.g. by an unpacked archive).
	if err := os.Symlink("/etc", filepath.Join(sandbox, "evil")); err != nil {
		t.Fatal(err)
	}
	c := &Containerizer{cfg: Config{HelperBinary: bin}, initBinary: bin, roOption: "rro"}
	spec := func(ms ...containerizer.Mount) *containerizer.LaunchSpec {
		return &containerizer.LaunchSpec{ContainerID: "c1", SandboxDir: sandbox, Mounts: ms}
	}

	got, err := c.extraMounts(spec(
		containerizer.Mount{HostPath: vol, ContainerPath: "data/vol"},
		containerizer.Mount{HostPath: file, ContainerPath: "conf/file", ReadOnly: true},
		containerizer.Mount{HostPath: vol, ContainerPath: "/tmp/vol"},
		containerizer.Mount{HostPath: vol, ContainerPath: "/usr"}, // exists on the host
		containerizer.Mount{HostPath: filepath.Dir(bin), ContainerPath: "bin", ReadOnly: true},
	), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Destination != filepath.Join(sandbox, "data/vol") || got[0].Source != vol ||
		strings.Join(got[0].Options, ",") != "rbind,rw,nosuid,nodev" ||
		strings.Join(got[1].Options, ",") != "rbind,rro,nosuid,nodev" || got[2].Destination != "/tmp/vol" {
		t.Errorf("mounts = %+v", got)
	}
	if fi, err := os.Stat(filepath.Join(sandbox, "data/vol")); err != nil || !fi.IsDir() {
		t.Errorf("directory mount point: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(sandbox, "conf/file")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file mount point: %v", err)
	}

	for _, tc := range []struct {
		m    containerizer.Mount
		want string
	}{
		{containerizer.Mount{HostPath: filepath.Join(dir, "missing"), ContainerPath: "d"}, "host path must exist"},
		{containerizer.Mount{HostPath: vol, ContainerPath: "evil/x"}, "symlink"},
		{containerizer.Mount{HostPath: vol, ContainerPath: "conf/file"}, "not a directory"},
		{containerizer.Mount{HostPath: file, ContainerPath: "data"}, "is a directory"},
		{containerizer.Mount{HostPath: vol, ContainerPath: "/nonexistent-mesosd-target"}, "must exist on the host"},
		{containerizer.Mount{HostPath: file, ContainerPath: "/usr"}, "both be directories"},
		{containerizer.Mount{HostPath: vol, ContainerPath: "/proc/x"}, "under /proc"},
		{containerizer.Mount{HostPath: vol, ContainerPath: "/run/mesosd"}, "hide the container init"},
		{containerizer.Mount{HostPath: filepath.Dir(bin), ContainerPath: "bin"}, "agent binary"},
		{containerizer.Mount{HostPath: bin, ContainerPath: "mesosd"}, "agent binary"},
	} {
		_, err := c.extraMounts(spec(tc.m), nil)
		if !errors.Is(err, containerizer.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.m, err, tc.want)
		}
	}
	if _, err := os.Stat("/etc/x"); err == nil {
		t.Error("followed the sandbox symlink")
	}
}

// TestVolumeMounts runs real containers: a read-write volume dir mounted
// at a relative path receives the task's file on the host; a read-only one
// refuses writes; an absolute target under /tmp works too.
func TestVolumeMounts(t *testing.T) {
	c := requireContainerd(t)
	vol, ro := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "in"), []byte("hello\n"), 0o644)
	script := `
echo written > data/vol/out || { echo "rw volume not writable"; exit 1; }
cat conf/in || { echo "ro volume not readable"; exit 2; }
touch conf/x 2>/dev/null && { echo "ro volume writable"; exit 3; }
echo tmp > /tmp/vol/tmpfile || { echo "tmp target not writable"; exit 4; }
echo fine`
	spec := newSpec(t, "/bin/sh", "-c", script)
	spec.Mounts = []containerizer.Mount{
		{HostPath: vol, ContainerPath: "data/vol"},
		{HostPath: ro, ContainerPath: "conf", ReadOnly: true},
		{HostPath: vol, ContainerPath: "/tmp/vol"},
	}
	launch(t, c, spec)
	st := wait(t, c, spec.ContainerID)
	out := readEventually(t, spec.StdoutPath, func(s string) bool { return strings.HasSuffix(s, "fine\n") })
	if st.ExitCode != 0 {
		t.Fatalf("status = %+v, stdout %q, stderr %q", st, out, readEventually(t, spec.StderrPath, func(string) bool { return true }))
	}
	if b, err := os.ReadFile(filepath.Join(vol, "out")); err != nil || string(b) != "written\n" {
		t.Errorf("volume file on host = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "tmpfile")); err != nil || string(b) != "tmp\n" {
		t.Errorf("/tmp target file on host = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("read-only volume written on the host")
	}
	if out != "hello\nfine\n" {
		t.Errorf("stdout = %q", out)
	}
}
