#!/usr/bin/env bash
# Freshness benchmark: prints figures, asserts nothing.
#
# PingCount includes a ping as soon as it is acknowledged (read your writes:
# the cache plus the tail, docs/counts.md); this measures how long the
# processor takes to put it into the cache's counters, which is what keeps
# the tail short. Time from a Ping's acknowledgement until its minute
# bucket in ping:counters has it, p50/p99, at idle (one probe at a time)
# and under load (wrk posting pings with BENCH_LOAD_CONNECTIONS connections
# meanwhile). Each probe pings a minute of its own (an hour and more ahead,
# within the cache's future window); each
# probe also checks that PingCount for that minute is 1 right after the ack.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

PROBES=${BENCH_PROBES:-40}
LOAD_CONNS=${BENCH_LOAD_CONNECTIONS:-8}
command -v wrk >/dev/null || PACKAGES+=(wrk)
ensure_packages
build >/dev/null

stop_wrk() { [ -n "${WRK_PID:-}" ] && kill "$WRK_PID" 2>/dev/null; return 0; }
trap 'stop_wrk; throwaway_stack_stop' EXIT
throwaway_stack_start
CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
PINGCTL=("$BUILD_DIR/apps/pingctl/pingctl" --address "127.0.0.1:$CPORT")
WAIT_SECONDS=60 wait_for "processor ready" bash -c \
  "[ \"\$(redis-cli -p $REDIS_PORT HLEN ping:offsets)\" -ge 10 ]"
"${PINGCTL[@]}" ping >/dev/null # warm-up

now_ns() { date +%s%N; }
MINUTE0=$(( $(date +%s) / 60 + 60 )) # an hour ahead: minutes no other ping uses

# probe N: one ping in minute MINUTE0+N; prints ms until the cache has it
# (or "stale" when PingCount did not include it right after the ack).
probe() {
  local m=$((MINUTE0 + $1)) start end t0 t1
  start=$((m * 60000)); end=$(((m + 1) * 60000))
  "${PINGCTL[@]}" ping --timestamp-ms $((start + 1)) >/dev/null
  t0=$(now_ns)
  [ "$("${PINGCTL[@]}" count --from "$start" --to "$end")" = 1 ] || { echo stale; return; }
  until [ "$(redis-cli -p "$REDIS_PORT" HGET ping:counters "minute:$m")" = 1 ]; do
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
idle_raw=$(for i in $(seq 1 "$PROBES"); do probe "$i"; done)
echo "   PingCount missed a just-acknowledged ping: $(grep -c stale <<<"$idle_raw" || true) times"
idle=$(grep -Ev 'timeout|stale' <<<"$idle_raw" | percentiles)
echo "   $idle"

echo "== under load: wrk -c$LOAD_CONNS posting pings meanwhile"
wrk -t1 -c"$LOAD_CONNS" -d600s -s "$(dirname "$0")/ping.lua" "http://127.0.0.1:$CPORT" >/dev/null &
WRK_PID=$!
sleep 2
loaded_raw=$(for i in $(seq 1 "$PROBES"); do probe $((1000 + i)); done)
loaded=$(grep -Ev 'timeout|stale' <<<"$loaded_raw" | percentiles)
echo "   PingCount missed a just-acknowledged ping: $(grep -c stale <<<"$loaded_raw" || true) times"
kill "$WRK_PID" 2>/dev/null; WRK_PID=
echo "   $loaded"

cat <<SUMMARY

== summary (ack -> in the cache's counters; flush at 1000 records or 1 s; PingCount includes it at once)
idle         $idle
under load   $loaded
SUMMARY
