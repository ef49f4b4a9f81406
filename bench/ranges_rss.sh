#!/usr/bin/env bash
# Issue 17, item 6: 1,000 concurrent PingCounts, each with a different 7-day
# range, keep ping-gateway under 128 MiB (peak RSS, VmHWM), all answered and
# exact (a sample checked against PostgreSQL). Throwaway services, this
# tree's build; asserts (exit 1 on failure), so scripts/test.sh runs it.
#
#   bench/ranges_rss.sh [REQUESTS] [LIMIT_MIB]
#
# RANGES_CACHE_TIMEOUT (for example 200ms) sets the gateway's
# --cache.timeout (default 50 ms): on a machine loaded far beyond its cores,
# a cache read can miss 50 ms and those counts go to PostgreSQL instead
# (exact, slower); the figures say how many did. RANGES_GATEWAY runs another
# ping-gateway binary (an older build, for a before/after figure) against
# this tree's processor. RANGES_ALIGNED=1 asks minute-aligned ranges only.
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
PING_GATEWAY_ADMIN_PORT=$(free_port)
if [ -n "${RANGES_CACHE_TIMEOUT:-}${RANGES_GATEWAY:-}" ]; then
  # gateway_start with one more flag
  rm -f "$RUN/gateway.ports"
  spawn gateway "$RUN" "${RANGES_GATEWAY:-$BUILD_DIR/apps/ping-gateway}" \
    --connect.port="$CPORT" --grpc.port="$GPORT" --postgres.dsn="$DSN" \
    --cache.address="127.0.0.1:$REDIS_PORT" --admin.port="$PING_GATEWAY_ADMIN_PORT" \
    --kafka.bootstrap-file="$RUN/devbroker.info" --ports-file="$RUN/gateway.ports" \
    --cache.timeout="${RANGES_CACHE_TIMEOUT:-50ms}"
  wait_for "ping-gateway (see $RUN/gateway.log)" ready_or_dead "$RUN/gateway.pid" "$RUN/gateway.ports"
else
  gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
fi
processor_start "$RUN" "$REDIS_PORT" "$DSN"
WAIT_SECONDS=60 wait_for "processor ready" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HLEN ping:offsets)\" -ge 10 ]"
status=0
python3 "$(dirname "$0")/ranges_rss.py" "$CPORT" "$(cat "$RUN/gateway.pid")" \
  "postgresql://ping@127.0.0.1:$PG_PORT/ping" --requests "$REQUESTS" --limit-mib "$LIMIT" ${RANGES_ALIGNED:+--aligned} || status=$?
grep -E "level=(warn|error)" "$RUN/gateway.log" | sed "s/^ts=[^ ]* //" | sort | uniq -c | sort -rn | grep -v CONFWARN | head -5 || true
metric() { curl -s "http://127.0.0.1:$PING_GATEWAY_ADMIN_PORT/metrics" | awk -v n="ping_$1" '$1 == n { print $2 }'; }
echo "gateway: answered from the cache $(metric 'counts_answered_total{source="cache"}'), by PostgreSQL alone $(metric 'counts_answered_total{source="postgres"}'); reads $(metric counts_read_requests_count)"
exit "$status"
