#!/usr/bin/env bash
# Issue 17, item 6: 1,000 concurrent PingCounts, each with a different 7-day
# range, keep ping-gateway under 128 MiB (peak RSS, VmHWM), all answered and
# exact (a sample checked against PostgreSQL). Throwaway services, this
# tree's build; asserts (exit 1 on failure), so scripts/test.sh runs it.
#
#   bench/ranges_rss.sh [REQUESTS] [LIMIT_MIB]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

REQUESTS=${1:-1000}
LIMIT=${2:-128}
ensure_packages
build >/dev/null

trap throwaway_stack_stop EXIT
throwaway_stack_start
CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
WAIT_SECONDS=60 wait_for "processor ready" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HLEN ping:offsets)\" -ge 10 ]"
python3 "$(dirname "$0")/ranges_rss.py" "$CPORT" "$(cat "$RUN/gateway.pid")" \
  "postgresql://ping@127.0.0.1:$PG_PORT/ping" --requests "$REQUESTS" --limit-mib "$LIMIT"
