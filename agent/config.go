package agent

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mesosd/mesosd/agent/fingerprint"
	"github.com/mesosd/mesosd/agent/state"
)

// Config configures an Agent. The flag named in each comment is the Mesos
// agent flag the mesosd command maps onto the field.
type Config struct {
	// Masters are the master addresses ("host:port") to register with,
	// tried in order; a non-leader redirects to the leader. Flag --master
	// (comma-separated).
	Masters []string
	// WorkDir holds the checkpoint (meta/) and the task sandboxes
	// (slaves/). Required. Flag --work_dir.
	WorkDir string
	// IP is the address the agent advertises (and binds, in the cmd
	// package). Flag --ip.
	IP string
	// Port is the agent's HTTP port, advertised in AgentInfo. Flag --port
	// (default 5051).
	Port int
	// Hostname is advertised to the master and frameworks. Flag
	// --hostname (default: os.Hostname).
	Hostname string
	// Resources overrides detected resources per name, in Mesos' text form
	// "cpus:2;mem:1024;ports:[31000-32000]". Flag --resources.
	Resources string
	// Attributes are "name:value;..." pairs. Flag --attributes.
	Attributes string
	// ContainerdSocket is the containerd address the cmd package gives
	// the containerizer; the agent only reports it in /state flags. Flag
	// --containerd_socket.
	ContainerdSocket string
	// AllowHostPathVolumes lets tasks mount host paths (Volume.host_path or
	// a HOST_PATH source of ContainerInfo.volumes). Off by default: a
	// framework that may launch tasks could otherwise mount any host
	// directory read-write, e.g. "/" to plant a root cron job (the
	// Metasploit dcos_marathon exploit), so enabling it trusts every
	// framework with the machine. Even when on, the containerizer never
	// mounts the agent's own binary writable. Flag
	// --allow_host_path_volumes (mesosd-specific).
	AllowHostPathVolumes bool

	// RegistrationBackoffMin is the first delay before re-subscribing
	// after a failed attempt or a broken stream; it doubles per failure up
	// to RegistrationBackoffMax. Flag --registration_backoff_factor
	// (default 1s; max 1m as Mesos' REGISTER_RETRY_INTERVAL_MAX).
	RegistrationBackoffMin time.Duration
	RegistrationBackoffMax time.Duration
	// StatusUpdateRetryMin is the first retry interval of an
	// unacknowledged status update; it doubles per retry up to
	// StatusUpdateRetryMax (Mesos: 10s and 10min). Tests use milliseconds.
	StatusUpdateRetryMin time.Duration
	StatusUpdateRetryMax time.Duration
	// MaxPingTimeouts is how many ping intervals may pass without a PING
	// before the agent considers the master gone and re-subscribes
	// (Mesos: --max_agent_ping_timeouts, 5).
	MaxPingTimeouts int
	// DefaultPingInterval is used until the master announces its own in
	// REGISTERED (Mesos: --agent_ping_timeout, 15s).
	DefaultPingInterval time.Duration
	// KillGracePeriod is the SIGTERM-to-SIGKILL grace when a kill names
	// no kill policy (Mesos' command executor: 3s).
	KillGracePeriod time.Duration
	// WaitRetryMin is the first delay before watching a container again
	// after the runtime failed (e.g. containerd restarting); it doubles up
	// to WaitRetryMax. Tasks keep running under their shims meanwhile.
	WaitRetryMin time.Duration
	WaitRetryMax time.Duration
	// MaxCompletedTasks bounds the completed-task list kept for /state.
	MaxCompletedTasks int
	// MaxCompletedExecutorsPerFramework bounds each framework's
	// completed_executors in /state. Flag
	// --max_completed_executors_per_framework (default 150).
	MaxCompletedExecutorsPerFramework int
	// MaxCompletedFrameworks bounds completed_frameworks in /state. Flag
	// --max_completed_frameworks (default 50).
	MaxCompletedFrameworks int
	// CallTimeout bounds each agent -> master call.
	CallTimeout time.Duration

	// Version is reported to the master and in /state.
	Version string
	// HTTPClient talks to the masters; nil means a default client. Its
	// redirect policy is overridden: the agent follows redirects itself.
	HTTPClient *http.Client
	// StateDB overrides the checkpoint store (tests); nil opens bbolt at
	// state.Path(WorkDir). The agent closes it when Run returns.
	StateDB state.StateDB
	// Host overrides resource detection (tests); nil detects.
	Host *fingerprint.Host
}

// Defaults of the duration and count fields.
const (
	DefaultPort                   = 5051
	DefaultRegistrationBackoffMin = time.Second
	DefaultRegistrationBackoffMax = time.Minute
	DefaultStatusUpdateRetryMin   = 10 * time.Second
	DefaultStatusUpdateRetryMax   = 10 * time.Minute
	DefaultMaxPingTimeouts        = 5
	DefaultPingInterval           = 15 * time.Second
	DefaultKillGracePeriod        = 3 * time.Second
	DefaultWaitRetryMin           = 250 * time.Millisecond
	DefaultWaitRetryMax           = 10 * time.Second
	DefaultMaxCompletedTasks      = 1000
	DefaultMaxCompletedExecutors  = 150
	DefaultMaxCompletedFrameworks = 50
	DefaultCallTimeout            = 10 * time.Second
)

// withDefaults fills zero fields and validates the rest.
func (c Config) withDefaults() (Config, error) {
	if c.WorkDir == "" {
		return c, errors.New("agent config: work dir is required (--work_dir)")
	}
	abs, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return c, fmt.Errorf("agent config: work dir %q: %w", c.WorkDir, err)
	}
	c.WorkDir = abs
	if len(c.Masters) == 0 {
		return c, errors.New("agent config: at least one master address is required (--master=host:port[,host:port...])")
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("agent config: port %d out of range (--port)", c.Port)
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("agent config: no --hostname given and os.Hostname failed: %w", err)
		}
		c.Hostname = h
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RegistrationBackoffMin, DefaultRegistrationBackoffMin)
	def(&c.RegistrationBackoffMax, DefaultRegistrationBackoffMax)
	def(&c.StatusUpdateRetryMin, DefaultStatusUpdateRetryMin)
	def(&c.StatusUpdateRetryMax, DefaultStatusUpdateRetryMax)
	def(&c.DefaultPingInterval, DefaultPingInterval)
	def(&c.KillGracePeriod, DefaultKillGracePeriod)
	def(&c.CallTimeout, DefaultCallTimeout)
	def(&c.WaitRetryMin, DefaultWaitRetryMin)
	def(&c.WaitRetryMax, DefaultWaitRetryMax)
	if c.MaxPingTimeouts <= 0 {
		c.MaxPingTimeouts = DefaultMaxPingTimeouts
	}
	if c.MaxCompletedTasks <= 0 {
		c.MaxCompletedTasks = DefaultMaxCompletedTasks
	}
	if c.MaxCompletedExecutorsPerFramework <= 0 {
		c.MaxCompletedExecutorsPerFramework = DefaultMaxCompletedExecutors
	}
	if c.MaxCompletedFrameworks <= 0 {
		c.MaxCompletedFrameworks = DefaultMaxCompletedFrameworks
	}
	if c.RegistrationBackoffMax < c.RegistrationBackoffMin {
		c.RegistrationBackoffMax = c.RegistrationBackoffMin
	}
	if c.WaitRetryMax < c.WaitRetryMin {
		c.WaitRetryMax = c.WaitRetryMin
	}
	if c.StatusUpdateRetryMax < c.StatusUpdateRetryMin {
		c.StatusUpdateRetryMax = c.StatusUpdateRetryMin
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c, nil
}
