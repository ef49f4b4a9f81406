#!/usr/bin/env bash
# Cost and throughput benchmark (issue 18): prints figures and ratios,
# asserts nothing.
#
# Everything runs in one go on throwaway loopback services (PostgreSQL with
# the README's settings: fsync and synchronous_commit on; redis-server, the
# dev broker, ping-gateway and ping-processor from the release build), so
# every ratio compares figures taken minutes apart on the same machine. One
# client for every HTTP figure: h2load, $CONNS connections, one thread,
# $SECS s after a separate 1 s warm-up of the same call.
#
# $RUNS runs (2), each measuring:
#   Connect Ping (JSON, durable: acked after commit), gRPC Ping (HTTP/2, 4
#   streams per connection), Connect PingCount {} (exact, read-your-writes,
#   processor running), nginx (1 worker, a 2-byte static file, HTTP/1.1)
#   and pgbench (one INSERT per transaction, $CONNS clients);
# then, once: mixed (9 Ping : 1 PingCount), each call at half its peak rate
# (latency), Connect Ping offered at twice its peak over 8x connections, and
# the gateway's peak RSS (skip with BENCH_LATENCY=0).
#
# CPU per call is user + system time from /proc over the whole measured
# h2load run, divided by the calls it made: ping-gateway; PostgreSQL, every
# backend and auxiliary process (the postmaster's own time, its children's
# and those it reaped: `cutime`/`cstime`, so backends that exited during the
# run count too); ping-processor; the dev broker; nginx (master + worker).
# pgbench's backends exit with its run: PostgreSQL's CPU per transaction is
# taken from the postmaster's reaped children as above, and, as issue 18
# describes it, as the machine's busy time (/proc/stat) less pgbench's own
# with the gateway and processor idle (that one includes whatever else runs
# on the machine). The ratios use the first.
#
#   bench/ingest.sh                          (BENCH_SECONDS=8 BENCH_CONNECTIONS=32 BENCH_RUNS=2)
#   BENCH_HISTORY_ROWS=2000000 bench/ingest.sh   the same on a database holding that
#                            many pings over BENCH_HISTORY_DAYS (60) days first
#                            (bench/history_generate.sql, as bench/history.sh)
#   BENCH_STATEMENTS=1 bench/ingest.sh       adds pg_stat_statements (track=all):
#                            each statement's calls and execution time per Ping
#                            and per PingCount (its overhead inflates the CPU figures)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"

SECS=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNECTIONS:-32}
RUNS=${BENCH_RUNS:-2}
HISTORY_ROWS=${BENCH_HISTORY_ROWS:-0}
HISTORY_DAYS=${BENCH_HISTORY_DAYS:-60}
STATEMENTS=${BENCH_STATEMENTS:-0}
BENCH=$(cd "$(dirname "$0")" && pwd)
command -v h2load >/dev/null || PACKAGES+=(nghttp2-client)
command -v nginx >/dev/null || PACKAGES+=(nginx-light)
[ -x /usr/bin/time ] || PACKAGES+=(time)
ensure_packages
[ "${BENCH_BUILD:-1}" = 0 ] || build >/dev/null # 0: use PING_BUILD_DIR as it is

throwaway_stack_start
trap 'set +e; [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null; throwaway_stack_stop' EXIT
SU=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1)
PSQL=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt -v ON_ERROR_STOP=1 ping)
if [ "$STATEMENTS" = 1 ]; then
  "${SU[@]}" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  as_postgres "$PG_BIN/pg_ctl" -D "$RUN/pg/data" -w -t 60 restart >/dev/null
  "${SU[@]}" -d ping -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "SELECT pg_reload_conf()" \
    -c "CREATE EXTENSION pg_stat_statements" >/dev/null
fi
echo "== PostgreSQL: fsync $("${PSQL[@]}" -c 'SHOW fsync'), synchronous_commit $("${PSQL[@]}" -c 'SHOW synchronous_commit'), shared_buffers $("${PSQL[@]}" -c 'SHOW shared_buffers')"

