// Package healthcheck holds what the master and the agent share about
// Mesos task health checks (TaskInfo.health_check, Validate) and general
// checks (TaskInfo.check, ValidateCheck): their validation. The master
// refuses an invalid check with TASK_ERROR before the task reaches an
// agent (as Mesos' master does); the agent checks again because a task may
// come from an older master.
package healthcheck

import (
	"errors"
	"fmt"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// Validate is Mesos' common::validation::validateHealthCheck,
// plus checks for what the proto cannot express (a port of 0 or above
// 65535, NaN durations). The master prefixes "Task uses invalid health
// check: ".
func Validate(hc *mesos.HealthCheck) error {
	const noun = "health check"
	if hc.Type == nil {
		return errors.New("HealthCheck must specify 'type'")
	}
	switch hc.GetType() {
	case mesos.HealthCheck_COMMAND:
		if hc.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND health check")
		}
		if err := validateCommand(hc.GetCommand(), noun, "Health check's"); err != nil {
			return err
		}
	case mesos.HealthCheck_HTTP:
		if hc.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP health check")
		}
		h := hc.GetHttp()
		if h.Scheme != nil && h.GetScheme() != "http" && h.GetScheme() != "https" {
			return fmt.Errorf("Unsupported HTTP health check scheme: '%s'", h.GetScheme())
		}
		if err := validateHTTP(h.Path, h.GetPort(), noun); err != nil {
			return err
		}
	case mesos.HealthCheck_TCP:
		if hc.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP health check")
		}
		if err := validatePort("TCP", hc.GetTcp().GetPort(), noun); err != nil {
			return err
		}
	default:
		return fmt.Errorf("'%s' is not a valid health check type", hc.GetType())
	}
	return validateDurations([]duration{
		{"delay_seconds", hc.DelaySeconds},
		{"grace_period_seconds", hc.GracePeriodSeconds},
		{"interval_seconds", hc.IntervalSeconds},
		{"timeout_seconds", hc.TimeoutSeconds},
	})
}

// The rules below are shared by health checks and general checks; noun
// ("health check" or "check") and owner ("Health check's", "Check's") make
// the messages Mesos' for each.

func validateCommand(c *mesos.CommandInfo, noun, owner string) error {
	if c.GetValue() == "" {
		kind := "'executable path'"
		if c.GetShell() {
			kind = "'shell command'"
		}
		return fmt.Errorf("Command %s must contain %s", noun, kind)
	}
	for _, v := range c.GetEnvironment().GetVariables() {
		if v.GetName() == "" {
			return fmt.Errorf("%s `CommandInfo` is invalid: Environment variable has no name", owner)
		}
		if v.GetType() == mesos.Environment_Variable_SECRET {
			return fmt.Errorf("%s `CommandInfo` is invalid: secret environment variable %q is not supported", owner, v.GetName())
		}
	}
	return nil
}

func validateHTTP(path *string, port uint32, noun string) error {
	if path != nil && (*path == "" || (*path)[0] != '/') {
		return fmt.Errorf("The path '%s' of HTTP %s must start with '/'", *path, noun)
	}
	return validatePort("HTTP", port, noun)
}

func validatePort(kind string, port uint32, noun string) error {
	if port == 0 || port > 65535 {
		return fmt.Errorf("Expecting 'port' of %s %s to be in [1, 65535], got %d", kind, noun, port)
	}
	return nil
}

type duration struct {
	name string
	v    *float64 // nil: unset, the default applies
}

func validateDurations(ds []duration) error {
	for _, d := range ds {
		if d.v != nil && !(*d.v >= 0) { // also rejects NaN
			return fmt.Errorf("Expecting '%s' to be non-negative", d.name)
		}
	}
	return nil
}
