#!/usr/bin/env bash
# containerd-dev.sh starts or stops a private containerd for mesosd
# development and integration tests.
#
#   scripts/containerd-dev.sh start [DIR]   # default DIR=/tmp/mesosd-ctrd
#   scripts/containerd-dev.sh stop  [DIR]
#   scripts/containerd-dev.sh status [DIR]
#
# Everything lives under DIR: config.toml, root/, state/, containerd.sock,
# containerd.sock.ttrpc, containerd.pid and containerd.log. Because root,
# state and both sockets are private, it never clashes with a system
# containerd (or another private one under a different DIR). "start" is
# idempotent: if the daemon for DIR already answers, it only prints the
# socket. On success "start" prints the gRPC socket path on stdout.
#
# Needs root (containerd and runc do). In CI: apt-get install -y containerd runc.
set -euo pipefail

cmd=${1:-}
dir=${2:-/tmp/mesosd-ctrd}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P) # absolute: it goes into the config and the pid check
sock="$dir/containerd.sock"
pidfile="$dir/containerd.pid"
log="$dir/containerd.log"
timeout=${CONTAINERD_DEV_TIMEOUT:-30}

die() { echo "containerd-dev: $*" >&2; exit 1; }

answers() { ctr --address "$sock" version >/dev/null 2>&1; }

running_pid() {
	[[ -f $pidfile ]] || return 1
	local pid
	pid=$(cat "$pidfile")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must be a containerd using our config.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "containerd --config $dir/config.toml" || return 1
	echo "$pid"
}

start() {
	command -v containerd >/dev/null || die "containerd not found (apt-get install -y containerd runc)"
	command -v ctr >/dev/null || die "ctr not found (apt-get install -y containerd)"
	command -v runc >/dev/null || die "runc not found (apt-get install -y runc)"
	mkdir -p "$dir/root" "$dir/state"

	if running_pid >/dev/null && answers; then
		echo "$sock"
		return 0
	fi
	if pid=$(running_pid); then
		# Alive but not answering: wait for it below rather than start a second one.
		:
	else
		rm -f "$sock" "$sock.ttrpc"
		# Plugins mesosd does not use are disabled: fewer moving parts and
		# a faster start (CRI would also want its own network setup).
		cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = ""
TOML
		# setsid: the daemon must not die with the calling shell or CI step.
		setsid containerd --config "$dir/config.toml" >>"$log" 2>&1 </dev/null &
		echo $! >"$pidfile"
	fi
	local deadline=$((SECONDS + timeout))
	until answers; do
		if ! running_pid >/dev/null; then
			tail -n 20 "$log" >&2 || true
			die "containerd exited during start (log: $log)"
		fi
		((SECONDS < deadline)) || die "containerd did not answer on $sock within ${timeout}s (log: $log)"
		sleep 0.1
	done
	echo "$sock"
}

stop() {
	local pid
	if ! pid=$(running_pid); then
		rm -f "$pidfile"
		return 0
	fi
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" || true
	fi
	rm -f "$pidfile"
	# Shims (and so running containers) deliberately outlive containerd,
	# as in production; remove leftover containers with ctr before stop
	# if a clean slate is wanted.
}

case $cmd in
start) start ;;
stop) stop ;;
status)
	if running_pid >/dev/null && answers; then echo "running $sock"; else echo "stopped"; exit 1; fi
	;;
*) die "usage: $0 start|stop|status [DIR]" ;;
esac
