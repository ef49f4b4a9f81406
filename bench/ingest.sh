#!/usr/bin/env bash
# Ingest benchmark: prints figures, asserts nothing.
#
# On throwaway services on free loopback ports (PostgreSQL, dev broker,
# ping-gateway from the release build), in one run:
#   1. wrk, Connect JSON pings, 10 s, 32 connections (durable: each answer
#      follows a commit)
#   2. pingctl load over gRPC
#   3. ceiling: wrk against a static file served by nginx
#   4. ceiling: pgbench, one INSERT per transaction, same PostgreSQL
#   5. latency at about half of the peak rate (fewer connections)
# and the gateway's peak RSS.
#
#   bench/ingest.sh            (BENCH_SECONDS=10 BENCH_CONNECTIONS=32)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
for tool in wrk nginx pgbench; do
  command -v "$tool" >/dev/null || PACKAGES+=("$([ "$tool" = nginx ] && echo nginx-light || echo "$tool")")
done
ensure_packages
build >/dev/null

RUN=$(mktemp -d /tmp/ping-bench.XXXXXX)
chmod 755 "$RUN"
cleanup() {
  set +e
  stop_process gateway "$RUN"
  stop_process devbroker "$RUN"
  [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null
  pg_stop "$RUN/pg"
  rm -rf "$RUN"
}
trap cleanup EXIT

PG_PORT=$(free_port)
pg_start "$RUN/pg" "$PG_PORT"
DSN="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping"
devbroker_start "$RUN"
CPORT=$(free_port)
GPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$GPORT" "$DSN"
GW_PID=$(cat "$RUN/gateway.pid")

# wrk output -> "rps p50_ms p99_ms"
wrk_figures() {
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "50.000%" || $1 == "50%" { p50 = $2 }
    $1 == "99.000%" || $1 == "99%" { p99 = $2 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.2f %.2f\n", rps, ms(p50), ms(p99) }'
}

echo "== warm-up"
wrk -t2 -c"$CONNS" -d2s -s "$(dirname "$0")/ping.lua" "http://127.0.0.1:$CPORT" >/dev/null

echo "== 1. Connect JSON pings: wrk -t2 -c$CONNS -d${SECONDS_PER_RUN}s"
read -r ping_rps ping_p50 ping_p99 < <(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency \
  -s "$(dirname "$0")/ping.lua" "http://127.0.0.1:$CPORT" | tee "$RUN/wrk-ping.txt" | wrk_figures)
echo "   $ping_rps req/s, p50 $ping_p50 ms, p99 $ping_p99 ms"
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$GW_PID/status")

echo "== 2. gRPC pings: pingctl --protocol grpc, $CONNS workers"
grpc_line=$("$BUILD_DIR/apps/pingctl/pingctl" --protocol grpc --address "127.0.0.1:$GPORT" \
  ping --requests $((SECONDS_PER_RUN * 3000)) --concurrency "$CONNS" 2>/dev/null | tail -1)
echo "   $grpc_line"

# wrk has no rate limit: fewer connections give lower rates; report the
# runs around half of the peak.
echo "== 5. latency at lower load: wrk -c$((CONNS / 8)) and -c$((CONNS / 4))"
half_lines=""
for c in $((CONNS / 8)) $((CONNS / 4)); do
  read -r r p50 p99 < <(wrk -t2 -c"$c" -d"${SECONDS_PER_RUN}s" --latency \
    -s "$(dirname "$0")/ping.lua" "http://127.0.0.1:$CPORT" | wrk_figures)
  pct=$(awk -v a="$r" -v b="$ping_rps" 'BEGIN { printf "%.0f", 100 * a / b }')
  echo "   -c$c: $r req/s ($pct % of peak), p50 $p50 ms, p99 $p99 ms"
  half_lines+="-c$c $r req/s ($pct % of peak) p99 $p99 ms; "
done
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$GW_PID/status")
rows=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping ping -qAtc 'SELECT count(*) FROM pings')
stop_process gateway "$RUN"

echo "== 3. ceiling: nginx static file, wrk -t2 -c$CONNS -d${SECONDS_PER_RUN}s"
NPORT=$(free_port)
mkdir -p "$RUN/www"
echo '{}' > "$RUN/www/ping.json"
cat > "$RUN/nginx.conf" <<NGINX
worker_processes 2;
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
read -r nginx_rps nginx_p50 nginx_p99 < <(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency \
  "http://127.0.0.1:$NPORT/ping.json" | wrk_figures)
echo "   $nginx_rps req/s, p50 $nginx_p50 ms, p99 $nginx_p99 ms"
kill "$(cat "$RUN/nginx.pid")"

echo "== 4. ceiling: pgbench, one INSERT per transaction, -c$CONNS"
psql_admin=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping ping -qAt)
"${psql_admin[@]}" -c "CREATE TABLE bench_pings (id uuid PRIMARY KEY, pinged_at timestamptz NOT NULL)"
"${psql_admin[@]}" -c "CREATE INDEX ON bench_pings (pinged_at)"
echo "INSERT INTO bench_pings VALUES (gen_random_uuid(), now());" > "$RUN/insert.sql"
pg_tps=$("$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U ping -n -c "$CONNS" -j 2 \
  -T "$SECONDS_PER_RUN" -f "$RUN/insert.sql" ping 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }')
echo "   $pg_tps transactions/s"

cat <<SUMMARY

== summary (${SECONDS_PER_RUN} s runs, $CONNS connections, $(nproc) cores)
durable Connect pings     $ping_rps req/s   p50 $ping_p50 ms   p99 $ping_p99 ms
gRPC pings (pingctl)      $grpc_line
static HTTP ceiling       $nginx_rps req/s
one-INSERT-per-txn        $pg_tps tx/s
ratio to static HTTP      $(awk -v a="$ping_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')
ratio to one-INSERT/txn   $(awk -v a="$ping_rps" -v b="$pg_tps" 'BEGIN { printf "%.2f", a / b }')
at lower load             $half_lines
gateway peak RSS          $((rss_kb / 1024)) MiB
pings stored              $rows
SUMMARY
