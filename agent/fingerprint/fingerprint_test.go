package fingerprint

import (
	"errors"
	"testing"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

func TestMemAndDiskRules(t *testing.T) {
	for _, tc := range []struct {
		total     uint64
		mem, disk float64
	}{
		{total: 1 * gib, mem: 512, disk: 512},
		{total: 2 * gib, mem: 1024, disk: 1024},
		{total: 16 * gib, mem: 15 * 1024, disk: 11 * 1024},
		{total: 10 * gib, mem: 9 * 1024, disk: 5 * 1024},
	} {
		if got := MemMB(tc.total); got != tc.mem {
			t.Errorf("MemMB(%d) = %v, want %v", tc.total, got, tc.mem)
		}
		if got := DiskMB(tc.total); got != tc.disk {
			t.Errorf("DiskMB(%d) = %v, want %v", tc.total, got, tc.disk)
		}
	}
}

func TestResourcesOverridePerName(t *testing.T) {
	h := Host{CPUs: 8, MemBytes: 16 * gib, DiskBytes: 100 * gib}
	for _, tc := range []struct {
		spec, want string
	}{
		{"", "cpus:8;disk:97280;mem:15360;ports:[31000-32000]"},
		{"cpus:2;mem:1024;ports:[31000-32000]", "cpus:2;disk:97280;mem:1024;ports:[31000-32000]"},
		{"ports:[2000-3000,1000-1999, 5000-5001]", "cpus:8;disk:97280;mem:15360;ports:[1000-3000, 5000-5001]"},
		{"cpus(web):1.5;gpus:2", "cpus(web):1.5;disk:97280;gpus:2;mem:15360;ports:[31000-32000]"},
		{"disks:{a,b}", "cpus:8;disk:97280;disks:{a, b};mem:15360;ports:[31000-32000]"},
		// Repeated entries add up, as in Mesos.
		{"cpus:1;cpus:2.5", "cpus:3.5;disk:97280;mem:15360;ports:[31000-32000]"},
		// A zero override means none, not "detect".
		{"cpus:0;mem:512", "disk:97280;mem:512;ports:[31000-32000]"},
		// Mesos' JSON form.
		{`[{"name":"cpus","type":"SCALAR","scalar":{"value":3}}]`, "cpus:3;disk:97280;mem:15360;ports:[31000-32000]"},
	} {
		rs, err := Resources(h, tc.spec)
		if err != nil {
			t.Fatalf("Resources(%q): %v", tc.spec, err)
		}
		if got := Format(rs); got != tc.want {
			t.Errorf("Resources(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestParseResourcesErrors(t *testing.T) {
	for _, spec := range []string{"cpus", "cpus:abc", "cpus:-1", "ports:[5-1]", "ports:[1-2", "(r):1", "cpus(r:1"} {
		if _, err := ParseResources(spec); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseResources(%q) = %v, want ErrInvalid", spec, err)
		}
	}
}

func TestParseAttributes(t *testing.T) {
	attrs, err := ParseAttributes("rack:r1; zone:z1;level:3.5;ports:[10-20]")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		typ  mesos.Value_Type
		text string
	}{
		{"rack", mesos.Value_TEXT, "r1"},
		{"zone", mesos.Value_TEXT, "z1"},
		{"level", mesos.Value_SCALAR, "3.5"},
		{"ports", mesos.Value_RANGES, "[10-20]"},
	}
	if len(attrs) != len(want) {
		t.Fatalf("got %d attributes, want %d", len(attrs), len(want))
	}
	for i, w := range want {
		a := attrs[i]
		got := FormatValue(a.GetType(), a.GetScalar(), a.GetRanges(), a.GetSet(), a.GetText())
		if a.GetName() != w.name || a.GetType() != w.typ || got != w.text {
			t.Errorf("attribute %d = %s %v %q, want %s %v %q", i, a.GetName(), a.GetType(), got, w.name, w.typ, w.text)
		}
	}
	for _, bad := range []string{"rack", ":x", "s:{a,b}", "r:"} {
		if _, err := ParseAttributes(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseAttributes(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestDetectHost(t *testing.T) {
	h, err := DetectHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUs < 1 || h.MemBytes == 0 || h.DiskBytes == 0 {
		t.Fatalf("implausible host %+v", h)
	}
}
