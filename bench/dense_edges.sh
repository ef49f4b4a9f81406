#!/usr/bin/env bash
# Ranges whose edges fall in dense minutes (issue 17): prints figures,
# asserts nothing.
#
# bench/history.sh spreads 20 M pings over 60 days: 230 pings a minute, so
# an edge minute holds next to nothing. At 1,200 pings/s a minute holds
# 72,000, and a range's partial edge minute is where its cost lies. Here:
# one local stack (plan_cache_mode = force_generic_plan for the service's
# role, as in bench/history.sh), a database holding $BENCH_DENSE_ROWS
# pings (4,320,000) received over the last $BENCH_DENSE_SPAN_MS ms (one
# hour: 1,200 pings/s), built by bench/history_generate.sql and counted by
# the processor. Then, for each kind of range, one connection (wrk) for
# $BENCH_SECONDS (5) s: rate, p99, max, and PostgreSQL's CPU per call; the
# same ranges mixed at $BENCH_CONNECTIONS (32) connections; every
# range's answer checked once against count(*) of the rows; and the
# gateway's shared reads by the statements they ran (docs/counts.md, "A
# statement per read").
#
#   bench/dense_edges.sh
#   BENCH_NO_BUILD=1 PING_BUILD_DIR=<a copy of build/> bench/dense_edges.sh
#                        (saved binaries, say before a change)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"

ROWS=${BENCH_DENSE_ROWS:-4320000}
SPAN=${BENCH_DENSE_SPAN_MS:-3600000}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNECTIONS:-32}
CHUNKS=8
BENCH=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || PACKAGES+=(wrk)
ensure_packages
[ -n "${BENCH_NO_BUILD:-}" ] || build >/dev/null

throwaway_stack_start
trap throwaway_stack_stop EXIT
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1 \
  -c "ALTER ROLE ping SET plan_cache_mode = force_generic_plan" \
  -c "CREATE DATABASE ping_dense OWNER ping" >/dev/null
DSN="host=127.0.0.1 port=$PG_PORT dbname=ping_dense user=ping"
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt -v ON_ERROR_STOP=1 -d ping_dense "$@"; }
ms() { date +%s%3N; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

echo "== generating $ROWS pings over the last $SPAN ms"
t0=$(ms)
"$BUILD_DIR/apps/ping-gateway" --migrate-only --postgres.dsn="$DSN" >/dev/null
gen() { psql_db -v rows="$ROWS" -v days="$CHUNKS" -v span_ms="$SPAN" -v day="$1" -f "$BENCH/history_generate.sql" >/dev/null; }
gen -1
export -f gen psql_db
export PG_BIN PG_PORT ROWS CHUNKS SPAN BENCH
seq 0 $((CHUNKS - 1)) | xargs -P 2 -I{} bash -c 'gen {}'
gen -2
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c CHECKPOINT >/dev/null
echo "   $(psql_db -c 'SELECT count(*) FROM pings') rows in $(( ($(ms) - t0) / 1000 )) s"

CPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$(free_port)" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
counted() { [ "$(redis-cli -p "$REDIS_PORT" HGET ping:counters total)" = "$(psql_db -c 'SELECT sum(next_seq - 1) FROM outbox_head')" ]; }
WAIT_SECONDS=300 wait_for "the cache counts every ping" counted

# One wrk run of $RANGES: rate, p99 (ms), max (ms), non-2xx, PostgreSQL's CPU per call (us).
wrk_run() { # CONNECTIONS SECONDS
  local t0 t1 n
  t0=$(pg_ticks "$RUN/pg/data")
  wrk -t1 -c"$1" -d"$2s" --latency -s "$BENCH/ranges.lua" "http://127.0.0.1:$CPORT" >"$RUN/wrk.out" || true
  t1=$(pg_ticks "$RUN/pg/data")
  n=$(awk '/requests in/ { print $1 }' "$RUN/wrk.out")
  awk -v ticks=$((t1 - t0)) -v u="$TICK_US" -v n="${n:-0}" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 } /^ +99%/ { p99 = ms($2) } /Non-2xx/ { bad = $NF }
    /Latency/ && !lat { max = ms($4); lat = 1 }
    END { printf "%.0f %.2f %.2f %d %.1f\n", rps, p99, max, bad + 0, (n > 0 ? ticks * u / n : 0) }' "$RUN/wrk.out"
}
body() { printf '{"time_range":{"start":%s,"end":%s}}' "$1" "$2"; }

# Warm-up, not measured: first plans and caches of a fresh gateway.
RANGES='{}' wrk -t1 -c"$CONNS" -d2s -s "$BENCH/ranges.lua" "http://127.0.0.1:$CPORT" >/dev/null || true

now=$(ms); minute=$((now / 60000 * 60000))
KINDS=(aligned_1h unaligned_1h mid_minutes_30m inside_one_minute_5s unaligned_1d)
declare -A R=(
  [aligned_1h]="$(body $((minute - 3600000)) "$minute")"
  [unaligned_1h]="$(body $((now - 3600000 - 123)) $((now - 7)))"
  [mid_minutes_30m]="$(body $((minute - 1800000 - 29000)) $((minute - 600000 + 31000)))"
  [inside_one_minute_5s]="$(body $((minute - 1200000 + 27100)) $((minute - 1200000 + 32100)))"
  [unaligned_1d]="$(body $((now - 86400000 - 4567)) $((now - 89)))"
)
# Every answer once, against count(*) of the rows (nothing is written meanwhile).
wrong=0
for k in "${KINDS[@]}"; do
  got=$(curl -s -H 'Content-Type: application/json' -d "${R[$k]}" \
    "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount" | sed -n 's/.*"pingCount":"\([0-9]*\)".*/\1/p')
  read -r lo hi < <(sed 's/.*"start":\([0-9]*\),"end":\([0-9]*\).*/\1 \2/' <<<"${R[$k]}")
  want=$(psql_db -c "SELECT count(*) FROM pings WHERE pinged_at >= ms_to_timestamptz($lo) AND pinged_at < ms_to_timestamptz($hi)")
  [ "${got:-0}" = "$want" ] || { wrong=$((wrong + 1)); echo "   $k: answered ${got:-nothing}, count(*) $want"; }
done

declare -A F
mix=""
for k in "${KINDS[@]}"; do
  F[$k]=$(RANGES=${R[$k]} wrk_run 1 "$SECS")
  mix+="${R[$k]};"
done
F[mix]=$(RANGES=$mix wrk_run "$CONNS" "$SECS")

echo
echo "== summary ($(nproc) cores; $ROWS pings over the last $SPAN ms; force_generic_plan)"
printf '%-34s %9s %9s %9s %7s %12s\n' "range, connections" "req/s" "p99 ms" "max ms" "non-2xx" "PG us/call"
for k in "${KINDS[@]}" mix; do
  read -r rps p99 max bad pg <<<"${F[$k]}"
  printf '%-34s %9s %9s %9s %7s %12s\n' "$k x$([ "$k" = mix ] && echo "$CONNS" || echo 1)" "$rps" "$p99" "$max" "$bad" "$pg"
done
echo "answers checked against count(*): ${#KINDS[@]}, wrong: $wrong"
# What the shared reads ran (sql::read_form), over the whole run.
ADMIN=$(sed -n 's/^admin=//p' "$RUN/gateway.ports")
echo "shared reads over the run: $(read_stats_delta "0 0 0 0 0 0 0 0 0 0 0 0" "$(read_stats "$ADMIN")")"
