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
	if hc.Type == nil {
		return errors.New("HealthCheck must specify 'type'")
	}
	switch hc.GetType() {
	case mesos.HealthCheck_COMMAND:
		if hc.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND health check")
		}
		c := hc.GetCommand()
		if c.GetValue() == "" {
			kind := "'executable path'"
			if c.GetShell() {
				kind = "'shell command'"
			}
			return errors.New("Command health check must contain " + kind)
		}
		for _, v := range c.GetEnvironment().GetVariables() {
			if v.GetName() == "" {
				return errors.New("Health check's `CommandInfo` is invalid: Environment variable has no name")
			}
			if v.GetType() == mesos.Environment_Variable_SECRET {
				return fmt.Errorf("Health check's `CommandInfo` is invalid: secret environment variable %q is not supported", v.GetName())
			}
		}
	case mesos.HealthCheck_HTTP:
		if hc.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP health check")
		}
		h := hc.GetHttp()
		if h.Scheme != nil && h.GetScheme() != "http" && h.GetScheme() != "https" {
			return fmt.Errorf("Unsupported HTTP health check scheme: '%s'", h.GetScheme())
		}
		if h.Path != nil && (h.GetPath() == "" || h.GetPath()[0] != '/') {
			return fmt.Errorf("The path '%s' of HTTP health check must start with '/'", h.GetPath())
		}
		if err := validatePort("HTTP", h.GetPort()); err != nil {
			return err
		}
	case mesos.HealthCheck_TCP:
		if hc.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP health check")
		}
		if err := validatePort("TCP", hc.GetTcp().GetPort()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("'%s' is not a valid health check type", hc.GetType())
	}
	for _, d := range []struct {
		name string
		set  bool
		v    float64
	}{
		{"delay_seconds", hc.DelaySeconds != nil, hc.GetDelaySeconds()},
		{"grace_period_seconds", hc.GracePeriodSeconds != nil, hc.GetGracePeriodSeconds()},
		{"interval_seconds", hc.IntervalSeconds != nil, hc.GetIntervalSeconds()},
		{"timeout_seconds", hc.TimeoutSeconds != nil, hc.GetTimeoutSeconds()},
	} {
		if d.set && !(d.v >= 0) { // also rejects NaN
			return fmt.Errorf("Expecting '%s' to be non-negative", d.name)
		}
	}
	return nil
}

func validatePort(kind string, port uint32) error {
	if port == 0 || port > 65535 {
		return fmt.Errorf("Expecting 'port' of %s health check to be in [1, 65535], got %d", kind, port)
	}
	return nil
}