if ((HISTORY_ROWS > 0)); then
  echo "== history: $HISTORY_ROWS pings over $HISTORY_DAYS days (bench/history_generate.sql)"
  t0=$SECONDS
  "$BUILD_DIR/apps/ping-gateway" --migrate-only --postgres.dsn="$DSN" >/dev/null
  gen() { "${PSQL[@]}" -v rows="$HISTORY_ROWS" -v days="$HISTORY_DAYS" -v day="$1" -f "$BENCH/history_generate.sql" >/dev/null; }
  gen -1
  for d in $(seq 0 "$((HISTORY_DAYS - 1))"); do gen "$d"; done
  gen -2
  echo "   $("${PSQL[@]}" -c 'SELECT sum(next_seq - 1) FROM outbox_head') pings," \
    "$("${PSQL[@]}" -c "SELECT pg_size_pretty(pg_database_size('ping'))") in $((SECONDS - t0)) s"
fi

CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
GW_PID=$(cat "$RUN/gateway.pid")
ADMIN=$(sed -n 's/^admin=//p' "$RUN/gateway.ports")
metric() { curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk -v m="ping_$1" '$1 == m { print $2 }'; }
# relay_snap: commits, pings committed, the relay's partition reads from
# memory and from PostgreSQL, and its events from each (0 where a build
# has no such metric).
relay_snap() {
  curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk '
    $1 == "ping_persistence_commit_batch_size_count" { c = $2 }
    $1 == "ping_persistence_commit_batch_size_sum" { s = $2 }
    $1 == "ping_relay_reads_total{source=\"memory\"}" { rm = $2 }
    $1 == "ping_relay_reads_total{source=\"postgres\"}" { rp = $2 }
    $1 == "ping_relay_read_events_total{source=\"memory\"}" { em = $2 }
    $1 == "ping_relay_read_events_total{source=\"postgres\"}" { ep = $2 }
    END { printf "%d %d %d %d %d %d\n", c, s, rm, rp, em, ep }'
}
# relay_print NAME: commits and the relay's reads between two relay_snap's.
relay_print() {
  local a b
  read -ra a < "$RUN/$1.relay0"
  read -ra b < "$RUN/$1.relay1"
  awk -v c=$((b[0] - a[0])) -v s=$((b[1] - a[1])) -v rm=$((b[2] - a[2])) -v rp=$((b[3] - a[3])) \
    -v em=$((b[4] - a[4])) -v ep=$((b[5] - a[5])) 'BEGIN {
      printf "   commits: %d, %.1f pings each; relay partition reads: %d from memory, %d from PostgreSQL (%.3f per commit); events: %d from memory, %d from PostgreSQL\n",
        c, (c > 0) ? s / c : 0, rm, rp, (c > 0) ? rp / c : 0, em, ep }'
}

echo '{}' > "$RUN/empty.json"
printf '\x00\x00\x00\x00\x00' > "$RUN/grpc-ping.bin" # gRPC frame of an empty PingRequest
CONNECT="http://127.0.0.1:$CPORT/ping.v1.PingService"
GRPC="http://127.0.0.1:$GPORT/ping.v1.PingService/Ping"
h1=(--h1 -c"$CONNS" -H 'content-type: application/json' -d "$RUN/empty.json")
grpc=(-c"$CONNS" -m4 -H 'content-type: application/grpc' -H 'te: trailers' -d "$RUN/grpc-ping.bin")

# -- CPU accounting -----------------------------------------------------------

