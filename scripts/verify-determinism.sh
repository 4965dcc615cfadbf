#!/usr/bin/env bash
# verify-determinism.sh enforces that the replicated state machine is
# deterministic: code that applies Raft entries must not read the clock,
# randomness or mint IDs (the leader stamps those into commands).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -nE 'time\.(Now|Since|Until)\(|math/rand|crypto/rand|uuid\.New' master/registry/*.go | grep -v '_test\.go' || true)
if [[ -n $bad ]]; then
	echo "verify-determinism: non-deterministic calls in the registry apply path:"
	echo "$bad"
	exit 1
fi
