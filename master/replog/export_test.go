package replog

// SetBeforePersist installs a hook Process runs after sending a Ready's
// early messages and before persisting it; an error from f fails the Log at
// that point, as a crash between the two would (the Ready is never saved).
func SetBeforePersist(l *Log, f func() error) { l.beforePersist = f }
