// Command mesosd is the whole Mesos stack in one binary: `mesosd master`,
// `mesosd agent`, and `mesosd dev` (a master and an agent in one process on
// loopback, for trying things out and for tests).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mesosd/mesosd/agent"
	"github.com/mesosd/mesosd/agent/containerizer/ctrd"
	"github.com/mesosd/mesosd/internal/devctrd"
	"github.com/mesosd/mesosd/internal/flagx"
	"github.com/mesosd/mesosd/master"
)

const usage = `mesosd: a Mesos-compatible cluster manager in one binary.

Usage:
  mesosd master [flags]   run a master (scheduler API, agents, registry)
  mesosd agent  [flags]   run an agent (tasks in containerd containers)
  mesosd dev    [flags]   master + agent in one process on loopback, data in ./.mesosd
  mesosd masters list|add|remove --master HOST:PORT [--id N] [--address HOST:PORT]
                          show or change the set of replicated masters
  mesosd version

Every flag can also be set as MESOS_<FLAG> in the environment (e.g.
MESOS_WORK_DIR). Run "mesosd <command> --help" for the flags of a command.
`

func main() {
	// The containerizer re-executes this binary as containerd's logging
	// binary and as the init process of task containers.
	if ctrd.IsHelperInvocation(os.Args) {
		ctrd.RunHelper(os.Args)
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "master":
		err = runMaster(ctx, args)
	case "agent":
		err = runAgent(ctx, args)
	case "dev":
		err = runDev(ctx, args)
	case "masters":
		err = runMasters(ctx, args)
	case "version", "--version":
		fmt.Printf("mesosd (Mesos API %s)\n", master.Version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "mesosd: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "mesosd: %v\n", err)
		os.Exit(1)
	}
}

// logLevel is the level of the process's logger: the operator API's
// SET_LOGGING_LEVEL changes it for a while.
var logLevel = new(slog.LevelVar)

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log_level %q: use debug, info, warn or error", level)
	}
	logLevel.Set(l)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})), nil
}

// masterFlags are the master's flags, named as in Mesos where Mesos has them.
type masterFlags struct {
	ip, hostname, workDir, logLevel string
	id                              uint64
	peers, clusterID, weights       string
	minAllocatable, roles           string
	join                            bool
	port                            int
	insecure, rootSubmissions       bool
	allocationInterval              time.Duration
	offerTimeout                    time.Duration
	agentPingTimeout                time.Duration
	agentReregisterTimeout          time.Duration
	registryGCInterval              time.Duration
	registryMaxAgentAge             time.Duration
	registryMaxAgentCount           int
	agentRemovalRateLimit           string
	maxAgentPingTimeouts            int
}

func (f *masterFlags) register(fs *flag.FlagSet, withAddr bool) {
	if withAddr {
		fs.StringVar(&f.ip, "ip", "127.0.0.1", "IP address to listen on")
		fs.IntVar(&f.port, "port", 5050, "port to listen on")
		fs.StringVar(&f.hostname, "hostname", "", "hostname to advertise (default: the IP)")
		fs.StringVar(&f.workDir, "work_dir", "", "directory for the replicated registry (required)")
		fs.BoolVar(&f.insecure, "insecure", false, "allow listening on a non-loopback address without authentication and TLS")
		fs.Uint64Var(&f.id, "id", 1, "this master's Raft ID (unique in the cluster, never reused)")
		fs.StringVar(&f.peers, "master_peers", "", `all masters of a replicated cluster as ID=host:port, comma-separated, this one included (e.g. "1=10.0.0.1:5050,2=10.0.0.2:5050,3=10.0.0.3:5050"); empty: a single master`)
		fs.StringVar(&f.clusterID, "cluster_id", "mesosd", "cluster name; masters refuse Raft traffic from another cluster")
		fs.BoolVar(&f.join, "join", false, "start empty and wait to be added to a running cluster (mesosd masters add) instead of bootstrapping one")
	}
	fs.StringVar(&f.minAllocatable, "min_allocatable_resources", "", `offer an agent only if what is left covers one of these alternatives, e.g. "cpus:0.01|mem:32" (the default)`)
	fs.StringVar(&f.roles, "roles", "", `comma-separated whitelist of roles frameworks may use (deprecated in Mesos; empty: any role)`)
	fs.StringVar(&f.weights, "weights", "", `initial role weights, e.g. "eng=2,ops=0.5" (used while the registry has none; then UPDATE_WEIGHTS rules)`)
	fs.BoolVar(&f.rootSubmissions, "root_submissions", true, "allow frameworks to run tasks as root")
	fs.Var(flagx.Duration{D: &f.allocationInterval}, "allocation_interval", "time between full allocation runs")
	fs.Var(flagx.Duration{D: &f.offerTimeout}, "offer_timeout", "rescind offers held longer than this (0: never)")
	fs.Var(flagx.Duration{D: &f.agentPingTimeout}, "agent_ping_timeout", "time to wait for an agent's answer to a ping")
	fs.Var(flagx.Duration{D: &f.agentReregisterTimeout}, "agent_reregister_timeout", "after a failover, how long agents have to re-register before they are unreachable")
	fs.IntVar(&f.maxAgentPingTimeouts, "max_agent_ping_timeouts", 5, "missed pings before an agent is unreachable")
	fs.StringVar(&f.agentRemovalRateLimit, "agent_removal_rate_limit", "", `at most N agents marked unreachable per duration, e.g. "1/20mins" (empty: no limit)`)
	fs.Var(flagx.Duration{D: &f.registryGCInterval}, "registry_gc_interval", "how often unreachable/gone agents are garbage-collected from the registry")
	fs.Var(flagx.Duration{D: &f.registryMaxAgentAge}, "registry_max_agent_age", "unreachable/gone agents older than this are removed from the registry")
	fs.IntVar(&f.registryMaxAgentCount, "registry_max_agent_count", 102400, "at most this many unreachable/gone agents are kept in the registry")
	f.registryGCInterval = 15 * time.Minute
	f.registryMaxAgentAge = 14 * 24 * time.Hour
	f.allocationInterval = time.Second
	f.agentPingTimeout = 15 * time.Second
	f.agentReregisterTimeout = 10 * time.Minute
}

