#!/usr/bin/env bash
# Everything CI runs: installs what is missing, builds, starts throwaway
# services on free ports (PostgreSQL, redis-server, ping-devbroker), runs
# every test (Boost.Test suites of the project and its subprojects, the
# chaos test, buf lint and breaking, end-to-end clients, the admin consoles
# in chromium and tmux), stops what it started, and exits non-zero on any
# failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_packages
build

RUN=$(mktemp -d /tmp/ping-test.XXXXXX)
chmod 755 "$RUN"
cleanup() {
  set +e
  stop_process processor "$RUN/second"
  stop_process gateway "$RUN/second"
  stop_process processor "$RUN"
  stop_process gateway "$RUN"
  stop_process devbroker "$RUN"
  redis_stop "$RUN/redis"
  pg_stop "$RUN/pg"
  if [ "${PING_KEEP_TEST_RUN:-0}" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
log "services: PostgreSQL :$PG_PORT, redis :$REDIS_PORT, dev broker (run dir $RUN)"
pg_start "$RUN/pg" "$PG_PORT"
redis_start "$RUN/redis" "$REDIS_PORT"
devbroker_start "$RUN"

# What the integration tests find through the environment.
export PING_TEST_ROOT=$PING_ROOT
export PING_TEST_BUILD_DIR=$BUILD_DIR
export PING_TEST_RUN_DIR=$RUN
export PING_TEST_PG_PORT=$PG_PORT
export PING_TEST_PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping"
export PING_TEST_PG_DATA=$RUN/pg/data
export PING_TEST_REDIS_PORT=$REDIS_PORT
export PING_TEST_DEVBROKER_INFO=$RUN/devbroker.info

passed=0 failed=0
check() { # NAME CMD...: runs one suite, counts it
  local name=$1; shift
  log "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); log "FAILED: $name"; fi
}

check "format: clang-format --dry-run --Werror on every C++ file" "$PING_ROOT/scripts/format.sh" --check

check "meson test (Boost.Test suites)" \
  meson test -C "$BUILD_DIR" --print-errorlogs --timeout-multiplier 2
check "chaos: every fault under load, every count exact (seeded, short form)" \
  "$PING_ROOT/tests/chaos/run.sh" "$BUILD_DIR"
check "1,000 concurrent week-long PingCounts: gateway under 128 MiB, all exact" \
  "$PING_ROOT/bench/ranges_rss.sh"
check "proto: buf lint and breaking" "$PING_ROOT/tests/e2e/buf.sh"
# The whole tree; units that passed before with the same inputs are skipped
# (PING_TIDY_CACHE, docs/tools.md).
check "clang-tidy (bugprone, performance) on every translation unit" "$PING_ROOT/scripts/tidy.sh"
check "command line: --version, bounds and log format exit 2 naming the option" \
  "$PING_ROOT/tests/apps/command_line.sh" "$BUILD_DIR"
# Schema steps run with $PING_K8S_SCHEMAS or ../shared/k8s-schemas, else are
# skipped; PING_REQUIRE_K8S_SCHEMAS=1 (set by .ci/run) makes that a failure.
# Both reach tests/deploy/run.sh through the environment.
check "deploy: kustomize, offline schemas, image libraries" \
  "$PING_ROOT/tests/deploy/run.sh" "$BUILD_DIR"

# The nodes of the consoles' cluster view: two gateways and two
# processors, each given the four admin addresses as peers (the second
# pair starts just before the consoles).
ADMIN_PORTS=($(free_port) $(free_port) $(free_port) $(free_port))
PEERS=$(printf '127.0.0.1:%s,' "${ADMIN_PORTS[@]}")
PEERS=${PEERS%,}

# End to end with independent clients against a running gateway.
CONNECT_PORT=$(free_port)
GRPC_PORT=$(free_port)
PING_ADMIN_PEERS=$PEERS PING_GATEWAY_ADMIN_PORT=${ADMIN_PORTS[0]} \
  gateway_start "$RUN" "$CONNECT_PORT" "$GRPC_PORT" "$PING_TEST_PG_DSN" "$REDIS_PORT"
check "end-to-end clients (curl, buf curl, connect-node)" \
  "$PING_ROOT/tests/e2e/run.sh" "$CONNECT_PORT" "$GRPC_PORT"

# The admin consoles (web page in chromium, pingctl admin in tmux) against
# a processor counting what that gateway takes, with a second gateway and
# processor in the cluster view.
PING_ADMIN_PEERS=$PEERS PING_PROCESSOR_ADMIN_PORT=${ADMIN_PORTS[2]} \
  processor_start "$RUN" "$REDIS_PORT" "$PING_TEST_PG_DSN"
mkdir -p "$RUN/second"
ln -sf "$RUN/devbroker.info" "$RUN/second/devbroker.info"
PING_ADMIN_PEERS=$PEERS PING_GATEWAY_ADMIN_PORT=${ADMIN_PORTS[1]} \
  gateway_start "$RUN/second" "$(free_port)" "$(free_port)" "$PING_TEST_PG_DSN" "$REDIS_PORT"
PING_ADMIN_PEERS=$PEERS PING_PROCESSOR_ADMIN_PORT=${ADMIN_PORTS[3]} \
  processor_start "$RUN/second" "$REDIS_PORT" "$PING_TEST_PG_DSN"
PROCESSOR_ADMIN=$(sed -n 's/^admin=//p' "$RUN/processor.ports")
check "metrics: promtool check metrics; dashboard and alert names exported" \
  "$PING_ROOT/tests/metrics/run.sh" "127.0.0.1:${ADMIN_PORTS[0]}" "127.0.0.1:$PROCESSOR_ADMIN"
check "admin consoles (chromium, tmux; cluster of four)" \
  "$PING_ROOT/tests/console/run.sh" "$BUILD_DIR" "$CONNECT_PORT" "$PROCESSOR_ADMIN" 4
check "CORS: connect-web in chromium calls Ping and PingCount from another origin" \
  "$PING_ROOT/tests/cors/run.sh" "$BUILD_DIR"
check "scripts/stack.sh up twice: the second run exits 0 at once" "$PING_ROOT/tests/stack/run.sh"

echo "test suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
