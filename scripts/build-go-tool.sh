#!/usr/bin/env bash
# Builds a Go program from the Go module proxy and caches the binary by name, version and build tags, so only
# the first run on a machine compiles; prints the binary's path as its last line. The tests and
# `./dev start` build the servers they need this way (FerretDB, versitygw) where there is no Docker.
#
#   build-go-tool.sh NAME MODULE VERSION PACKAGE [--tags TAGS] [--version-file PATH]
#
# --version-file writes VERSION into PATH inside the module before building (FerretDB panics at
# start without build/version/version.txt, which its module leaves out: FerretDB issue #2982).
# The module cache is read-only, so the build runs in a writable copy.
set -euo pipefail

name="$1" module="$2" version="$3" package="$4"
shift 4
tags="" version_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tags) tags="$2"; shift 2 ;;
    --version-file) version_file="$2"; shift 2 ;;
    *) echo "build-go-tool: unknown option $1" >&2; exit 2 ;;
  esac
done

cache="${IMAGEGEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagegen}"
# The tags are part of the key: a binary built without a backend must not stand in for one built with it.
build_id="$(printf '%s' "$tags" | sha256sum | cut -c1-8)"
bin="$cache/$name-$version-$build_id/$name"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-go-tool: Go is not installed; it is needed to build $name" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
dir="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "build-go-tool: go mod download found no module dir for $module@$version" >&2; exit 1; }
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
[ -z "$version_file" ] || printf '%s' "$version" > "$work/src/$version_file"
mkdir -p "$(dirname "$bin")"
# A per-process name, so that two builds at once (a test run beside a setup) each finish whole.
(cd "$work/src" && CGO_ENABLED=0 go build ${tags:+-tags "$tags"} -o "$bin.$$.tmp" "$package") >&2
mv "$bin.$$.tmp" "$bin"
echo "$bin"