// parseWeights reads --weights: "role=weight,role=weight".
func parseWeights(s string) (map[string]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := make(map[string]float64)
	for _, part := range strings.Split(s, ",") {
		role, ws, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(ws, 64)
		if !ok || err != nil || !(w > 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("--weights entry %q: want role=weight with a weight > 0", part)
		}
		out[role] = w
	}
	return out, nil
}

// parsePeers reads --master_peers: "1=host:port,2=host:port".
func parsePeers(s string) (map[uint64]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := make(map[uint64]string)
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("--master_peers entry %q: want ID=host:port", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("--master_peers entry %q: the ID must be a positive integer", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--master_peers entry %q: %v", part, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--master_peers names ID %d twice", id)
		}
		out[id] = addr
	}
	return out, nil
}

func (f *masterFlags) config(logger *slog.Logger, flags map[string]string) (master.Config, error) {
	weights, err := parseWeights(f.weights)
	if err != nil {
		return master.Config{}, err
	}
	rate, err := master.ParseRateLimit(f.agentRemovalRateLimit)
	if err != nil {
		return master.Config{}, fmt.Errorf("--agent_removal_rate_limit: %w", err)
	}
	return master.Config{
		LogLevel:               logLevel,
		InitialWeights:         weights,
		MinAllocatable:         f.minAllocatable,
		Roles:                  splitList(f.roles),
		Join:                   f.join,
		AgentRemovalRateLimit:  rate,
		RegistryGCInterval:     f.registryGCInterval,
		RegistryMaxAgentAge:    f.registryMaxAgentAge,
		RegistryMaxAgentCount:  f.registryMaxAgentCount,
		ID:                     f.id,
		ClusterID:              f.clusterID,
		WorkDir:                f.workDir,
		Hostname:               f.hostname,
		IP:                     f.ip,
		Port:                   f.port,
		AllocationInterval:     f.allocationInterval,
		OfferTimeout:           f.offerTimeout,
		AgentPingTimeout:       f.agentPingTimeout,
		MaxAgentPingTimeouts:   f.maxAgentPingTimeouts,
		AgentReregisterTimeout: f.agentReregisterTimeout,
		RootSubmissions:        f.rootSubmissions,
		Flags:                  flags,
		Logger:                 logger,
	}, nil
}

// flagValues records every flag's effective value for /master/flags.
func flagValues(fs *flag.FlagSet) map[string]string {
	out := make(map[string]string)
	fs.VisitAll(func(f *flag.Flag) { out[f.Name] = f.Value.String() })
	return out
}

