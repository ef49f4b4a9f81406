#!/usr/bin/env bash
# Freshness benchmark: prints figures, asserts nothing.
#
# Time from a Ping's acknowledgement until PingCount includes it, p50/p99,
# at idle (one probe at a time) and under load (wrk posting pings with
# BENCH_LOAD_CONNECTIONS connections meanwhile). Each probe pings a minute
# of its own (in year 2100) and polls PingCount for that minute, which the
# cache answers once the processor flushed it.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

PROBES=${BENCH_PROBES:-40}
LOAD_CONNS=${BENCH_LOAD_CONNECTIONS:-8}
command -v wrk >/dev/null || PACKAGES+=(wrk)
ensure_packages
build >/dev/null

RUN=$(mktemp -d /tmp/ping-bench.XXXXXX)
chmod 755 "$RUN"
cleanup() {
  set +e
  [ -n "${WRK_PID:-}" ] && kill "$WRK_PID" 2>/dev/null
  stop_process processor "$RUN"
  stop_process gateway "$RUN"
  stop_process devbroker "$RUN"
  redis_stop "$RUN/redis"
  pg_stop "$RUN/pg"
  rm -rf "$RUN"
}
trap cleanup EXIT

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
DSN="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping"
pg_start "$RUN/pg" "$PG_PORT"
redis_start "$RUN/redis" "$REDIS_PORT"
devbroker_start "$RUN"
CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
PINGCTL=("$BUILD_DIR/apps/pingctl/pingctl" --address "127.0.0.1:$CPORT")
WAIT_SECONDS=60 wait_for "processor ready" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HLEN ping:offsets)\" -ge 7 ]"
"${PINGCTL[@]}" ping >/dev/null # warm-up

now_ns() { date +%s%N; }
MINUTE0=$(( 4102444800000 / 60000 )) # 2100-01-01

# probe N: one ping in minute MINUTE0+N; prints ms until PingCount sees it.
probe() {
  local m=$((MINUTE0 + $1)) start end t0 t1
  start=$((m * 60000)); end=$(((m + 1) * 60000))
  "${PINGCTL[@]}" ping --timestamp-ms $((start + 1)) >/dev/null
  t0=$(now_ns)
  until [ "$("${PINGCTL[@]}" count --from "$start" --to "$end")" = 1 ]; do
    (( $(now_ns) - t0 < 10000000000 )) || { echo timeout; return; }
    sleep 0.005
  done
  t1=$(now_ns)
  echo $(( (t1 - t0) / 1000000 ))
}

percentiles() { # stdin: numbers -> "p50 p99 max"
  sort -n | awk '{ v[NR] = $1 } END {
    p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1];
    printf "p50=%d ms p99=%d ms max=%d ms (n=%d)\n", p50, p99, v[NR], NR }'
}

echo "== idle: $PROBES probes, one at a time"
idle=$(for i in $(seq 1 "$PROBES"); do probe "$i"; done | grep -v timeout | percentiles)
echo "   $idle"

echo "== under load: wrk -c$LOAD_CONNS posting pings meanwhile"
wrk -t1 -c"$LOAD_CONNS" -d600s -s "$(dirname "$0")/ping.lua" "http://127.0.0.1:$CPORT" >/dev/null &
WRK_PID=$!
sleep 2
loaded=$(for i in $(seq 1 "$PROBES"); do probe $((1000 + i)); done | grep -v timeout | percentiles)
kill "$WRK_PID" 2>/dev/null; WRK_PID=
echo "   $loaded"

cat <<SUMMARY

== summary (ack -> PingCount includes it; flush at 1000 records or 1 s)
idle         $idle
under load   $loaded
SUMMARY
