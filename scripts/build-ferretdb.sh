#!/usr/bin/env bash
# Builds FerretDB (a MongoDB-wire server on PostgreSQL or SQLite) for machines with no mongod and no Docker.
set -euo pipefail
exec "$(dirname "$0")/build-go-tool.sh" ferretdb github.com/FerretDB/FerretDB "${FERRETDB_VERSION:-v1.24.2}" \
  ./cmd/ferretdb --version-file build/version/version.txt
