#!/usr/bin/env bash
# Regenerates the protobuf Go code into a temporary copy of proto/ and fails
# if it differs from the checked-in *.pb.go files.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cp -R "$root/proto" "$tmp/proto"
find "$tmp/proto" -name '*.pb.go' -type f -delete

PROTO_DIR="$tmp/proto" "$root/scripts/genproto.sh" >/dev/null

# The set of generated files must match (no missing, no orphaned ones).
list_pbgo() { (cd "$1" && find . -name '*.pb.go' -type f | sed 's|^\./||' | LC_ALL=C sort); }
if ! diff -u <(list_pbgo "$root/proto") <(list_pbgo "$tmp/proto") >"$tmp/list.txt"; then
	echo "verify-genproto: the set of *.pb.go files is stale (- checked in, + expected):" >&2
	cat "$tmp/list.txt" >&2
	echo "verify-genproto: run scripts/genproto.sh and commit the result" >&2
	exit 1
fi

# Compare contents. The "// protoc vX.Y.Z" header line is ignored so that a
# different protoc patch release alone does not count as stale.
status=0
while IFS= read -r f; do
	if ! diff -u -I '^//[[:space:]]*protoc[[:space:]]' "$root/proto/$f" "$tmp/proto/$f" >"$tmp/diff.txt"; then
		echo "verify-genproto: proto/$f is stale" >&2
		head -n 40 "$tmp/diff.txt" >&2
		status=1
	fi
done < <(list_pbgo "$tmp/proto")

if [[ $status -ne 0 ]]; then
	echo "verify-genproto: generated code is out of date; run scripts/genproto.sh and commit the result" >&2
	exit 1
fi
echo "verify-genproto: generated code is up to date"