TICK_US=$((1000000 / $(getconf CLK_TCK)))
# ticks PID...: user + system clock ticks of these processes so far
ticks() {
  local t=0 p
  for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
pid_in() { pid_of "$RUN/$1.pid" || echo 0; }
children() { [ "$1" != 0 ] && pgrep -P "$1" | tr '\n' ' '; true; }
# Components, in this order: gateway, PostgreSQL, processor, broker, nginx, machine busy, machine idle
snapshot() {
  echo "$(ticks "$GW_PID") $(pg_ticks "$RUN/pg/data") $(ticks "$(pid_in processor)") $(ticks "$(pid_in devbroker)" $(children "$(pid_in devbroker)"))" \
    "$(ticks "$(pid_in nginx)" $(children "$(pid_in nginx)"))" \
    "$(busy_ticks) $(idle_ticks)"
}

# measure NAME CALLS_FN h2load-args...: warm-up (1 s), then one measured run
# with the CPU of every component around it. Leaves in FIG[NAME.*]: rps,
# p50, p99, max (ms), ok (2xx), calls, and us of CPU per call for gw, pg,
# proc, broker, nginx, client, plus the machine's idle share.
declare -A FIG
measure() {
  local name=$1; shift
  local log="$RUN/$name.log"
  timeout -s KILL 20 h2load -t1 -D 1 "$@" >/dev/null 2>&1 || true
  local s0 s1
  [ "$STATEMENTS" = 1 ] && pg_procs > "$RUN/$name.procs0"
  read -ra s0 < <(snapshot)
  # h2load (1.52) now and then never exits after "Stopping all clients":
  # bounded, and the rate then comes from its log.
  /usr/bin/time -f '%U %S' -o "$RUN/$name.time" \
    timeout -s KILL $((SECS + 15)) h2load -t1 -D "$SECS" --log-file="$log" "$@" > "$RUN/$name.out" 2>&1 || true
  read -ra s1 < <(snapshot)
  [ "$STATEMENTS" = 1 ] && pg_procs > "$RUN/$name.procs1"
  local rps
  rps=$(awk '/finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$RUN/$name.out")
  [ -n "$rps" ] || rps=$(awk -v s="$SECS" 'END { printf "%.0f", NR / s }' "$log")
  FIG[$name.rps]=${rps:-0}
  read -r FIG[$name.p50] FIG[$name.p99] FIG[$name.max] FIG[$name.ok] FIG[$name.calls] < <(
    awk '{ print $3, $2 }' "$log" | sort -n -k1,1 | awk '
      { n++; d[n] = $1 / 1000.0; if ($2 >= 200 && $2 < 300) ok++ }
      END {
        if (n == 0) { print "0 0 0 0 0"; exit }
        i50 = int(n * 0.50); if (i50 < 1) i50 = 1
        i99 = int(n * 0.99); if (i99 < 1) i99 = 1
        printf "%.2f %.2f %.1f %d %d\n", d[i50], d[i99], d[n], ok + 0, n
      }')
  local n=${FIG[$name.calls]} i k
  ((n > 0)) || n=1
  local keys=(gw pg proc broker nginx)
  for i in 0 1 2 3 4; do
    k=${keys[$i]}
    FIG[$name.$k]=$(awk -v d=$((s1[i] - s0[i])) -v t="$TICK_US" -v n="$n" 'BEGIN { printf "%.1f", d * t / n }')
  done
  FIG[$name.client]=$(awk -v n="$n" '{ u = $1; s = $2 } END { printf "%.1f", (u + s) * 1e6 / n }' "$RUN/$name.time")
  FIG[$name.idle]=$(awk -v b=$((s1[5] - s0[5])) -v i=$((s1[6] - s0[6])) 'BEGIN { printf "%.0f", 100 * i / (b + i) }')
}

# PostgreSQL's processes (BENCH_STATEMENTS=1): "pid ns-on-cpu" of each
# child of the postmaster (schedstat: exact), to print them per call.
pg_procs() {
  local m c
  m=$(head -1 "$RUN/pg/data/postmaster.pid")
  for c in $(pgrep -P "$m"); do echo "$c $(awk '{ print $1 }' "/proc/$c/schedstat" 2>/dev/null || echo 0)"; done | sort
}
procs_print() { # NAME CALLS
  [ "$STATEMENTS" = 1 ] || return 0
  "${SU[@]}" -d ping -F ' ' -c "SELECT pid, backend_type, left(regexp_replace(query, '\s+', ' ', 'g'), 70) FROM pg_stat_activity" > "$RUN/activity"
  echo "   PostgreSQL processes per call (schedstat; sessions named by their last statement):"
  join "$RUN/$1.procs0" "$RUN/$1.procs1" | awk -v n="$2" '{ printf "%s %.1f\n", $1, ($3 - $2) / 1000 / n }' | sort -k2 -n -r | head -8 |
    while read -r pid us; do
      printf '     %6s us  %s\n' "$us" "$(grep "^$pid " "$RUN/activity" | cut -d' ' -f2- || true)"
    done
}

# Statements (BENCH_STATEMENTS=1): reset before, print after, per call.
stmt_reset() { [ "$STATEMENTS" = 1 ] && "${SU[@]}" -d ping -c "SELECT pg_stat_statements_reset()" >/dev/null || true; }
stmt_print() { # TITLE CALLS
  [ "$STATEMENTS" = 1 ] || return 0
  echo "   statements per $1 (pg_stat_statements, track=all; nested ones indented by their caller's time):"
  "${SU[@]}" -d ping -F ' | ' -c "
    SELECT to_char(calls::float8 / $2, 'FM990.000') || ' calls', to_char(total_exec_time * 1000 / $2, 'FM9990.0') || ' us',
           to_char(rows::float8 / greatest(calls, 1), 'FM99990.0') || ' rows/call',
           left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'ping')
      AND calls::float8 / $2 >= 0.0005
    ORDER BY total_exec_time DESC LIMIT 25" | sed 's/^/     /'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# -- the ceilings ---------------------------------------------------------------

NPORT=$(free_port)
mkdir -p "$RUN/www"
printf '{}' > "$RUN/www/ping.json" # 2 bytes
cat > "$RUN/nginx.conf" <<NGINX
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$NPORT; root $RUN/www; }
}
NGINX

nginx_run() { # R
  nginx -c "$RUN/nginx.conf"
  wait_for nginx curl -sf "http://127.0.0.1:$NPORT/ping.json"
  measure "nginx$1" --h1 -c"$CONNS" "http://127.0.0.1:$NPORT/ping.json"
  kill "$(cat "$RUN/nginx.pid")"
  WAIT_SECONDS=10 wait_for "nginx to stop" test ! -e "$RUN/nginx.pid"
}

pgbench_run() { # R
  local r=$1 b0 b1 p0 p1 out
  "${PSQL[@]}" -c "DROP TABLE IF EXISTS bench_pings" \
    -c "CREATE TABLE bench_pings (id uuid PRIMARY KEY, pinged_at timestamptz NOT NULL)" \
    -c "CREATE INDEX ON bench_pings (pinged_at)"
  echo "INSERT INTO bench_pings VALUES (gen_random_uuid(), now());" > "$RUN/insert.sql"
  pg_sessions=$(pgrep -P "$(head -1 "$RUN/pg/data/postmaster.pid")" -f 'postgres: ping ping' | wc -l)
  b0=$(busy_ticks); p0=$(pg_ticks "$RUN/pg/data")
  /usr/bin/time -f '%U %S' -o "$RUN/pgbench$r.time" \
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U ping -n -c "$CONNS" -j 1 \
    -T "$SECS" -f "$RUN/insert.sql" ping > "$RUN/pgbench$r.out" 2>&1
  # Until the postmaster reaped pgbench's backends (an exited, unreaped
  # backend shows no CPU at all).
  local m i
  m=$(head -1 "$RUN/pg/data/postmaster.pid")
  for i in $(seq 1 50); do
    [ "$(pgrep -P "$m" -f 'postgres: ping ping' | wc -l)" -le "$pg_sessions" ] && break
    sleep 0.1
  done
  b1=$(busy_ticks); p1=$(pg_ticks "$RUN/pg/data")
  FIG[pgbench$r.tps]=$(awk '/^tps/ { printf "%.0f", $3 }' "$RUN/pgbench$r.out")
  FIG[pgbench$r.txns]=$(awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] }' "$RUN/pgbench$r.out")
  local n=${FIG[pgbench$r.txns]:-1}
  FIG[pgbench$r.pg]=$(awk -v d=$((p1 - p0)) -v t="$TICK_US" -v n="$n" 'BEGIN { printf "%.1f", d * t / n }')
  FIG[pgbench$r.client]=$(awk -v n="$n" '{ printf "%.1f", ($1 + $2) * 1e6 / n }' "$RUN/pgbench$r.time")
  FIG[pgbench$r.busy]=$(awk -v d=$((b1 - b0)) -v t="$TICK_US" -v n="$n" -v c="${FIG[pgbench$r.client]}" \
    'BEGIN { printf "%.1f", d * t / n - c }')
  "${PSQL[@]}" -c "DROP TABLE bench_pings"
}

