#!/usr/bin/env bash
# test-all.sh runs every test layer on this machine, from a fresh checkout:
#   1. installs containerd, runc and protoc if missing (scripts/setup.sh),
#   2. starts a private containerd (scripts/containerd-dev.sh) for the tests
#      that need a real one,
#   3. make verify (gofmt, vet, generated code, go mod tidy, apply determinism),
#   4. unit and integration tests with -race (containerd/root tests run here),
#   5. end-to-end tests against real mesosd processes,
#   6. compatibility tests with third-party clients (mesos-go), both codecs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s ====\n' "$*"; }

# Test output is also kept in a log so that, on failure, the end of the
# output repeats why each failed test failed (scripts/fail-digest.sh).
testlog=$(mktemp -t mesosd-test-all.XXXXXX.log)
digest() {
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		printf '\n==== FAILED (exit %d): digest of the failed tests ====\n' "$rc"
		scripts/fail-digest.sh "$testlog"
	fi
	rm -f "$testlog"
}
logged() { "$@" 2>&1 | tee -a "$testlog"; }

step "setup"
scripts/setup.sh

ctrd_dir=${MESOSD_CTRD_DIR:-/tmp/mesosd-test-ctrd}
if [[ $(id -u) -eq 0 ]]; then
	step "private containerd in $ctrd_dir"
	export MESOSD_CONTAINERD_SOCKET
	MESOSD_CONTAINERD_SOCKET=$(scripts/containerd-dev.sh start "$ctrd_dir")
	trap 'digest; scripts/containerd-dev.sh stop "$ctrd_dir" >/dev/null 2>&1 || true' EXIT
else
	trap digest EXIT
	echo "not root: tests that need containerd and cgroups will skip"
fi

step "verify"
make verify

step "unit and integration tests (race)"
logged make test

step "end-to-end tests"
logged make e2e

step "compatibility tests (mesos-go)"
logged make compat
