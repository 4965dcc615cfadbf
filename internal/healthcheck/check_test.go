package healthcheck

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

func TestValidateCheck(t *testing.T) {
	cmd := func(c *mesos.CommandInfo) *mesos.CheckInfo {
		return &mesos.CheckInfo{Type: mesos.CheckInfo_COMMAND.Enum(), Command: &mesos.CheckInfo_Command{Command: c}}
	}
	httpC := func(port uint32, path *string) *mesos.CheckInfo {
		return &mesos.CheckInfo{Type: mesos.CheckInfo_HTTP.Enum(), Http: &mesos.CheckInfo_Http{Port: proto.Uint32(port), Path: path}}
	}
	tcpC := func(port uint32) *mesos.CheckInfo {
		return &mesos.CheckInfo{Type: mesos.CheckInfo_TCP.Enum(), Tcp: &mesos.CheckInfo_Tcp{Port: proto.Uint32(port)}}
	}
	valid := []*mesos.CheckInfo{
		cmd(&mesos.CommandInfo{Value: proto.String("true")}),
		cmd(&mesos.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/true")}),
		httpC(80, nil),
		httpC(65535, proto.String("/ready?x=1")),
		tcpC(1),
		{Type: mesos.CheckInfo_TCP.Enum(), Tcp: &mesos.CheckInfo_Tcp{Port: proto.Uint32(9)}, DelaySeconds: proto.Float64(0),
			IntervalSeconds: proto.Float64(math.Inf(1)), TimeoutSeconds: proto.Float64(0)},
	}
	for _, c := range valid {
		if err := ValidateCheck(c); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	withDur := func(set func(c *mesos.CheckInfo)) *mesos.CheckInfo {
		c := tcpC(80)
		set(c)
		return c
	}
	for _, tc := range []struct {
		c    *mesos.CheckInfo
		want string
	}{
		{&mesos.CheckInfo{}, "CheckInfo must specify 'type'"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_UNKNOWN.Enum()}, "'UNKNOWN' is not a valid check type"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_COMMAND.Enum()}, "Expecting 'command' to be set for COMMAND check"},
		{cmd(&mesos.CommandInfo{}), "Command check must contain 'shell command'"},
		{cmd(&mesos.CommandInfo{Shell: proto.Bool(false)}), "Command check must contain 'executable path'"},
		{cmd(&mesos.CommandInfo{Value: proto.String("x"), Environment: &mesos.Environment{
			Variables: []*mesos.Environment_Variable{{Name: proto.String("")}}}}), "Check's `CommandInfo` is invalid: Environment variable has no name"},
		{cmd(&mesos.CommandInfo{Value: proto.String("x"), Environment: &mesos.Environment{
			Variables: []*mesos.Environment_Variable{{Name: proto.String("S"), Type: mesos.Environment_Variable_SECRET.Enum()}}}}),
			"Check's `CommandInfo` is invalid: secret environment variable"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_HTTP.Enum()}, "Expecting 'http' to be set for HTTP check"},
		{httpC(80, proto.String("")), "The path '' of HTTP check must start with '/'"},
		{httpC(80, proto.String("ready")), "The path 'ready' of HTTP check must start with '/'"},
		{httpC(0, nil), "Expecting 'port' of HTTP check to be in [1, 65535], got 0"},
		{&mesos.CheckInfo{Type: mesos.CheckInfo_TCP.Enum()}, "Expecting 'tcp' to be set for TCP check"},
		{tcpC(70000), "Expecting 'port' of TCP check to be in [1, 65535], got 70000"},
		{withDur(func(c *mesos.CheckInfo) { c.DelaySeconds = proto.Float64(-1) }), "Expecting 'delay_seconds' to be non-negative"},
		{withDur(func(c *mesos.CheckInfo) { c.IntervalSeconds = proto.Float64(math.NaN()) }), "Expecting 'interval_seconds' to be non-negative"},
		{withDur(func(c *mesos.CheckInfo) { c.TimeoutSeconds = proto.Float64(-0.5) }), "Expecting 'timeout_seconds' to be non-negative"},
	} {
		err := ValidateCheck(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.c, err, tc.want)
		}
	}
}
