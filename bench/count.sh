#!/usr/bin/env bash
# PingCount benchmark: prints figures, asserts nothing.
#
# PingCount over Connect JSON with read your writes in force (the cache plus
# the tail, docs/counts.md), on the local stack with a processor caught up:
#   1. at idle: one connection, one request at a time (wrk -c1): p50/p99/max;
#   2. loaded: wrk -c$BENCH_CONNECTIONS (32): req/s, p50/p99/max;
#   3. during both: how often PostgreSQL counted rows itself (fallbacks, from
#      the gateway's counts_answered_total{source="postgres"}; 0 expected) and how many
#      reads (cache snapshot + tail query) answered how many requests.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

CONNS=${BENCH_CONNECTIONS:-32}
SECS=${BENCH_SECONDS:-8}
SEED_PINGS=${BENCH_SEED_PINGS:-20000}
command -v wrk >/dev/null || PACKAGES+=(wrk)
ensure_packages
build >/dev/null

trap throwaway_stack_stop EXIT
throwaway_stack_start
CPORT=$(free_port)
GPORT=$(free_port)
PING_GATEWAY_ADMIN_PORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
ADMIN=$PING_GATEWAY_ADMIN_PORT
WAIT_SECONDS=60 wait_for "processor ready" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HLEN ping:offsets)\" -ge 10 ]"

echo "== seed: $SEED_PINGS pings, then wait until the cache has them all"
"$BUILD_DIR/apps/pingctl/pingctl" --address "127.0.0.1:$CPORT" ping \
  --requests "$SEED_PINGS" --concurrency 16 >/dev/null
WAIT_SECONDS=60 wait_for "the cache caught up" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HGET ping:counters total)\" = $SEED_PINGS ]"

metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v n="ping_$1" '$1 == n { print $2 }'; }

# wrk --latency output -> "rps p50_ms p99_ms max_ms"
wrk_figures() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Latency/ && !lat { max = ms($4); lat = 1 }
    END { printf "%.0f %.2f %.2f %.2f\n", rps, p50, p99, max }'
}

fallbacks0=$(metric 'counts_answered_total{source="postgres"}')
reads0=$(metric counts_read_requests_count)
answered0=$(metric counts_read_requests_sum)

echo "== 1. idle: wrk -t1 -c1 -d${SECS}s"
read -r idle_rps idle_p50 idle_p99 idle_max < <(wrk -t1 -c1 -d"${SECS}s" --latency \
  -s "$(dirname "$0")/count.lua" "http://127.0.0.1:$CPORT" | wrk_figures)
echo "   $idle_rps req/s, p50 $idle_p50 ms, p99 $idle_p99 ms, max $idle_max ms"

echo "== 2. loaded: wrk -t1 -c$CONNS -d${SECS}s"
read -r load_rps load_p50 load_p99 load_max < <(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
  -s "$(dirname "$0")/count.lua" "http://127.0.0.1:$CPORT" | wrk_figures)
echo "   $load_rps req/s, p50 $load_p50 ms, p99 $load_p99 ms, max $load_max ms"

fallbacks=$(( $(metric 'counts_answered_total{source="postgres"}') - fallbacks0 ))
reads=$(awk -v a="$(metric counts_read_requests_count)" -v b="$reads0" 'BEGIN { print a - b }')
answered=$(awk -v a="$(metric counts_read_requests_sum)" -v b="$answered0" 'BEGIN { print a - b }')
total=$(curl -s -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount")

cat <<SUMMARY

== summary (PingCount, Connect JSON, $(nproc) cores, $SEED_PINGS pings stored)
idle (1 connection)      p50 $idle_p50 ms, p99 $idle_p99 ms, max $idle_max ms ($idle_rps req/s)
$CONNS connections          $load_rps req/s, p50 $load_p50 ms, p99 $load_p99 ms, max $load_max ms
PostgreSQL fallbacks     $fallbacks
reads (snapshot + tail)  $reads for $answered requests ($(awk -v a="$answered" -v b="$reads" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }') requests per read)
answer                   $total
SUMMARY