// checkListen refuses a non-loopback address unless --insecure is given:
// mesosd has no authentication yet, so an open port would let anyone on the
// network run code on every agent.
func checkListen(ip string, insecure bool, logger *slog.Logger) error {
	addr := net.ParseIP(ip)
	if addr == nil {
		return fmt.Errorf("--ip %q is not an IP address", ip)
	}
	if addr.IsLoopback() {
		return nil
	}
	if !insecure {
		return fmt.Errorf("refusing to listen on non-loopback address %s without authentication and TLS; pass --insecure to do it anyway", ip)
	}
	logger.Warn("INSECURE: listening on a non-loopback address without authentication or TLS; anyone who can reach it can run tasks", "ip", ip)
	return nil
}

func parseFlags(fs *flag.FlagSet, header string, args []string) error {
	fs.Usage = flagx.Usage(fs, header)
	return flagx.Parse(fs, args, flagx.LookupEnv)
}

func runMaster(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	var mf masterFlags
	mf.register(fs, true)
	logLevel := fs.String("log_level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, "Usage: mesosd master --work_dir DIR [flags]", args); err != nil {
		return err
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if mf.workDir == "" {
		return errors.New("--work_dir (or MESOS_WORK_DIR) is required: the master keeps its replicated registry there")
	}
	if err := checkListen(mf.ip, mf.insecure, logger); err != nil {
		return err
	}
	peers, err := parsePeers(mf.peers)
	if err != nil {
		return err
	}
	if len(peers) > 0 {
		if _, ok := peers[mf.id]; !ok {
			return fmt.Errorf("--master_peers does not list this master's --id %d", mf.id)
		}
	}
	cfg, err := mf.config(logger, flagValues(fs))
	if err != nil {
		return err
	}
	cfg.PeerAddrs = peers
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(mf.ip, strconv.Itoa(mf.port))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.Run(ctx) })
	g.Go(func() error { return serve(ctx, addr, m.Handler(), logger) })
	return g.Wait()
}

// agentFlags are the agent's flags, named as in Mesos where Mesos has them.
type agentFlags struct {
	masters, ip, hostname, workDir, resources, attributes string
	containerdSocket                                      string
	port                                                  int
	insecure, allowHostPathVolumes                        bool
}

func (f *agentFlags) register(fs *flag.FlagSet, withAddr bool) {
	if withAddr {
		fs.StringVar(&f.masters, "master", "127.0.0.1:5050", "master address(es), host:port, comma-separated")
		fs.StringVar(&f.ip, "ip", "127.0.0.1", "IP address to listen on")
		fs.IntVar(&f.port, "port", 5051, "port to listen on")
		fs.StringVar(&f.hostname, "hostname", "", "hostname to advertise (default: the IP)")
		fs.StringVar(&f.workDir, "work_dir", "", "directory for sandboxes and checkpoints (required)")
		fs.BoolVar(&f.insecure, "insecure", false, "allow listening on a non-loopback address without authentication and TLS")
		fs.StringVar(&f.containerdSocket, "containerd_socket", ctrd.DefaultAddress, "containerd socket")
	}
	fs.StringVar(&f.resources, "resources", "", `resources to offer instead of detected ones, e.g. "cpus:2;mem:1024;ports:[31000-32000]"`)
	fs.StringVar(&f.attributes, "attributes", "", `agent attributes, e.g. "rack:r1;zone:z1"`)
	fs.BoolVar(&f.allowHostPathVolumes, "allow_host_path_volumes", false, "let tasks mount host paths (ContainerInfo volumes with host_path); off by default because it lets any framework read or write the host")
}

func (f *agentFlags) config() agent.Config {
	var masters []string
	for _, m := range strings.Split(f.masters, ",") {
		if m = strings.TrimSpace(m); m != "" {
			masters = append(masters, m)
		}
	}
	return agent.Config{
		Masters:              masters,
		WorkDir:              f.workDir,
		IP:                   f.ip,
		Port:                 f.port,
		Hostname:             f.hostname,
		Resources:            f.resources,
		Attributes:           f.attributes,
		ContainerdSocket:     f.containerdSocket,
		AllowHostPathVolumes: f.allowHostPathVolumes,
		Version:              master.Version,
	}
}

func runAgent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	var af agentFlags
	af.register(fs, true)
	logLevel := fs.String("log_level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, "Usage: mesosd agent --master HOST:PORT --work_dir DIR [flags]", args); err != nil {
		return err
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if af.workDir == "" {
		return errors.New("--work_dir (or MESOS_WORK_DIR) is required: the agent keeps sandboxes and its checkpoint there")
	}
	if err := checkListen(af.ip, af.insecure, logger); err != nil {
		return err
	}
	return startAgent(ctx, af, logger)
}

