// Package flagx adds what Mesos operators expect of command-line flags to the
// standard flag package: every flag can also come from a MESOS_<NAME>
// environment variable, durations accept Mesos units ("5secs", "1.5days") as
// well as Go's ("5s"), and help output lists each flag with its variable.
package flagx

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix is what Mesos reads flags from: --work_dir ↔ MESOS_WORK_DIR.
const EnvPrefix = "MESOS_"

// EnvName returns the environment variable for a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag that was not given on the
// command line from its MESOS_* variable (command line wins, as in Mesos).
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for %s: %w", v, EnvName(f.Name), err))
		}
	})
	return errors.Join(errs...)
}

// Usage returns a FlagSet usage function that lists the environment names too.
func Usage(fs *flag.FlagSet, header string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintln(out, header)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s\t%s%s [env %s]\n", f.Name, f.Usage, def, EnvName(f.Name))
		})
	}
}

// Duration is a flag.Value accepting Mesos and Go duration syntax.
type Duration struct{ D *time.Duration }

func (d Duration) String() string {
	if d.D == nil {
		return ""
	}
	return d.D.String()
}

func (d Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d.D = v
	return nil
}

var mesosUnits = []struct {
	suffix string
	unit   time.Duration
}{
	// Longest suffixes first so "ms" is not read as "s".
	{"weeks", 7 * 24 * time.Hour}, {"days", 24 * time.Hour}, {"hrs", time.Hour},
	{"mins", time.Minute}, {"secs", time.Second}, {"ms", time.Millisecond},
	{"us", time.Microsecond}, {"ns", time.Nanosecond},
}

// ParseDuration accepts Mesos durations ("10secs", "1.5days", "100ms") and
// Go durations ("10s", "1m30s").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range mesosUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok && num != "" {
			f, err := strconv.ParseFloat(num, 64)
			if err == nil {
				if f < 0 {
					return 0, fmt.Errorf("duration %q must not be negative", s)
				}
				return time.Duration(f * float64(u.unit)), nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use Mesos units (ns, us, ms, secs, mins, hrs, days, weeks) or Go syntax (10s)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return d, nil
}

// LookupEnv is os.Getenv, for callers of Parse.
func LookupEnv(name string) string { return os.Getenv(name) }