# -- the runs -------------------------------------------------------------------

echo "== warm-up"
h2load "${h1[@]}" -D 2 "$CONNECT/Ping" >/dev/null 2>&1 || true

show() { # NAME LABEL
  local n=$1
  printf '   %-18s %7s/s p50 %s ms p99 %s ms max %s ms; CPU per call: gateway %s us, PostgreSQL %s us, processor %s us, broker %s us, h2load %s us; idle %s %%\n' \
    "$2" "${FIG[$n.rps]}" "${FIG[$n.p50]}" "${FIG[$n.p99]}" "${FIG[$n.max]}" "${FIG[$n.gw]}" "${FIG[$n.pg]}" \
    "${FIG[$n.proc]}" "${FIG[$n.broker]}" "${FIG[$n.client]}" "${FIG[$n.idle]}"
}

for r in $(seq 1 "$RUNS"); do
  echo "== run $r"
  stmt_reset
  relay_snap > "$RUN/ping$r.relay0"
  measure "ping$r" "${h1[@]}" "$CONNECT/Ping"
  relay_snap > "$RUN/ping$r.relay1"
  show "ping$r" "Connect Ping"
  relay_print "ping$r"
  stmt_print "Connect Ping" "${FIG[ping$r.calls]}"
  procs_print "ping$r" "${FIG[ping$r.calls]}"
  stmt_reset
  acked0=$(metric gateway_pings_accepted_total)
  relay_snap > "$RUN/grpc$r.relay0"
  measure "grpc$r" "${grpc[@]}" "$GRPC"
  relay_snap > "$RUN/grpc$r.relay1"
  acked1=$(metric gateway_pings_accepted_total)
  FIG[grpc$r.acked]=$((acked1 - acked0))
  show "grpc$r" "gRPC Ping"
  relay_print "grpc$r"
  stmt_print "gRPC Ping" "${FIG[grpc$r.calls]}"
  procs_print "grpc$r" "${FIG[grpc$r.calls]}"
  # The cache must hold everything before PingCount is measured: let the
  # processor flush (its lag is 0) so the tail is short.
  sleep 2
  pg0=$(metric 'counts_answered_total{source="postgres"}')
  stmt_reset
  measure "count$r" "${h1[@]}" "$CONNECT/PingCount"
  pg1=$(metric 'counts_answered_total{source="postgres"}')
  FIG[count$r.frompg]=$((pg1 - pg0))
  show "count$r" "Connect PingCount"
  stmt_print "Connect PingCount" "${FIG[count$r.calls]}"
  procs_print "count$r" "${FIG[count$r.calls]}"
  nginx_run "$r"
  printf '   %-18s %7s/s p50 %s ms p99 %s ms; CPU per request: nginx %s us, h2load %s us; idle %s %%\n' \
    "nginx" "${FIG[nginx$r.rps]}" "${FIG[nginx$r.p50]}" "${FIG[nginx$r.p99]}" "${FIG[nginx$r.nginx]}" \
    "${FIG[nginx$r.client]}" "${FIG[nginx$r.idle]}"
  pgbench_run "$r"
  printf '   %-18s %7s tx/s; CPU per transaction: PostgreSQL %s us (machine busy less pgbench: %s us), pgbench %s us\n' \
    "pgbench" "${FIG[pgbench$r.tps]}" "${FIG[pgbench$r.pg]}" "${FIG[pgbench$r.busy]}" "${FIG[pgbench$r.client]}"
