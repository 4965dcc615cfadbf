#!/usr/bin/env bash
# setup.sh installs what mesosd needs on a fresh Debian/Ubuntu machine:
# containerd and runc (the agent's container runtime) and protoc (to check
# that the generated protobuf code is up to date). Needs root; idempotent.
set -euo pipefail

need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
if ((${#need[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "setup: missing ${need[*]}; run as root (or: sudo apt-get install -y ${need[*]})" >&2
	exit 1
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
