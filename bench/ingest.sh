#!/usr/bin/env bash
# Throughput benchmark: prints figures and ratios, asserts nothing.
#
# Everything runs in one go on throwaway loopback services (PostgreSQL with
# the README's settings, redis-server, the dev broker, ping-gateway and
# ping-processor from the release build), so every ratio compares figures
# taken minutes apart on the same machine. One client for every HTTP figure:
# h2load, $CONNS connections, one thread, $SECS s after a 1 s warm-up.
#
#   ceilings   nginx serving a 2-byte static file (HTTP/1.1);
#              pgbench, one INSERT per transaction, $CONNS clients
#   peaks      Connect Ping (JSON, durable: acked after commit)
#              gRPC Ping (HTTP/2, 4 streams per connection)
#              Connect PingCount {} (exact, read-your-writes, processor running)
#              mixed: 9 Ping for every PingCount
#   half peak  each call at half its peak rate (h2load --rps): latency
#   overload   Connect Ping offered at twice its peak over 8x connections
#   memory     the gateway's peak RSS over the whole run (VmHWM)
#
#   bench/ingest.sh      (BENCH_SECONDS=8 BENCH_CONNECTIONS=32)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

SECS=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNECTIONS:-32}
command -v h2load >/dev/null || PACKAGES+=(nghttp2-client)
command -v nginx >/dev/null || PACKAGES+=(nginx-light)
[ -x /usr/bin/time ] || PACKAGES+=(time)
ensure_packages
build >/dev/null

throwaway_stack_start
trap 'set +e; [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null; throwaway_stack_stop' EXIT
CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
GW_PID=$(cat "$RUN/gateway.pid")
ADMIN=$(sed -n 's/^admin=//p' "$RUN/gateway.ports")
metric() { curl -sf "http://127.0.0.1:$ADMIN/metrics" | awk -v m="ping_$1" '$1 == m { print $2 }'; }

echo '{}' > "$RUN/empty.json"
printf '\x00\x00\x00\x00\x00' > "$RUN/grpc-ping.bin" # gRPC frame of an empty PingRequest
CONNECT="http://127.0.0.1:$CPORT/ping.v1.PingService"