done

if [ "${BENCH_LATENCY:-1}" = 1 ]; then
  echo "== mixed: 9 Ping : 1 PingCount"
  mixed_uris=()
  for _ in 1 2 3 4 5 6 7 8 9; do mixed_uris+=("$CONNECT/Ping"); done
  mixed_uris+=("$CONNECT/PingCount")
  measure mixed "${h1[@]}" "${mixed_uris[@]}"
  echo "   ${FIG[mixed.rps]}/s p50 ${FIG[mixed.p50]} ms p99 ${FIG[mixed.p99]} ms max ${FIG[mixed.max]} ms"

  echo "== half of each peak"
  half_ping_rps=$(( (FIG[ping1.rps] / 2 + CONNS - 1) / CONNS ))
  half_count_rps=$(( (FIG[count1.rps] / 2 + CONNS - 1) / CONNS ))
  measure hping "${h1[@]}" --rps="$half_ping_rps" "$CONNECT/Ping"
  measure hcount "${h1[@]}" --rps="$half_count_rps" "$CONNECT/PingCount"
  echo "   Ping ${FIG[hping.rps]}/s p99 ${FIG[hping.p99]} ms; PingCount ${FIG[hcount.rps]}/s p99 ${FIG[hcount.p99]} ms"

  echo "== overload: Connect Ping offered at 2x its peak over $((CONNS * 8)) connections"
  over_conns=$((CONNS * 8))
  over_rps=$(( (2 * FIG[ping1.rps] + over_conns - 1) / over_conns ))
  measure over --h1 -c"$over_conns" -H 'content-type: application/json' -d "$RUN/empty.json" \
    --rps="$over_rps" "$CONNECT/Ping"
  ov_total=$(wc -l < "$RUN/over.log")
  ov_busy=$(awk '$2 == 429 || $2 == 503 { n++ } END { print n + 0 }' "$RUN/over.log")
  echo "   offered $((over_rps * over_conns))/s, answered ${FIG[over.rps]}/s (${FIG[over.ok]} ok, $ov_busy refused), p99 ${FIG[over.p99]} ms"
