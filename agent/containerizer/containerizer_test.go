package containerizer

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "task-1", "fw.task_2-x", "A1"} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "a..b", "a/b", "a b", strings.Repeat("a", 77)} {
		if err := ValidateID(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: err = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestValidateSpec(t *testing.T) {
	good := LaunchSpec{ContainerID: "c1", Argv: []string{"/bin/true"}, SandboxDir: "/s",
		StdoutPath: "/s/stdout", StderrPath: "/s/stderr", Env: []string{"A=1"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*LaunchSpec){
		"argv":    func(s *LaunchSpec) { s.Argv = nil },
		"sandbox": func(s *LaunchSpec) { s.SandboxDir = "rel" },
		"stdout":  func(s *LaunchSpec) { s.StdoutPath = "" },
		"env":     func(s *LaunchSpec) { s.Env = []string{"NOEQUALS"} },
		"mem":     func(s *LaunchSpec) { s.MemMB = -1 },
		"id":      func(s *LaunchSpec) { s.ContainerID = "a/b" },
	} {
		s := good
		mut(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestExitMessage(t *testing.T) {
	if got := ExitMessage(1, 0); got != "exited with status 1" {
		t.Error(got)
	}
	if got := ExitMessage(143, 15); got != "killed by signal 15" {
		t.Error(got)
	}
}

func TestValidateMounts(t *testing.T) {
	base := LaunchSpec{ContainerID: "c1", Argv: []string{"/bin/true"}, SandboxDir: "/s",
		StdoutPath: "/s/stdout", StderrPath: "/s/stderr"}
	for _, m := range []Mount{
		{HostPath: "/vol/a", ContainerPath: "data"},
		{HostPath: "/vol/a", ContainerPath: "deep/er/data", ReadOnly: true},
		{HostPath: "/vol/a", ContainerPath: "/mnt/data"},
		{HostPath: "/vol/a", ContainerPath: "./data"},
	} {
		s := base
		s.Mounts = []Mount{m}
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	for _, tc := range []struct {
		m    Mount
		want string
	}{
		{Mount{HostPath: "", ContainerPath: "d"}, "empty host path"},
		{Mount{HostPath: "vol", ContainerPath: "d"}, "host path must be absolute"},
		{Mount{HostPath: "/vol/../etc", ContainerPath: "d"}, "host path must not contain '..'"},
		{Mount{HostPath: "/vol", ContainerPath: ""}, "empty container path"},
		{Mount{HostPath: "/vol", ContainerPath: "../escape"}, "container path must not contain '..'"},
		{Mount{HostPath: "/vol", ContainerPath: "a/../../b"}, "container path must not contain '..'"},
		{Mount{HostPath: "/vol", ContainerPath: "/x/../etc"}, "container path must not contain '..'"},
		{Mount{HostPath: "/vol", ContainerPath: "/"}, "container's root"},
		{Mount{HostPath: "/vol", ContainerPath: "."}, "sandbox itself"},
		{Mount{HostPath: "/vol", ContainerPath: "/s/"}, "sandbox itself"},
	} {
		s := base
		s.Mounts = []Mount{{HostPath: "/ok", ContainerPath: "ok"}, tc.m}
		err := s.Validate()
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "mount 1") {
			t.Errorf("%+v: err = %v, want ErrInvalidArgument mentioning mount 1 and %q", tc.m, err, tc.want)
		}
	}
}

func TestMountTarget(t *testing.T) {
	for _, tc := range []struct{ cp, want string }{
		{"data", "/s/data"}, {"./a/b/", "/s/a/b"}, {"/mnt/x", "/mnt/x"}, {"/mnt//x/", "/mnt/x"},
	} {
		if got := (Mount{HostPath: "/h", ContainerPath: tc.cp}).Target("/s"); got != tc.want {
			t.Errorf("Target(%q) = %q, want %q", tc.cp, got, tc.want)
		}
	}
}

func TestValidateExecSpec(t *testing.T) {
	good := ExecSpec{ExecID: "health-1", Argv: []string{"/bin/sh", "-c", "true"}, Env: []string{"A=1"}, OutputPath: "/s/stderr"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*ExecSpec){
		"id":     func(s *ExecSpec) { s.ExecID = "" },
		"argv":   func(s *ExecSpec) { s.Argv = nil },
		"argv0":  func(s *ExecSpec) { s.Argv = []string{""} },
		"env":    func(s *ExecSpec) { s.Env = []string{"NOEQUALS"} },
		"output": func(s *ExecSpec) { s.OutputPath = "rel/stderr" },
	} {
		s := good
		mut(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1", "B=2", "A=3"}, []string{"B=x", "C=y", "C=z", "ODD"})
	want := []string{"PATH=/bin", "A=3", "B=x", "C=z", "ODD"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
	}
	if got := MergeEnv(nil, nil); len(got) != 0 {
		t.Fatalf("MergeEnv(nil, nil) = %q", got)
	}
}