# run NAME h2load-args...: one measured run; prints "rps p50 p99 max ok"
# (latencies in ms over the requests started after the warm-up; ok = 2xx).
run() {
  local name=$1; shift
  local log="$RUN/$name.log"
  /usr/bin/time -f '%U %S' -o "$RUN/$name.time" \
    h2load -t1 --warm-up-time=1 -D "$SECS" --log-file="$log" "$@" > "$RUN/$name.out" 2>&1 || true
  local rps
  rps=$(awk '/finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$RUN/$name.out")
  # start (us since epoch), status, duration (us): keep what started after
  # the warm-up, sort by duration, read off the percentiles.
  sort -n -k1,1 "$log" | awk -v warm=1000000 'NR == 1 { t0 = $1 } $1 - t0 >= warm { print $3, $2 }' \
    | sort -n -k1,1 | awk -v rps="${rps:-0}" '
    { n++; d[n] = $1 / 1000.0; if ($2 >= 200 && $2 < 300) ok++ }
    END {
      if (n == 0) { print rps " 0 0 0 0"; exit }
      i50 = int(n * 0.50); if (i50 < 1) i50 = 1
      i99 = int(n * 0.99); if (i99 < 1) i99 = 1
      printf "%s %.2f %.2f %.1f %d\n", rps, d[i50], d[i99], d[n], ok + 0
    }'
}
h1=(--h1 -c"$CONNS" -H 'content-type: application/json' -d "$RUN/empty.json")
grpc=(-c"$CONNS" -m4 -H 'content-type: application/grpc' -H 'te: trailers' -d "$RUN/grpc-ping.bin")

# CPU accounting around a run: clock ticks of each component and the
# machine's idle share, to see where a call's CPU goes and whether the
# machine was saturated.
TICK_US=$((1000000 / $(getconf CLK_TCK)))
ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
pg_pids() { local m; m=$(head -1 "$RUN/pg/data/postmaster.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')"; }
idle_total() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
cpu_begin() {
  CPU0=("$(ticks "$GW_PID")" "$(ticks $(pg_pids))" "$(ticks "$(cat "$RUN/processor.pid")")" "$(ticks "$(cat "$RUN/devbroker.pid")")")
  read -r IDLE0 TOTAL0 < <(idle_total)
}
# cpu_end NAME CALLS CLIENT_SECONDS: prints microseconds of CPU per call
cpu_end() {
  local name=$1 calls=$2 client=$3 idle total
  local now=("$(ticks "$GW_PID")" "$(ticks $(pg_pids))" "$(ticks "$(cat "$RUN/processor.pid")")" "$(ticks "$(cat "$RUN/devbroker.pid")")")
  read -r idle total < <(idle_total)
  awk -v n="$calls" -v t="$TICK_US" -v g=$((now[0] - CPU0[0])) -v pg=$((now[1] - CPU0[1])) \
      -v pr=$((now[2] - CPU0[2])) -v b=$((now[3] - CPU0[3])) -v c="$client" \
      -v idle=$((idle - IDLE0)) -v total=$((total - TOTAL0)) -v name="$name" 'BEGIN {
    if (n == 0) n = 1
    printf "%s CPU per call: gateway %.0f us, PostgreSQL %.0f us, processor %.0f us, broker %.0f us, h2load %.0f us; machine idle %.0f %%\n",
      name, g * t / n, pg * t / n, pr * t / n, b * t / n, c * 1e6 / n, 100 * idle / total }' >> "$RUN/cpu.txt"
}

rss_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$GW_PID/status"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

echo "== warm-up"
h2load "${h1[@]}" -D 2 "$CONNECT/Ping" >/dev/null 2>&1 || true

client_seconds() { awk '{ print $1 + $2 }' "$RUN/$1.time"; }
calls() { awk 'END { print NR }' "$RUN/$1.log"; }

echo "== Connect Ping"
cpu_begin
read -r ping_rps ping_p50 ping_p99 ping_max ping_ok < <(run ping "${h1[@]}" "$CONNECT/Ping")
cpu_end "Connect Ping" "$(calls ping)" "$(client_seconds ping)"
echo "   $ping_rps/s p50 $ping_p50 ms p99 $ping_p99 ms max $ping_max ms"

echo "== gRPC Ping"
acked0=$(metric gateway_pings_accepted_total)
read -r grpc_rps grpc_p50 grpc_p99 grpc_max grpc_ok < <(run grpc "${grpc[@]}" "http://127.0.0.1:$GPORT/ping.v1.PingService/Ping")
acked1=$(metric gateway_pings_accepted_total)
echo "   $grpc_rps/s p50 $grpc_p50 ms p99 $grpc_p99 ms max $grpc_max ms (gateway acked $((acked1 - acked0)))"

# The cache must hold everything before PingCount is measured: wait until
# the processor has flushed (its lag is 0) so the tail is short.
sleep 2
echo "== Connect PingCount"
pg0=$(metric 'counts_answered_total{source="postgres"}')
cpu_begin
read -r count_rps count_p50 count_p99 count_max count_ok < <(run count "${h1[@]}" "$CONNECT/PingCount")
cpu_end "Connect PingCount" "$(calls count)" "$(client_seconds count)"
pg1=$(metric 'counts_answered_total{source="postgres"}')
echo "   $count_rps/s p50 $count_p50 ms p99 $count_p99 ms max $count_max ms (from PostgreSQL: $((pg1 - pg0)))"

echo "== mixed: 9 Ping : 1 PingCount"
mixed_uris=()
for _ in 1 2 3 4 5 6 7 8 9; do mixed_uris+=("$CONNECT/Ping"); done
mixed_uris+=("$CONNECT/PingCount")
read -r mixed_rps mixed_p50 mixed_p99 mixed_max mixed_ok < <(run mixed "${h1[@]}" "${mixed_uris[@]}")
echo "   $mixed_rps/s p50 $mixed_p50 ms p99 $mixed_p99 ms max $mixed_max ms"

echo "== half of each peak"
half_ping_rps=$(( (ping_rps / 2 + CONNS - 1) / CONNS ))
half_count_rps=$(( (count_rps / 2 + CONNS - 1) / CONNS ))
read -r hp_rps hp_p50 hp_p99 hp_max hp_ok < <(run half-ping "${h1[@]}" --rps="$half_ping_rps" "$CONNECT/Ping")
read -r hc_rps hc_p50 hc_p99 hc_max hc_ok < <(run half-count "${h1[@]}" --rps="$half_count_rps" "$CONNECT/PingCount")
echo "   Ping $hp_rps/s p99 $hp_p99 ms; PingCount $hc_rps/s p99 $hc_p99 ms"

echo "== overload: Connect Ping offered at 2x its peak over $((CONNS * 8)) connections"
over_conns=$((CONNS * 8))
over_rps=$(( (2 * ping_rps + over_conns - 1) / over_conns ))
read -r ov_rps ov_p50 ov_p99 ov_max ov_ok < <(run overload --h1 -c"$over_conns" -H 'content-type: application/json' \
  -d "$RUN/empty.json" --rps="$over_rps" "$CONNECT/Ping")
ov_total=$(wc -l < "$RUN/overload.log")
ov_busy=$(awk '$2 == 429 || $2 == 503 { n++ } END { print n + 0 }' "$RUN/overload.log")
echo "   offered $((over_rps * over_conns))/s, answered $ov_rps/s ($ov_ok ok, $ov_busy refused), p99 $ov_p99 ms"
rss=$(rss_mib)
rows=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping ping -qAtc 'SELECT count(*) FROM pings')
stop_process processor "$RUN"
stop_process gateway "$RUN"

