#!/usr/bin/env bash
# verify-tidy.sh fails if `go mod tidy` would change go.mod or go.sum, in the
# main module and in the compatibility-test module.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in . e2e/compat; do
	[[ -f $dir/go.mod ]] || continue
	tmp=$(mktemp -d)
	cp "$dir/go.mod" "$tmp/go.mod"
	[[ -f $dir/go.sum ]] && cp "$dir/go.sum" "$tmp/go.sum"
	(cd "$dir" && go mod tidy >/dev/null 2>&1) || { echo "verify-tidy: go mod tidy failed in $dir"; exit 1; }
	if ! diff -q "$tmp/go.mod" "$dir/go.mod" >/dev/null || { [[ -f $tmp/go.sum ]] && ! diff -q "$tmp/go.sum" "$dir/go.sum" >/dev/null; }; then
		cp "$tmp/go.mod" "$dir/go.mod"
		[[ -f $tmp/go.sum ]] && cp "$tmp/go.sum" "$dir/go.sum"
		echo "verify-tidy: go.mod/go.sum in $dir are not tidy; run 'go mod tidy' there"
		rm -rf "$tmp"
		exit 1
	fi
	rm -rf "$tmp"
done
