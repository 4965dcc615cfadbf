package flagx

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "5secs", want: 5 * time.Second},
		{in: "1.5days", want: 36 * time.Hour},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "2mins", want: 2 * time.Minute},
		{in: "1weeks", want: 7 * 24 * time.Hour},
		{in: "10s", want: 10 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "-1secs", bad: true},
		{in: "five", bad: true},
		{in: "secs", bad: true},
	} {
		got, err := ParseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseEnvFallbackAndPrecedence(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	workDir := fs.String("work_dir", "/default", "")
	port := fs.Int("port", 5050, "")
	var d time.Duration
	fs.Var(Duration{&d}, "offer_timeout", "")
	env := map[string]string{"MESOS_WORK_DIR": "/from-env", "MESOS_PORT": "6060", "MESOS_OFFER_TIMEOUT": "3secs"}
	if err := Parse(fs, []string{"--port=7070"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *workDir != "/from-env" || *port != 7070 || d != 3*time.Second {
		t.Fatalf("work_dir=%q port=%d offer_timeout=%v; want env for unset flags, command line for set ones", *workDir, *port, d)
	}
	env["MESOS_PORT"] = "not-a-port"
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Int("port", 5050, "")
	if err := Parse(fs2, nil, func(k string) string { return env[k] }); err == nil {
		t.Fatal("an invalid MESOS_PORT must be an error, not ignored")
	}
}