echo "== ceiling: nginx, 2-byte static file"
NPORT=$(free_port)
mkdir -p "$RUN/www"
echo '{}' > "$RUN/www/ping.json"
cat > "$RUN/nginx.conf" <<NGINX
worker_processes auto;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$NPORT; root $RUN/www; }
}
NGINX
nginx -c "$RUN/nginx.conf"
wait_for nginx curl -sf "http://127.0.0.1:$NPORT/ping.json"
read -r nginx_rps nginx_p50 nginx_p99 nginx_max _ < <(run nginx --h1 -c"$CONNS" "http://127.0.0.1:$NPORT/ping.json")
kill "$(cat "$RUN/nginx.pid")"
echo "   $nginx_rps/s p50 $nginx_p50 ms p99 $nginx_p99 ms"

echo "== ceiling: pgbench, one INSERT per transaction, -c$CONNS"
psql_admin=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping ping -qAt)
"${psql_admin[@]}" -c "CREATE TABLE bench_pings (id uuid PRIMARY KEY, pinged_at timestamptz NOT NULL)"
"${psql_admin[@]}" -c "CREATE INDEX ON bench_pings (pinged_at)"
echo "INSERT INTO bench_pings VALUES (gen_random_uuid(), now());" > "$RUN/insert.sql"
pg_tps=$("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U ping -n -c "$CONNS" -j 1 \
  -T "$SECS" -f "$RUN/insert.sql" ping 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')
echo "   $pg_tps transactions/s"

cat <<SUMMARY

== summary: h2load -c$CONNS -t1, $SECS s after 1 s warm-up; $(nproc) cores; everything on loopback
                        req/s   p50 ms  p99 ms  max ms  ratio                goal
nginx static file       $(printf '%6s %8s %7s %7s' "$nginx_rps" "$nginx_p50" "$nginx_p99" "$nginx_max")
pgbench 1 INSERT/txn    $(printf '%6s' "$pg_tps") tx/s
Connect Ping            $(printf '%6s %8s %7s %7s' "$ping_rps" "$ping_p50" "$ping_p99" "$ping_max")  $(ratio "$ping_rps" "$nginx_rps") x nginx, $(ratio "$ping_rps" "$pg_tps") x pgbench   >= 0.5 x nginx, >= 2.5 x pgbench
gRPC Ping (-m4)         $(printf '%6s %8s %7s %7s' "$grpc_rps" "$grpc_p50" "$grpc_p99" "$grpc_max")  $(ratio "$grpc_rps" "$nginx_rps") x nginx                >= 0.5 x nginx
Connect PingCount       $(printf '%6s %8s %7s %7s' "$count_rps" "$count_p50" "$count_p99" "$count_max")  $(ratio "$count_rps" "$nginx_rps") x nginx                >= 0.5 x nginx, p99 <= 5, max <= 50
mixed 90/10             $(printf '%6s %8s %7s %7s' "$mixed_rps" "$mixed_p50" "$mixed_p99" "$mixed_max")  $(ratio "$mixed_rps" "$nginx_rps") x nginx                (report)
Ping at half peak       $(printf '%6s %8s %7s %7s' "$hp_rps" "$hp_p50" "$hp_p99" "$hp_max")                       p99 <= 5
PingCount at half peak  $(printf '%6s %8s %7s %7s' "$hc_rps" "$hc_p50" "$hc_p99" "$hc_max")                       p99 <= 5
Ping at 2x overload     $(printf '%6s %8s %7s %7s' "$ov_rps" "$ov_p50" "$ov_p99" "$ov_max")  offered $((over_rps * over_conns))/s over $over_conns connections: $ov_ok ok, $ov_busy refused of $ov_total
gateway peak RSS        $rss MiB                                                  <= 64
PingCounts answered by PostgreSQL count(*) in the PingCount run: $((pg1 - pg0))   (goal 0)
non-2xx: Ping $(awk '$2 < 200 || $2 >= 300 { n++ } END { printf "%d", n }' "$RUN/ping.log"), PingCount $(awk '$2 < 200 || $2 >= 300 { n++ } END { printf "%d", n }' "$RUN/count.log"), mixed $(awk '$2 < 200 || $2 >= 300 { n++ } END { printf "%d", n }' "$RUN/mixed.log"); gRPC acked by the gateway $((acked1 - acked0))
pings stored            $rows
$(cat "$RUN/cpu.txt")
SUMMARY
