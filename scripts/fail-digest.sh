#!/usr/bin/env bash
# fail-digest.sh LOG: prints, for every failed Go test in a `go test -v` log,
# its own error lines (file_test.go:N: ...) and log tails, so that the end of
# a long CI log says why a test failed even when only part of it is shown.
set -uo pipefail
log=${1:?usage: fail-digest.sh LOG}
[[ -s $log ]] || exit 0
awk '
	/^=== (RUN|CONT|PAUSE)/ { cur = $3; split(cur, p, "/"); top = p[1]; next }
	/^--- FAIL: / {
		name = $3
		if (index(name, "/") == 0 && !(name in seen)) { seen[name] = 1; order[++n] = name }
		next
	}
	/^(--- (PASS|SKIP)|PASS$|ok  )/ { next }
	top != "" {
		if (cnt[top] < 50000) { body[top, ++cnt[top]] = $0 }
	}
	END {
		for (i = 1; i <= n; i++) {
			t = order[i]
			printf "\n######## FAILED %s ########\n", t
			# first the messages of the test itself, then the end of its output
			# (log tails printed by cleanups on failure)
			shown = 0
			for (j = 1; j <= cnt[t] && shown < 80; j++) {
				if (body[t, j] ~ /_test\.go:[0-9]+:/) { print body[t, j]; shown++ }
			}
			from = cnt[t] - 120; if (from < 1) from = 1
			printf "---- last %d lines of %s output ----\n", cnt[t] - from + 1, t
			for (j = from; j <= cnt[t]; j++) print body[t, j]
		}
		if (n == 0) print "(no --- FAIL lines: the failure is a build error, a panic or a timeout; see the log above)"
	}' "$log"
