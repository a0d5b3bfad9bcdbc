#!/usr/bin/env bash
# Builds FerretDB (a MongoDB-wire server on SQLite) from the Go module proxy, for machines with no
# mongod and no Docker. The binary is cached by version, so only the first run on a machine compiles.
# The module alone panics at start without build/version/version.txt (FerretDB issue #2982), so we
# build from a writable copy with that file written in.
set -euo pipefail

version="${FERRETDB_VERSION:-v1.24.2}"
cache="${IMAGEGEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagegen}"
bin="$cache/ferretdb-$version/ferretdb"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-ferretdb: Go is not installed; it is needed to build FerretDB (or set MONGODB_URI)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
dir="$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "build-ferretdb: go mod download found no module dir" >&2; exit 1; }
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
printf '%s' "$version" > "$work/src/build/version/version.txt"
mkdir -p "$(dirname "$bin")"
# A per-process name, so that two builds at once (a test run beside a setup) each finish whole.
(cd "$work/src" && CGO_ENABLED=0 go build -tags ferretdb_no_postgresql -o "$bin.$$.tmp" ./cmd/ferretdb) >&2
mv "$bin.$$.tmp" "$bin"
echo "$bin"
