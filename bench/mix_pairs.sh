#!/usr/bin/env bash
# Alternated before/after pairs of the range mix on a kept database
# (prints figures, asserts nothing). Start from the PostgreSQL that
# `BENCH_HISTORY_KEEP=1 bench/history.sh` leaves running (its run directory
# and port are in the line it prints), then:
#
#   bench/mix_pairs.sh RUN_DIR PG_PORT DATABASE GATEWAY_A GATEWAY_B [PAIRS]
#
# GATEWAY_A and GATEWAY_B are ping-gateway binaries (say, main's copied
# aside and this tree's). For each of PAIRS (2) pairs, A then B: redis, the
# dev broker, that gateway and this tree's processor on DATABASE, the cache
# counted, then PingCount {} and the nine ranges of bench/history.sh mixed,
# $BENCH_CONNECTIONS (32) connections for $BENCH_SECONDS (8) s each. One
# line per run: both rates, their ratio, and the CPU per call of the
# cluster's processes and of the gateway (/proc/<pid>/stat), then the
# gateway's CPU and wake-ups per call by thread, for {} and for the mix,
# and the mix's shared reads: how many, their mean wall time, the mean
# cache snapshot in them and the requests each answered (/metrics).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
[ $# -ge 5 ] || die "usage: $0 RUN_DIR PG_PORT DATABASE GATEWAY_A GATEWAY_B [PAIRS]"
PGRUN=$1 PG_PORT=$2 DB=$3 GW_A=$4 GW_B=$5 PAIRS=${6:-2}
CONNS=${BENCH_CONNECTIONS:-32}
SECS=${BENCH_SECONDS:-8}
BENCH=$(cd "$(dirname "$0")" && pwd)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
per_call() { awk -v t="$1" -v n="$2" -v u="$TICK_US" 'BEGIN { printf "%.1f", (n > 0 ? t * u / n : 0) }'; }
body() { printf '{"time_range":{"start":%s,"end":%s}}' "$1" "$2"; }

# Stops what the run in CUR_RUN started and removes it (after each run,
# and when the script exits or is stopped midway).
CUR_RUN=
stop_run() {
  [ -n "$CUR_RUN" ] && [ -d "$CUR_RUN" ] || return 0
  stop_process processor "$CUR_RUN"
  stop_process gateway "$CUR_RUN"
  stop_process devbroker "$CUR_RUN"
  redis_stop "$CUR_RUN/redis"
  rm -rf "$CUR_RUN"
  CUR_RUN=
}
trap stop_run EXIT
trap 'exit 1' INT TERM

run_one() { # LABEL GATEWAY
  local label=$1 gw=$2 run rport cport now minute hour day=86400000 mix p0 p1 g0 g1 n rps
  run=$(mktemp -d /tmp/ping-mix.XXXXXX)
  chmod 755 "$run"
  CUR_RUN=$run
  trap stop_run RETURN
  rport=$(free_port)
  redis_start "$run/redis" "$rport"
  devbroker_start "$run"
  mkdir -p "$run/bin/apps"
  cp "$gw" "$run/bin/apps/ping-gateway"
  cport=$(free_port)
  local dsn="host=127.0.0.1 port=$PG_PORT dbname=$DB user=ping"
  (BUILD_DIR=$run/bin gateway_start "$run" "$cport" "$(free_port)" "$dsn" "$rport")
  processor_start "$run" "$rport" "$dsn"
  counted() { # no total yet on an empty database: nothing counted
    local cached
    cached=$(redis-cli -p "$rport" HGET ping:counters total)
    [ "${cached:-0}" = "$(psql_db -c 'SELECT coalesce(sum(next_seq - 1), 0) FROM outbox_head')" ]
  }
  WAIT_SECONDS=600 wait_for "the cache counts $DB" counted
  now=$(date +%s%3N); minute=$((now / 60000 * 60000)); hour=$((now / 3600000 * 3600000))
  mix="$(body $((minute - 120000)) $((minute - 60000)));$(body $((hour - 3600000)) "$hour")"
  mix+=";$(body $((minute - 7 * day + 600000)) $((minute - 600000)))"
  mix+=";$(body $((now - 3600000 - 123)) $((now - 7)));$(body $((now - day - 4567)) $((now - 89)))"
  mix+=";$(body $((now - 30 * day - 777)) $((now - 3)));$(body $((hour - 30 * day)) $((hour - 29 * day)))"
  mix+=";$(body $((hour - 400 * day)) "$hour");$(body $((now - 400 * day - 1)) $((now - 1)))"
  RANGES=$mix wrk -t1 -c4 -d1s -s "$BENCH/ranges.lua" "http://127.0.0.1:$cport" >/dev/null # warm-up
  echo '{}' >"$run/empty.json"
  local gpid; gpid=$(cat "$run/gateway.pid")
  thread_ticks "$gpid" >"$run/thr0"
  p0=$(pg_ticks "$PGRUN/pg/data"); g0=$(awk '{ print $14 + $15 }' "/proc/$gpid/stat")
  h2load --h1 -c "$CONNS" -D "$SECS" -d "$run/empty.json" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$cport/ping.v1.PingService/PingCount" >"$run/h2load.out" 2>&1 || true
  p1=$(pg_ticks "$PGRUN/pg/data"); g1=$(awk '{ print $14 + $15 }' "/proc/$gpid/stat")
  thread_ticks "$gpid" >"$run/thr1"
  n=$(awk '/^requests:/ { print $8 }' "$run/h2load.out")
  thread_costs "$run/thr0" "$run/thr1" "$n" >"$run/threads-empty.txt"
  rps=$(awk '/^finished in/ { print $4 }' "$run/h2load.out")
  local all="{} ${rps}/s pg $(per_call $((p1 - p0)) "$n") us gw $(per_call $((g1 - g0)) "$n") us"
  local admin; admin=$(sed -n 's/^admin=//p' "$run/gateway.ports")
  local r0; r0=$(read_stats "$admin")
  thread_ticks "$gpid" >"$run/thr0"
  p0=$(pg_ticks "$PGRUN/pg/data"); g0=$(awk '{ print $14 + $15 }' "/proc/$gpid/stat")
  RANGES=$mix wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$BENCH/ranges.lua" "http://127.0.0.1:$cport" \
    >"$run/wrk.out" || true
  p1=$(pg_ticks "$PGRUN/pg/data"); g1=$(awk '{ print $14 + $15 }' "/proc/$gpid/stat")
  thread_ticks "$gpid" >"$run/thr1"
  local r1; r1=$(read_stats "$admin")
  n=$(awk '/requests in/ { print $1 }' "$run/wrk.out")
  local mrps bad
  mrps=$(awk '/Requests\/sec/ { print $2 }' "$run/wrk.out")
  bad=$(awk '/Non-2xx/ { print $NF }' "$run/wrk.out")
  echo "$label $DB: mix ${mrps}/s ($(awk -v a="$mrps" -v b="$rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') x {})," \
    "pg $(per_call $((p1 - p0)) "$n") us, gw $(per_call $((g1 - g0)) "$n") us per range," \
    "non-2xx ${bad:-0}; $all; load $(cut -d' ' -f1 /proc/loadavg)"
  echo "  mix: $(read_stats_delta "$r0" "$r1")"
  echo "  gateway threads per {}:"; cat "$run/threads-empty.txt"
  echo "  gateway threads per range:"; thread_costs "$run/thr0" "$run/thr1" "$n"
}

for i in $(seq 1 "$PAIRS"); do
  run_one A "$GW_A"
  run_one B "$GW_B"
done
