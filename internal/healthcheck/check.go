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
	const noun = "check"
	if c.Type == nil {
		return errors.New("CheckInfo must specify 'type'")
	}
	switch c.GetType() {
	case mesos.CheckInfo_COMMAND:
		if c.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND check")
		}
		if err := validateCommand(c.GetCommand().GetCommand(), noun, "Check's"); err != nil {
			return err
		}
	case mesos.CheckInfo_HTTP:
		if c.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP check")
		}
		if err := validateHTTP(c.GetHttp().Path, c.GetHttp().GetPort(), noun); err != nil {
			return err
		}
	case mesos.CheckInfo_TCP:
		if c.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP check")
		}
		if err := validatePort("TCP", c.GetTcp().GetPort(), noun); err != nil {
			return err
		}
	default:
		return fmt.Errorf("'%s' is not a valid check type", c.GetType())
	}
	return validateDurations([]duration{
		{"delay_seconds", c.DelaySeconds},
		{"interval_seconds", c.IntervalSeconds},
		{"timeout_seconds", c.TimeoutSeconds},
	})
}