func startAgent(ctx context.Context, af agentFlags, logger *slog.Logger) error {
	c, err := ctrd.New(ctx, ctrd.Config{Address: af.containerdSocket})
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", af.containerdSocket, err)
	}
	defer c.Close()
	if af.allowHostPathVolumes {
		logger.Warn("INSECURE: --allow_host_path_volumes lets every framework mount host paths into its tasks")
	}
	a, err := agent.New(af.config(), c, logger)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(af.ip, strconv.Itoa(af.port))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(ctx) })
	g.Go(func() error { return serve(ctx, addr, a.Handler(), logger) })
	return g.Wait()
}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	workDir := fs.String("work_dir", ".mesosd", "data directory (master registry, agent sandboxes, private containerd)")
	masterPort := fs.Int("port", 5050, "master port")
	agentPort := fs.Int("agent_port", 5051, "agent port")
	socket := fs.String("containerd_socket", "", "use this containerd instead of starting a private one")
	logLevel := fs.String("log_level", "info", "log level: debug, info, warn, error")
	var mf masterFlags
	mf.register(fs, false)
	var af agentFlags
	af.register(fs, false)
	if err := parseFlags(fs, "Usage: mesosd dev [flags]", args); err != nil {
		return err
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*workDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if *socket == "" {
		logger.Info("starting a private containerd", "dir", filepath.Join(dir, "containerd"))
		d, err := devctrd.Start(ctx, filepath.Join(dir, "containerd"))
		if err != nil {
			return err
		}
		defer d.Stop()
		*socket = d.Socket
	}
	mf.ip, mf.port, mf.hostname, mf.workDir = "127.0.0.1", *masterPort, "127.0.0.1", filepath.Join(dir, "master")
	af.masters = net.JoinHostPort("127.0.0.1", strconv.Itoa(*masterPort))
	af.ip, af.port, af.hostname, af.workDir = "127.0.0.1", *agentPort, "127.0.0.1", filepath.Join(dir, "agent")
	af.containerdSocket = *socket
	cfg, err := mf.config(logger, flagValues(fs))
	if err != nil {
		return err
	}
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	masterAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(*masterPort))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.Run(ctx) })
	g.Go(func() error { return serve(ctx, masterAddr, m.Handler(), logger) })
	g.Go(func() error { return startAgent(ctx, af, logger) })
	fmt.Fprintf(os.Stderr, `
mesosd dev is running.
  Scheduler API  http://%[1]s/api/v1/scheduler   (e.g. msh -master %[1]s -- /bin/echo hi)
  Master state   http://%[1]s/master/state
  Metrics        http://%[1]s/metrics/snapshot
  Agent          http://127.0.0.1:%[2]d/state
  Data           %[3]s  (task sandboxes under agent/slaves/)
  containerd     %[4]s
Stop with Ctrl-C; running tasks survive a restart of mesosd dev.

`, masterAddr, *agentPort, dir, *socket)
	return g.Wait()
}

// serve runs an HTTP server until ctx ends. Streams (SUBSCRIBE) are
// long-lived, so there is no write timeout; slow or idle header senders are
// cut off instead.
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another mesosd running?)", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close() // streams never go idle; close them
		return nil
	}
}

// runMasters is the operator CLI for master membership: it talks to
// /mesosd/v1/masters on any master (changes follow the redirect to the
// leader).
func runMasters(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: mesosd masters list|add|remove --master HOST:PORT [--id N] [--address HOST:PORT]")
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("masters "+verb, flag.ContinueOnError)
	addr := fs.String("master", "127.0.0.1:5050", "any master of the cluster")
	id := fs.Uint64("id", 0, "the master's Raft ID (add, remove)")
	address := fs.String("address", "", "the new master's host:port (add)")
	if err := parseFlags(fs, "Usage: mesosd masters "+verb+" [flags]", args); err != nil {
		return err
	}
	base := "http://" + *addr + master.MembersPath
	var req *http.Request
	var err error
	switch verb {
	case "list":
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	case "add":
		if *id == 0 || *address == "" {
			return errors.New("masters add needs --id and --address (the new master must run with --join)")
		}
		body := fmt.Sprintf(`{"id":%d,"address":%q}`, *id, *address)
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base, strings.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	case "remove":
		if *id == 0 {
			return errors.New("masters remove needs --id")
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", base, *id), nil)
	default:
		return fmt.Errorf("unknown masters command %q: use list, add or remove", verb)
	}
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("contact master %s: %w", *addr, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(out)))
	}
	if len(out) > 0 {
		fmt.Println(strings.TrimSpace(string(out)))
	} else {
		fmt.Println("ok")
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