fi
rss=$(awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$GW_PID/status")
rows=$("${PSQL[@]}" -c 'SELECT sum(next_seq - 1) FROM outbox_head')
batch=$(curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk '
  /^ping_persistence_commit_batch_size_sum/ { s = $2 } /^ping_persistence_commit_batch_size_count/ { c = $2 }
  END { if (c > 0) printf "%.1f", s / c; else print "?" }')

# -- summary --------------------------------------------------------------------

cols() { local r out=""; for r in $(seq 1 "$RUNS"); do out+=$(printf ' %14s' "$("$@" "$r")"); done; echo "$out"; }
fig() { echo "${FIG[$1$3.$2]}"; }
us() { printf '%s us' "${FIG[$1$3.$2]}"; }
# goal NAME KEY FACTOR BASE_NAME BASE_KEY R: "x.xx (ok|MISS)" of FIG / (FACTOR x BASE)
goal_of() {
  awk -v a="${FIG[$1$6.$2]}" -v b="${FIG[$4$6.$5]}" -v f="$3" 'BEGIN {
    if (b <= 0) { print "-"; exit }
    r = a / b; printf "%.2f x %s\n", r, (r <= f) ? "ok" : "MISS" }'
}
proc_goal() { awk -v a="${FIG[ping$1.proc]}" 'BEGIN { printf "%s us %s\n", a, (a <= 4) ? "ok" : "MISS" }'; }
thr() { ratio "${FIG[$1$3.rps]}" "${FIG[$2$3.${4:-rps}]}"; }
thr_pg() { ratio "${FIG[$1$2.rps]}" "${FIG[pgbench$2.tps]}"; }
hdr=$(for r in $(seq 1 "$RUNS"); do printf ' %14s' "run $r"; done)

cat <<SUMMARY

== summary: h2load -c$CONNS -t1, $SECS s after a 1 s warm-up; $(nproc) cores; everything on loopback;
   pings in the database at the end: $rows (history: $HISTORY_ROWS); mean commit batch: $batch pings

CPU per call (user + sys from /proc)    $hdr
nginx per request (1 worker)            $(cols us nginx nginx)
pgbench txn: PostgreSQL (reaped)        $(cols us pgbench pg)
pgbench txn: machine busy less pgbench  $(cols us pgbench busy)
Connect Ping: gateway                   $(cols us ping gw)
Connect Ping: PostgreSQL                $(cols us ping pg)
Connect Ping: processor                 $(cols us ping proc)
Connect Ping: broker                    $(cols us ping broker)
Connect Ping: h2load                    $(cols us ping client)
gRPC Ping: gateway                      $(cols us grpc gw)
gRPC Ping: PostgreSQL                   $(cols us grpc pg)
gRPC Ping: processor                    $(cols us grpc proc)
gRPC Ping: broker                       $(cols us grpc broker)
PingCount: gateway                      $(cols us count gw)
PingCount: PostgreSQL                   $(cols us count pg)
PingCount: processor                    $(cols us count proc)
machine idle in Connect Ping (%)        $(cols fig ping idle)

goals                                   $hdr
gateway Ping <= 1.25 x nginx            $(cols goal_of ping gw 1.25 nginx nginx)
gateway gRPC Ping / nginx (report)      $(cols goal_of grpc gw 1000 nginx nginx)
gateway PingCount <= 1.0 x nginx        $(cols goal_of count gw 1.0 nginx nginx)
PostgreSQL per Ping <= 0.1 x pgbench    $(cols goal_of ping pg 0.1 pgbench pg)
PostgreSQL per gRPC Ping (report)       $(cols goal_of grpc pg 1000 pgbench pg)
PostgreSQL per PingCount <= 0.03 x pgb. $(cols goal_of count pg 0.03 pgbench pg)
processor <= 4 us per ping              $(cols proc_goal)

throughput (calls/s)                    $hdr
nginx static file                       $(cols fig nginx rps)
pgbench 1 INSERT/txn                    $(cols fig pgbench tps)
Connect Ping                            $(cols fig ping rps)
gRPC Ping (-m4)                         $(cols fig grpc rps)
Connect PingCount                       $(cols fig count rps)
Connect Ping / nginx                    $(cols thr ping nginx)
gRPC Ping / nginx                       $(cols thr grpc nginx)
PingCount / nginx                       $(cols thr count nginx)
Connect Ping / pgbench                  $(cols thr_pg ping)
gRPC Ping / pgbench                     $(cols thr_pg grpc)
PingCount / pgbench                     $(cols thr_pg count)
Connect Ping p99 ms                     $(cols fig ping p99)
PingCount p99 ms                        $(cols fig count p99)
SUMMARY
for r in $(seq 1 "$RUNS"); do
  echo "run $r: non-2xx Ping $((FIG[ping$r.calls] - FIG[ping$r.ok])), gRPC calls ${FIG[grpc$r.calls]} (the gateway acked ${FIG[grpc$r.acked]} with the warm-up), PingCount non-2xx $((FIG[count$r.calls] - FIG[count$r.ok])), PingCounts counted by PostgreSQL count(*): ${FIG[count$r.frompg]} (goal 0)"
done
if [ "${BENCH_LATENCY:-1}" = 1 ]; then
  cat <<LATENCY
mixed 90/10: ${FIG[mixed.rps]}/s p99 ${FIG[mixed.p99]} ms ($(ratio "${FIG[mixed.rps]}" "${FIG[nginx1.rps]}") x nginx)
Ping at half peak: ${FIG[hping.rps]}/s p99 ${FIG[hping.p99]} ms (goal 5); PingCount at half peak: ${FIG[hcount.rps]}/s p99 ${FIG[hcount.p99]} ms (goal 5)
Ping at 2x overload over $over_conns connections: ${FIG[over.rps]}/s answered, ${FIG[over.ok]} ok, $ov_busy refused of $ov_total, p99 ${FIG[over.p99]} ms
LATENCY
fi
echo "gateway peak RSS: $rss MiB (goal <= 64)"
