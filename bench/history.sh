#!/usr/bin/env bash
# History benchmark (issue 17): prints figures, asserts nothing.
#
# One run, one local stack, two databases: an empty one, then one holding
# $BENCH_HISTORY_ROWS pings (20 M) received over $BENCH_HISTORY_DAYS days
# (60), built by bench/history_generate.sql (INSERT ... SELECT
# generate_series; the buckets derived by the same trigger as every insert;
# heads and cursors as if relayed). For each database, with
# plan_cache_mode = force_generic_plan set for the service's role (the
# issue's condition; the service's own sessions set it too) and
# auto_explain logging the plan of every statement slower than 5 ms:
#   1. PingCount {} at $BENCH_CONNECTIONS (32) connections (h2load, Connect
#      JSON; after 2 s not measured): rate, p99, max; again with the mix's
#      client (wrk), so that the mix's ratio can also be read between one
#      client's rates; and right
#      after a 10 s Ping burst at full speed (pingctl, 64 in flight) that
#      leaves the processor behind. Beside each rate, the CPU per call of
#      PostgreSQL, the gateway, the client and redis, and how busy the
#      machine was;
#   2. every kind of time_range, one connection (wrk): p99 and max;
#      then a random mix of them at 32 connections: rate;
#   3. recovery: the cache restored from an older snapshot (taken before
#      the burst), the Kafka offsets reset to the beginning, FLUSHALL; each
#      time until the cache is exact again (total and every partition's
#      sequence equal to PostgreSQL's heads; sampled every 50 ms, with the
#      samples that found it inexact) and, after the reset, until every
#      offset is back, with PingCount {} p99 on 4 connections meanwhile;
#   4. EXPLAIN-based: the statements auto_explain logged as slower than
#      5 ms, and how many of them scanned pings sequentially.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"

ROWS=${BENCH_HISTORY_ROWS:-20000000}
DAYS=${BENCH_HISTORY_DAYS:-60}
CONNS=${BENCH_CONNECTIONS:-32}
SECS=${BENCH_SECONDS:-8}
BENCH=$(cd "$(dirname "$0")" && pwd)
command -v h2load >/dev/null || PACKAGES+=(nghttp2-client)
ensure_packages
# BENCH_NO_BUILD=1 with PING_BUILD_DIR=<a copy of build/>: measure saved
# binaries (say, before a change) without building the tree.
[ -n "${BENCH_NO_BUILD:-}" ] || build >/dev/null

# BENCH_HISTORY_KEEP=1: leave PostgreSQL running with both databases after
# the run (its port and the command that stops it are printed), to EXPLAIN
# the statements on the same data.
stop_stack() {
  if [ -n "${BENCH_HISTORY_KEEP:-}" ] && [ -n "${RUN:-}" ]; then
    set +e
    stop_process processor "$RUN"
    stop_process gateway "$RUN"
    stop_process devbroker "$RUN"
    redis_stop "$RUN/redis"
    echo "kept: psql -h 127.0.0.1 -p $PG_PORT -U ping ping_history;" \
      "stop with: source scripts/lib.sh; pg_stop $RUN/pg; rm -rf $RUN"
  else
    throwaway_stack_stop
  fi
}
trap stop_stack EXIT
throwaway_stack_start
SU=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1)
"${SU[@]}" -c "ALTER ROLE ping SET plan_cache_mode = force_generic_plan" \
  -c "ALTER ROLE ping SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER ROLE ping SET auto_explain.log_min_duration = '5ms'" \
  -c "CREATE DATABASE ping_history OWNER ping" >/dev/null
PGLOG=$RUN/pg/postgres.log
PLANS=${BENCH_HISTORY_PLANS:-/tmp/bench-history-plans} # .empty, .history: what auto_explain logged
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt -v ON_ERROR_STOP=1 -d "$1" "${@:2}"; }
dsn_of() { echo "host=127.0.0.1 port=$PG_PORT dbname=$1 user=ping"; }
ms() { date +%s%3N; }

