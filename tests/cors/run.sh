#!/usr/bin/env bash
# --connect.cors-origins in a real browser: starts a gateway of its own (free
# ports) that allows one origin, against the services scripts/test.sh runs
# (PING_TEST_PG_DSN, PING_TEST_REDIS_PORT, PING_TEST_DEVBROKER_INFO), and runs
# browser.mjs: connect-web in chromium calls Ping and PingCount from a page
# on that origin, and fails from another. Stops its gateway at the end.
#
#   tests/cors/run.sh BUILD_DIR
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$DIR/../../scripts/lib.sh"
BUILD_DIR=$(cd "$1" && pwd)
: "${PING_TEST_PG_DSN:?}" "${PING_TEST_REDIS_PORT:?}" "${PING_TEST_DEVBROKER_INFO:?}"

if [ ! -d "$DIR/node_modules/@connectrpc/connect-web" ]; then
  log "installing npm dependencies (npm ci) in $DIR"
  (cd "$DIR" && npm ci --no-audit --no-fund >&2)
fi

RUN_DIR=$(mktemp -d /tmp/ping-cors.XXXXXX)
trap 'stop_process gateway "$RUN_DIR"; rm -rf "$RUN_DIR"' EXIT
cp "$PING_TEST_DEVBROKER_INFO" "$RUN_DIR/devbroker.info"
"$DIR/node_modules/.bin/buf" build "$PING_ROOT" -o "$RUN_DIR/descriptor.bin"

ALLOWED=$(free_port) OTHER=$(free_port) CONNECT=$(free_port)
PING_CONNECT_CORS_ORIGINS="http://127.0.0.1:$ALLOWED" \
  gateway_start "$RUN_DIR" "$CONNECT" "$(free_port)" "$PING_TEST_PG_DSN" "$PING_TEST_REDIS_PORT"
node "$DIR/browser.mjs" --connect "http://127.0.0.1:$CONNECT" --allowed-port "$ALLOWED" \
  --other-port "$OTHER" --descriptor "$RUN_DIR/descriptor.bin"
