# Shared by buf.sh and run.sh (sourced, not run).

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)

e2e_log() { printf '[e2e] %s\n' "$*" >&2; }

# Installs the locked npm dependencies once (node_modules is gitignored).
ensure_node_modules() {
  if [ ! -x "$E2E_DIR/node_modules/.bin/buf" ] \
      || [ ! -d "$E2E_DIR/node_modules/@connectrpc/connect-node" ]; then
    e2e_log "installing npm dependencies (npm ci) in $E2E_DIR"
    (cd "$E2E_DIR" && npm ci --no-audit --no-fund >&2)
  fi
}

# The buf CLI from the locked @bufbuild/buf package.
buf() { "$E2E_DIR/node_modules/.bin/buf" "$@"; }