# -- the history --------------------------------------------------------------
echo "== generating $ROWS pings over $DAYS days (database ping_history)"
t0=$(ms)
"$BUILD_DIR/apps/ping-gateway" --migrate-only --postgres.dsn="$(dsn_of ping_history)" >/dev/null
psql_db ping_history -v rows="$ROWS" -v days="$DAYS" -v day=-1 -f "$BENCH/history_generate.sql" >/dev/null
# Two days at a time (two cores).
export -f psql_db
export PG_BIN PG_PORT ROWS DAYS BENCH
seq 0 $((DAYS - 1)) | xargs -P 2 -I{} bash -c \
  'psql_db ping_history -v rows="$ROWS" -v days="$DAYS" -v day={} -f "$BENCH/history_generate.sql" >/dev/null'

psql_db ping_history -v rows="$ROWS" -v days="$DAYS" -v day=-2 -f "$BENCH/history_generate.sql" >/dev/null
gen_s=$(( ($(ms) - t0) / 1000 ))
# The load's dirty pages written now (a checkpoint, then the kernel's), not
# while the phases below are measured.
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c CHECKPOINT >/dev/null
sync
echo "   $(psql_db ping_history -c 'SELECT count(*) FROM pings') rows in ${gen_s} s," \
  "$(psql_db ping_history -c "SELECT pg_size_pretty(pg_database_size('ping_history'))")"

# -- figures --------------------------------------------------------------------

# PostgreSQL's CPU (every process of the cluster: the gateway's and the
# processor's backends, background workers), in clock ticks.
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# The gateway's CPU (its one process), in clock ticks.
gw_ticks() {
  local p
  p=$(cat "$RUN/gateway.pid" 2>/dev/null) && [ -r "/proc/$p/stat" ] && awk '{ print $14 + $15 }' "/proc/$p/stat" || echo 0
}
# redis-server's CPU, in clock ticks.
redis_ticks() {
  local p
  p=$(cat "$RUN/redis/redis.pid" 2>/dev/null) && [ -r "/proc/$p/stat" ] && awk '{ print $14 + $15 }' "/proc/$p/stat" || echo 0
}
# The machine's busy and total clock ticks (every core).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
per_call_us() { awk -v t="$1" -v n="$2" -v u="$TICK_US" 'BEGIN { printf "%.1f", (n > 0 ? t * u / n : 0) }'; }

# PingCount {} for 2 s, not measured: a freshly started gateway and
# processor (first plans, caches, the consumer group settling) before the
# first rate of a phase, as bench/ingest.sh warms up.
h2_warm() {
  echo '{}' >"$RUN/empty.json"
  h2load --h1 -c "$CONNS" -D 2 -d "$RUN/empty.json" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount" >/dev/null 2>&1 || true
}

# h2load PingCount {} for SECS at CONNS connections
#   -> "rps p99_ms max_ms non200 pg_cpu_us_per_call gateway_cpu_us_per_call"
h2_count() {
  local log=$RUN/h2load.log secs=${2:-$SECS} conns=${1:-$CONNS} t0 t1 g0 g1
  echo '{}' >"$RUN/empty.json"
  rm -f "$log"
  local r0 r1 m0 m1
  t0=$(pg_ticks "$RUN/pg/data")
  g0=$(gw_ticks)
  r0=$(redis_ticks)
  m0=$(machine_ticks)
  /usr/bin/time -f '%U %S' -o "$RUN/client.cpu" h2load --h1 -c "$conns" -D "$secs" \
    -d "$RUN/empty.json" -H 'Content-Type: application/json' --log-file="$log" \
    "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount" >"$RUN/h2load.out" 2>&1 || true
  t1=$(pg_ticks "$RUN/pg/data")
  g1=$(gw_ticks)
  r1=$(redis_ticks)
  m1=$(machine_ticks)
  local bad n
  bad=$(awk '$2 != 200' "$log" | wc -l)
  n=$(wc -l <"$log")
  awk '$2 == 200 { print $3 / 1000 }' "$log" | sort -n |
    awk -v secs="$secs" -v bad="$bad" -v us="$(per_call_us $((t1 - t0)) "$n")" \
      -v gw="$(per_call_us $((g1 - g0)) "$n")" -v extra="$(cpu_extra "$n" $((r1 - r0)) "$m0" "$m1")" '{ d[++n] = $1 }
      END { if (!n) { print "0 - - " bad " - - - - -"; exit }
            p = int(n * 0.99); if (p < 1) p = 1
            printf "%.0f %.2f %.2f %d %s %s %s\n", n / secs, d[p], d[n], bad, us, gw, extra }'
}

