package master

import (
	"log/slog"
	"time"
)

// Operator GET/SET_LOGGING_LEVEL. Mesos reports and sets glog's verbosity
// (0 normally, higher is more verbose) and SET lasts for a duration, after
// which the original level returns. mesosd maps verbosity > 0 to debug and 0
// to the level the master was started with (--log_level).

func logLevelOf(v *slog.LevelVar) slog.Level {
	if v == nil {
		return slog.LevelInfo
	}
	return v.Level()
}

// loggingVerbosity is the Mesos-style level GET_LOGGING_LEVEL reports.
func (m *Master) loggingVerbosity() uint32 {
	if logLevelOf(m.cfg.LogLevel) <= slog.LevelDebug {
		return 1
	}
	return 0
}

// setLoggingLevel applies SET_LOGGING_LEVEL; it reports false when the log
// level cannot be changed (no Config.LogLevel).
func (m *Master) setLoggingLevel(verbosity uint32, d time.Duration) bool {
	if m.cfg.LogLevel == nil {
		return false
	}
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.logReset != nil {
		m.logReset.Stop()
	}
	level := m.baseLogLevel
	if verbosity > 0 {
		level = min(level, slog.LevelDebug)
	}
	m.cfg.LogLevel.Set(level)
	base := m.baseLogLevel
	m.logReset = time.AfterFunc(d, func() { m.cfg.LogLevel.Set(base) })
	m.log.Info("logging level changed by the operator", "verbosity", verbosity, "level", level, "for", d)
	return true
}

func (m *Master) stopLogReset() {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if m.logReset != nil {
		m.logReset.Stop()
		m.logReset = nil
	}
}
