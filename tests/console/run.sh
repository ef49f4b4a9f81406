#!/usr/bin/env bash
# The admin consoles against a running stack: the web page in Debian's
# chromium (browser.mjs, playwright-core) and `pingctl admin` in tmux
# (tmux.sh), both against the processor's admin port.
#
#   tests/console/run.sh BUILD_DIR CONNECT_PORT PROCESSOR_ADMIN_PORT [CLUSTER_NODES]
#
# With CLUSTER_NODES (the processor's peers make a cluster of that many
# nodes, scripts/test.sh starts them): waits until the processor's
# GetCluster lists them all up with every partition owned once, then both
# consoles check their cluster view too.
#
# Sends a few pings through the gateway first, so the console's per-minute
# chart has data for the current minute. The screenshot lands in
# BUILD_DIR/console/processor.png. Exits non-zero when a check failed.
set -euo pipefail
if [ $# -ne 3 ] && [ $# -ne 4 ]; then
  echo "usage: $0 BUILD_DIR CONNECT_PORT PROCESSOR_ADMIN_PORT [CLUSTER_NODES]" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
CONNECT_PORT=$2
ADMIN_PORT=$3
CLUSTER_NODES=${4:-}
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[console] %s\n' "$*" >&2; }

if [ ! -d "$DIR/node_modules/playwright-core" ]; then
  log "installing npm dependencies (npm ci) in $DIR"
  (cd "$DIR" && npm ci --no-audit --no-fund >&2)
fi

# The processor is ready (partitions assigned), then pings for the current
# minute, counted into the cache before the browser looks.
deadline=$((SECONDS + 60))
admin() {
  curl -sS -m 5 -H 'Content-Type: application/json' -d "${2:-{\}}" \
    "http://127.0.0.1:$ADMIN_PORT/ping.admin.v1.AdminService/$1"
}
until curl -sf -m 2 -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz"; do
  ((SECONDS < deadline)) || { log "processor not ready in time"; exit 1; }
  sleep 0.2
done
for _ in 1 2 3 4 5; do
  curl -sS -m 5 -o /dev/null -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$CONNECT_PORT/ping.v1.PingService/Ping"
done
until admin GetMinuteCounts '{"minutes":2}' | grep -q '"count"'; do
  ((SECONDS < deadline)) || { log "pings not counted in time"; exit 1; }
  sleep 0.2
done

cluster_args=()
if [ -n "$CLUSTER_NODES" ]; then
  # Every node up, each partition held by one processor (the second one
  # joined the group: one rebalance).
  settled() {
    admin GetCluster | python3 -c '
import json, sys
v = json.load(sys.stdin)
nodes, parts = v.get("nodes", []), v.get("partitions", [])
ok = len(nodes) == int(sys.argv[1]) and all(n.get("up") for n in nodes) \
     and parts and all(len(p.get("owners", [])) == 1 for p in parts)
sys.exit(0 if ok else 1)' "$CLUSTER_NODES"
  }
  until settled; do
    ((SECONDS < deadline)) || { log "cluster of $CLUSTER_NODES nodes not settled in time"; exit 1; }
    sleep 0.3
  done
  cluster_args=(--expect-cluster-nodes "$CLUSTER_NODES")
fi

failed=0
mkdir -p "$BUILD_DIR/console"
log "web console in chromium"
node "$DIR/browser.mjs" --url "http://127.0.0.1:$ADMIN_PORT/" \
  --screenshot "$BUILD_DIR/console/processor.png" --expect-binary ping-processor \
  "${cluster_args[@]}" || failed=1
log "terminal console in tmux"
PINGCTL_TEST_CLUSTER_NODES=$CLUSTER_NODES \
  "$DIR/tmux.sh" "$BUILD_DIR/apps/pingctl/pingctl" "$ADMIN_PORT" || failed=1
[ "$failed" = 0 ]