# cpu_extra CALLS REDIS_TICKS "BUSY0 TOTAL0" "BUSY1 TOTAL1" (the client's
# user and system seconds in $RUN/client.cpu)
#   -> "client_us_per_call redis_us_per_call machine_busy_percent"
cpu_extra() {
  local m0=($3) m1=($4)
  awk -v n="$1" -v r="$2" -v u="$TICK_US" -v b=$((m1[0] - m0[0])) -v t=$((m1[1] - m0[1])) \
    '{ c = $1 + $2 } END { if (n > 0) printf "%.1f %.1f %.0f", c * 1e6 / n, r * u / n, (t > 0 ? 100 * b / t : 0); else print "- - -" }' \
    "$RUN/client.cpu"
}

# wrk over RANGES (';'-separated bodies)
#   -> "rps p99_ms max_ms non2xx pg_cpu_us_per_call gateway_cpu_us_per_call"
wrk_ranges() {
  local conns=$1 secs=$2 t0 t1 g0 g1 r0 r1 m0 m1
  t0=$(pg_ticks "$RUN/pg/data")
  g0=$(gw_ticks)
  r0=$(redis_ticks)
  m0=$(machine_ticks)
  /usr/bin/time -f '%U %S' -o "$RUN/client.cpu" wrk -t1 -c"$conns" -d"${secs}s" --latency \
    -s "$BENCH/ranges.lua" "http://127.0.0.1:$CPORT" >"$RUN/wrk.out" || true
  t1=$(pg_ticks "$RUN/pg/data")
  g1=$(gw_ticks)
  r1=$(redis_ticks)
  m1=$(machine_ticks)
  local n
  n=$(awk '/requests in/ { print $1 }' "$RUN/wrk.out")
  awk -v ticks=$((t1 - t0)) -v gticks=$((g1 - g0)) -v u="$TICK_US" \
    -v extra="$(cpu_extra "${n:-0}" $((r1 - r0)) "$m0" "$m1")" 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
      /Requests\/sec/ { rps = $2 } /^ +99%/ { p99 = ms($2) } /Non-2xx/ { bad = $NF }
      /requests in/ { n = $1 }
      /Latency/ && !lat { max = ms($4); lat = 1 }
      END { printf "%.0f %.2f %.2f %d %.1f %.1f %s\n", rps, p99, max, bad + 0, (n > 0 ? ticks * u / n : 0),
                   (n > 0 ? gticks * u / n : 0), extra }' "$RUN/wrk.out"
}

body() { printf '{"time_range":{"start":%s,"end":%s}}' "$1" "$2"; }

exact() { # the cache equals PostgreSQL's heads
  local db=$1 heads total
  heads=$(psql_db "$db" -c "SELECT string_agg(kafka_partition || '=' || next_seq - 1, ' ' ORDER BY kafka_partition) FROM outbox_head")
  total=$(psql_db "$db" -c "SELECT sum(next_seq - 1) FROM outbox_head")
  local cached
  cached=$(redis-cli -p "$REDIS_PORT" HGET ping:counters total)
  [ "${cached:-0}" = "$total" ] || return 1 # no total field yet: nothing counted
  local kv
  for kv in $heads; do
    [ "$(redis-cli -p "$REDIS_PORT" HGET ping:offsets "seq:${kv%%=*}")" = "${kv#*=}" ] || return 1
  done
}

declare -A FIG
# When the processor started last was assigned its partitions (ms): the
# consumer group's join takes 3 s on the dev broker (librdkafka's mock
# cluster delays a new group's first rebalance by 3 s, as Kafka's
# group.initial.rebalance.delay.ms does by default), before any count work.
# Empty when none is logged yet (an empty database is exact before it).
assigned_ms() {
  local ts
  ts=$(grep -m1 'msg="partitions assigned"' "$RUN/processor.log" | sed -E 's/^ts=([^ ]+) .*/\1/')
  [ -z "$ts" ] || date -d "$ts" +%s%3N
}
assigned_yet() { [ -n "$(assigned_ms)" ]; }
since_assigned() { # ms since the assignment, or "-" before it
  local a
  a=$(assigned_ms)
  if [ -n "$a" ]; then echo $(($(ms) - a)); else echo -; fi
}
redis_eval() { redis-cli -p "$REDIS_PORT" EVAL "$1" 0; }
# The cache's keys copied aside, and put back (a cache restored from an
# older snapshot: RDB or AOF of an earlier moment).
SNAPSHOT_TAKE="for _, k in ipairs({'counters', 'offsets', 'future'}) do
  redis.call('DEL', 'bench:old:' .. k)
  if redis.call('EXISTS', 'ping:' .. k) == 1 then redis.call('COPY', 'ping:' .. k, 'bench:old:' .. k) end
