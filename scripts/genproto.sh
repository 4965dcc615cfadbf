#!/usr/bin/env bash
# Regenerates every *.pb.go next to its .proto for all .proto files under
# proto/ (or under $PROTO_DIR when set, used by verify-genproto.sh).
#
# Needs protoc on PATH. protoc-gen-go is built from the version pinned in
# go.mod into bin/protoc-gen-go.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto_dir="${PROTO_DIR:-$root/proto}"
proto_dir="$(cd "$proto_dir" && pwd)"

if ! command -v protoc >/dev/null 2>&1; then
	echo "genproto: protoc not found on PATH (apt-get install protobuf-compiler)" >&2
	exit 1
fi

mkdir -p "$root/bin"
(cd "$root" && go build -o "$root/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)

# Well-known types (google/protobuf/*.proto): protoc finds them next to its
# binary; add common install locations explicitly as a fallback.
includes=(-I "$proto_dir")
for inc in "${PROTOC_INCLUDE:-}" "$(dirname "$(command -v protoc)")/../include" /usr/include /usr/local/include; do
	if [[ -n "$inc" && -f "$inc/google/protobuf/duration.proto" ]]; then
		includes+=(-I "$inc")
		break
	fi
done

mapfile -t files < <(cd "$proto_dir" && find . -name '*.proto' -type f | sed 's|^\./||' | LC_ALL=C sort)
if [[ ${#files[@]} -eq 0 ]]; then
	echo "genproto: no .proto files under $proto_dir" >&2
	exit 1
fi

# Drop generated files whose .proto is gone.
while IFS= read -r pbgo; do
	if [[ ! -f "${pbgo%.pb.go}.proto" ]]; then
		rm -f "$pbgo"
	fi
done < <(find "$proto_dir" -name '*.pb.go' -type f | LC_ALL=C sort)

(cd "$proto_dir" && protoc \
	--plugin=protoc-gen-go="$root/bin/protoc-gen-go" \
	"${includes[@]}" \
	--go_out="$proto_dir" \
	--go_opt=paths=source_relative \
	"${files[@]}")

echo "genproto: generated ${#files[@]} file(s) under $proto_dir"
