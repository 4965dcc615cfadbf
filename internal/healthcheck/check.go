package healthcheck

import (
	"errors"
	"fmt"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// ValidateCheck is Mesos' common::validation::validateCheckInfo for
// general checks (TaskInfo.check), plus checks for what the proto cannot
// express (a port of 0 or above 65535, NaN durations) and what mesosd
// cannot run (secret environment variables). The master refuses such a
// task with TASK_ERROR, REASON_TASK_INVALID and the message
// "Task uses invalid check: " + the error.
func ValidateCheck(c *mesos.CheckInfo) error {
	if c.Type == nil {
		return errors.New("CheckInfo must specify 'type'")
	}
	switch c.GetType() {
	case mesos.CheckInfo_COMMAND:
		if c.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND check")
		}
		cmd := c.GetCommand().GetCommand()
		if cmd.GetValue() == "" {
			kind := "'executable path'"
			if cmd.GetShell() {
				kind = "'shell command'"
			}
			return errors.New("Command check must contain " + kind)
		}
		for _, v := range cmd.GetEnvironment().GetVariables() {
			if v.GetName() == "" {
				return errors.New("Check's `CommandInfo` is invalid: Environment variable has no name")
			}
			if v.GetType() == mesos.Environment_Variable_SECRET {
				return fmt.Errorf("Check's `CommandInfo` is invalid: secret environment variable %q is not supported", v.GetName())
			}
		}
	case mesos.CheckInfo_HTTP:
		if c.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP check")
		}
		h := c.GetHttp()
		if h.Path != nil && (h.GetPath() == "" || h.GetPath()[0] != '/') {
			return fmt.Errorf("The path '%s' of HTTP check must start with '/'", h.GetPath())
		}
		if err := validateCheckPort("HTTP", h.GetPort()); err != nil {
			return err
		}
	case mesos.CheckInfo_TCP:
		if c.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP check")
		}
		if err := validateCheckPort("TCP", c.GetTcp().GetPort()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("'%s' is not a valid check type", c.GetType())
	}
	for _, d := range []struct {
		name string
		set  bool
		v    float64
	}{
		{"delay_seconds", c.DelaySeconds != nil, c.GetDelaySeconds()},
		{"interval_seconds", c.IntervalSeconds != nil, c.GetIntervalSeconds()},
		{"timeout_seconds", c.TimeoutSeconds != nil, c.GetTimeoutSeconds()},
	} {
		if d.set && !(d.v >= 0) { // also rejects NaN
			return fmt.Errorf("Expecting '%s' to be non-negative", d.name)
		}
	}
	return nil
}

func validateCheckPort(kind string, port uint32) error {
	if port == 0 || port > 65535 {
		return fmt.Errorf("Expecting 'port' of %s check to be in [1, 65535], got %d", kind, port)
	}
	return nil
}