end"
SNAPSHOT_RESTORE="for _, k in ipairs({'counters', 'offsets', 'future'}) do
  redis.call('DEL', 'ping:' .. k)
  if redis.call('EXISTS', 'bench:old:' .. k) == 1 then redis.call('COPY', 'bench:old:' .. k, 'ping:' .. k) end
end"
offsets_back() { # every offset:<p> of $offsets at or above its value then
  local kv v
  for kv in $offsets; do
    v=$(redis-cli -p "$REDIS_PORT" HGET ping:offsets "${kv%%=*}")
    [ "${v:-0}" -ge "${kv#*=}" ] || return 1
  done
}
healed() { exact "$1" && offsets_back; }
# sample_exact DATABASE T0: "MS 1" (exact) or "MS 0" lines, MS since T0,
# every 50 ms until killed.
sample_exact() {
  while :; do
    if exact "$1"; then echo "$(( $(ms) - $2 )) 1"; else echo "$(( $(ms) - $2 )) 0"; fi
    sleep 0.05
  done
}
# heal KIND DATABASE COMMAND...: run COMMAND (the fault), then the time until
# the cache is exact again (issue 17's criterion: the first exact sample
# after the last inexact one, sampled every 50 ms from before the fault
# on; 0 when no sample found it inexact after a fault that wrote nothing
# to the cache, the offsets reset) and until it is healed (exact, and every
# Kafka offset back), with PingCount {} on 4 connections for 4 s meanwhile;
# also how many samples found it inexact.
heal() {
  local kind=$1 db=$2 t1 h2 sampler
  shift 2
  t1=$(ms)
  sample_exact "$db" "$t1" >"$RUN/heal.samples" &
  sampler=$!
  h2_count 4 4 >"$RUN/heal.fig" &
  h2=$!
  "$@" >/dev/null
  log "   $kind: fault at $(date -u -d @"${t1:0:-3}.${t1: -3}" +%H:%M:%S.%3N)" # the processor's log's clock
  WAIT_SECONDS=120 wait_for "the cache healed ($kind)" healed "$db"
  FIG[$name.$kind]=$(( $(ms) - t1 ))
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  cp "$RUN/processor.log" "$PLANS.$name.$kind.processor.log" 2>/dev/null || true # the timeline
  read -r FIG[$name.$kind.exact] FIG[$name.$kind.inexact] < <(awk -v kind="$kind" -v healed="${FIG[$name.$kind]}" '
    { n++ } $2 == 0 { bad++; after = 1; first = "" } $2 == 1 && after && first == "" { first = $1 }
    END { if (!bad) first = (kind == "reset" ? 0 : healed); else if (first == "") first = healed
          printf "%s %d_of_%d\n", first, bad, n }' "$RUN/heal.samples")
  FIG[$name.$kind.inexact]=${FIG[$name.$kind.inexact]//_/ }
  [ "$kind" != reset ] || FIG[$name.$kind.assigned]=$(since_assigned)
  wait "$h2" || true
  read -r _ FIG[$name.$kind.p99] FIG[$name.$kind.max] FIG[$name.$kind.bad] _ <"$RUN/heal.fig"
}
measure() { # NAME DATABASE
  local name=$1 db=$2 now minute hour day
  log "== $name database"
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
  stop_process devbroker "$RUN"
  devbroker_start "$RUN"
  CPORT=$(free_port)
  PING_GATEWAY_ADMIN_PORT=0 gateway_start "$RUN" "$CPORT" "$(free_port)" "$(dsn_of "$db")" "$REDIS_PORT"
  local t0=$(ms)
  processor_start "$RUN" "$REDIS_PORT" "$(dsn_of "$db")"
  WAIT_SECONDS=600 wait_for "the cache counts $db" exact "$db"
  FIG[$name.cold]=$(( $(ms) - t0 ))
  FIG[$name.cold.assigned]=$(since_assigned)
  # The processor counts a cold cache before the group assigns anything:
  # when was it assigned, after its start?
  WAIT_SECONDS=60 wait_for "the partitions assigned" assigned_yet
  FIG[$name.cold.assigned_at]=$(( $(assigned_ms) - t0 ))
  local pglines0=$(wc -l <"$PGLOG")
  # The older snapshot of step 3, taken now (the burst comes after it).
  redis_eval "$SNAPSHOT_TAKE" >/dev/null

  h2_warm
  read -r FIG[$name.rps] FIG[$name.p99] FIG[$name.max] FIG[$name.bad] FIG[$name.pgus] FIG[$name.gwus] \
    FIG[$name.clientus] FIG[$name.redisus] FIG[$name.busy] < <(h2_count)
  # The same with the mix's client (wrk and bench/ranges.lua), for a ratio
  # of one client's rates.
  read -r FIG[$name.wrk.rps] FIG[$name.wrk.p99] FIG[$name.wrk.max] FIG[$name.wrk.bad] FIG[$name.wrk.pgus] \
    FIG[$name.wrk.gwus] FIG[$name.wrk.clientus] FIG[$name.wrk.redisus] FIG[$name.wrk.busy] \
    < <(RANGES='{}' wrk_ranges "$CONNS" "$SECS")

  # Ranges, relative to now (the history ends now).
  now=$(ms); minute=$((now / 60000 * 60000)); hour=$((now / 3600000 * 3600000))
  day=86400000
  declare -A R=(
    [aligned_1min]="$(body $((minute - 120000)) $((minute - 60000)))"
    [aligned_1h]="$(body $((hour - 3600000)) "$hour")"
    [aligned_7d]="$(body $((minute - 7 * day + 600000)) $((minute - 600000)))"
    [unaligned_1h]="$(body $((now - 3600000 - 123)) $((now - 7)))"
    [unaligned_1d]="$(body $((now - day - 4567)) $((now - 89)))"
    [unaligned_30d]="$(body $((now - 30 * day - 777)) $((now - 3)))"
    [before_cache_1d]="$(body $((hour - 30 * day)) $((hour - 29 * day)))"
    [aligned_400d]="$(body $((hour - 400 * day)) "$hour")"
    [unaligned_400d]="$(body $((now - 400 * day - 1)) $((now - 1)))"
  )
  local k mix=""
  for k in aligned_1min aligned_1h aligned_7d unaligned_1h unaligned_1d unaligned_30d \
           before_cache_1d aligned_400d unaligned_400d; do
    read -r _ FIG[$name.$k.p99] FIG[$name.$k.max] FIG[$name.$k.bad] _ < <(RANGES=${R[$k]} wrk_ranges 1 3)
    mix+="${R[$k]};"
  done
  local admin r0
  admin=$(sed -n 's/^admin=//p' "$RUN/gateway.ports")
  r0=$(read_stats "$admin")
  read -r FIG[$name.mix.rps] FIG[$name.mix.p99] FIG[$name.mix.max] FIG[$name.mix.bad] FIG[$name.mix.pgus] \
    FIG[$name.mix.gwus] FIG[$name.mix.clientus] FIG[$name.mix.redisus] FIG[$name.mix.busy] \
    < <(RANGES=$mix wrk_ranges "$CONNS" "$SECS")
  FIG[$name.mix.reads]=$(read_stats_delta "$r0" "$(read_stats "$admin")")

  # A 10 s burst of Pings at full speed, then PingCount {} at once.
  timeout 10 "$BUILD_DIR/apps/pingctl/pingctl" --address "127.0.0.1:$CPORT" ping \
    --requests 100000000 --concurrency 64 >/dev/null 2>&1 || true
  local counted
  counted=$(redis-cli -p "$REDIS_PORT" HGET ping:counters total)
  FIG[$name.behind]=$(( $(psql_db "$db" -c "SELECT sum(next_seq - 1) FROM outbox_head") - ${counted:-0} ))
  read -r FIG[$name.burst.rps] FIG[$name.burst.p99] FIG[$name.burst.max] FIG[$name.burst.bad] _ < <(h2_count)
  WAIT_SECONDS=120 wait_for "the processor caught up" exact "$db"

  # Recovery, each with PingCount {} on 4 connections meanwhile.
  # 1. The cache restored from the snapshot taken before the ranges and the
  #    burst (the processor running: its next write conflicts).
  local offsets=""
  heal older "$db" redis_eval "$SNAPSHOT_RESTORE"
  # 2. The Kafka offsets reset to the beginning: with the processor stopped
  #    (it reads them when it is assigned a partition), every stored
  #    offset:<p> set to 0; exact again once every offset is back where it
  #    was.
  offsets=$(redis-cli -p "$REDIS_PORT" HGETALL ping:offsets | paste - - | awk '$1 ~ /^offset:/ { printf "%s=%s ", $1, $2 }')
  stop_process processor "$RUN"
  local kv
  for kv in $offsets; do redis-cli -p "$REDIS_PORT" HSET ping:offsets "${kv%%=*}" 0 >/dev/null; done
  heal reset "$db" processor_start "$RUN" "$REDIS_PORT" "$(dsn_of "$db")"
  # 3. The cache wiped.
  heal wipe "$db" redis-cli -p "$REDIS_PORT" FLUSHALL

  tail -n +"$pglines0" "$PGLOG" >"$PLANS.$name"
  FIG[$name.slow]=$(tail -n +"$pglines0" "$PGLOG" | grep -c 'duration: .* plan:' || true)
  # Sequential scans of pings' ranges that hold rows (the empty range kept
  # ahead of each head is scanned, rightly, while it is empty).
  local leaf n=0
  for leaf in $(grep -oE 'Seq Scan on pings\w*' "$PLANS.$name" | awk '{ print $4 }' | sort -u); do
    [ "$(psql_db "$db" -c "SELECT EXISTS (SELECT 1 FROM $leaf)")" = t ] &&
      n=$((n + $(grep -c "Seq Scan on $leaf " "$PLANS.$name")))
  done
  FIG[$name.seqscans]=$n
  FIG[$name.rows]=$(psql_db "$db" -c "SELECT count(*) FROM pings")
  stop_process processor "$RUN"
  stop_process gateway "$RUN"
}

measure empty ping
measure history ping_history

row() { printf '%-44s %22s %22s\n' "$1" "$2" "$3"; }
echo
echo "== summary ($(nproc) cores; force_generic_plan for role ping; generator ${gen_s} s)"
row "" "empty" "history"
row "rows in pings" "${FIG[empty.rows]}" "${FIG[history.rows]}"
row "cold start until exact (ms)" "${FIG[empty.cold]}" "${FIG[history.cold]}"
row "  of which after the partitions were assigned" "${FIG[empty.cold.assigned]}" "${FIG[history.cold.assigned]}"
row "  partitions assigned at (ms after the start)" "${FIG[empty.cold.assigned_at]}" "${FIG[history.cold.assigned_at]}"
row "PingCount {} x$CONNS: req/s" "${FIG[empty.rps]}" "${FIG[history.rps]}"
row "  p99 / max (ms)" "${FIG[empty.p99]} / ${FIG[empty.max]}" "${FIG[history.p99]} / ${FIG[history.max]}"
row "  PostgreSQL CPU per PingCount (us)" "${FIG[empty.pgus]}" "${FIG[history.pgus]}"
row "  gateway CPU per PingCount (us)" "${FIG[empty.gwus]}" "${FIG[history.gwus]}"
row "  client (h2load) / redis CPU per PingCount (us)" "${FIG[empty.clientus]} / ${FIG[empty.redisus]}" "${FIG[history.clientus]} / ${FIG[history.redisus]}"
row "  machine busy (%)" "${FIG[empty.busy]}" "${FIG[history.busy]}"
row "PingCount {} x$CONNS with the mix's client (wrk): req/s" "${FIG[empty.wrk.rps]}" "${FIG[history.wrk.rps]}"
row "  PostgreSQL / gateway CPU per PingCount (us)" "${FIG[empty.wrk.pgus]} / ${FIG[empty.wrk.gwus]}" "${FIG[history.wrk.pgus]} / ${FIG[history.wrk.gwus]}"
row "  client (wrk) / redis CPU per PingCount (us)" "${FIG[empty.wrk.clientus]} / ${FIG[empty.wrk.redisus]}" "${FIG[history.wrk.clientus]} / ${FIG[history.wrk.redisus]}"
row "  machine busy (%)" "${FIG[empty.wrk.busy]}" "${FIG[history.wrk.busy]}"
row "after a 10 s burst: pings not yet counted" "${FIG[empty.behind]}" "${FIG[history.behind]}"
row "  PingCount {} x$CONNS req/s" "${FIG[empty.burst.rps]}" "${FIG[history.burst.rps]}"
row "  p99 / max (ms)" "${FIG[empty.burst.p99]} / ${FIG[empty.burst.max]}" "${FIG[history.burst.p99]} / ${FIG[history.burst.max]}"
for k in aligned_1min aligned_1h aligned_7d unaligned_1h unaligned_1d unaligned_30d \
         before_cache_1d aligned_400d unaligned_400d; do
  row "range $k x1: p99 / max (ms)" "${FIG[empty.$k.p99]} / ${FIG[empty.$k.max]}" \
    "${FIG[history.$k.p99]} / ${FIG[history.$k.max]}"
done
row "random mix of ranges x$CONNS: req/s" "${FIG[empty.mix.rps]}" "${FIG[history.mix.rps]}"
row "  p99 / max (ms)" "${FIG[empty.mix.p99]} / ${FIG[empty.mix.max]}" "${FIG[history.mix.p99]} / ${FIG[history.mix.max]}"
row "  rate / PingCount {} rate" "$(awk -v a="${FIG[empty.mix.rps]}" -v b="${FIG[empty.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
  "$(awk -v a="${FIG[history.mix.rps]}" -v b="${FIG[history.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
row "  PostgreSQL CPU per PingCount (us)" "${FIG[empty.mix.pgus]}" "${FIG[history.mix.pgus]}"
row "  rate / PingCount {} rate, both by wrk" "$(awk -v a="${FIG[empty.mix.rps]}" -v b="${FIG[empty.wrk.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
  "$(awk -v a="${FIG[history.mix.rps]}" -v b="${FIG[history.wrk.rps]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
row "  gateway CPU per PingCount (us)" "${FIG[empty.mix.gwus]}" "${FIG[history.mix.gwus]}"
row "  client (wrk) / redis CPU per PingCount (us)" "${FIG[empty.mix.clientus]} / ${FIG[empty.mix.redisus]}" "${FIG[history.mix.clientus]} / ${FIG[history.mix.redisus]}"
row "  machine busy (%)" "${FIG[empty.mix.busy]}" "${FIG[history.mix.busy]}"
echo "  the mix's shared reads, empty: ${FIG[empty.mix.reads]}"
echo "  the mix's shared reads, history: ${FIG[history.mix.reads]}"
for k in older reset wipe; do
  case $k in
    older) what="older snapshot restored until exact (ms)" ;;
    reset) what="Kafka offsets reset until exact (ms)" ;;
    wipe) what="FLUSHALL until exact (ms)" ;;
  esac
  row "$what" "${FIG[empty.$k.exact]}" "${FIG[history.$k.exact]}"
  row "  samples inexact meanwhile" "${FIG[empty.$k.inexact]}" "${FIG[history.$k.inexact]}"
  if [ "$k" = reset ]; then
    row "  until every offset is back (ms)" "${FIG[empty.$k]}" "${FIG[history.$k]}"
    row "  of which after the partitions were assigned" "${FIG[empty.$k.assigned]}" "${FIG[history.$k.assigned]}"
  fi
  row "  PingCount {} x4 meanwhile p99 / max (ms)" "${FIG[empty.$k.p99]} / ${FIG[empty.$k.max]}" \
    "${FIG[history.$k.p99]} / ${FIG[history.$k.max]}"
done
row "statements > 5 ms (auto_explain)" "${FIG[empty.slow]}" "${FIG[history.slow]}"
row "  of which Seq Scan of pings rows" "${FIG[empty.seqscans]}" "${FIG[history.seqscans]}"
bad=0
for k in "${!FIG[@]}"; do [[ $k == *.bad ]] && bad=$((bad + ${FIG[$k]:-0})); done
row "non-200 answers (all steps)" "" "$bad"
