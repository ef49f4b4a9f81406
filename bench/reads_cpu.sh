#!/usr/bin/env bash
# PostgreSQL's CPU per PingCount {} and the requests sharing one read, on a
# throwaway stack (empty database, default settings, no auto_explain): h2load
# PingCount {} at $BENCH_CONNECTIONS (32) connections for $BENCH_SECONDS (6);
# PostgreSQL's CPU is every process of the cluster (clock ticks from /proc),
# printed with the cluster's idle CPU over as long for comparison. Prints
# figures, asserts nothing. PING_BUILD_DIR picks the binaries (a copy of
# build/ measures a saved version); it does not build.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
CONNS=${BENCH_CONNECTIONS:-32}
SECS=${BENCH_SECONDS:-6}
trap throwaway_stack_stop EXIT
throwaway_stack_start
CPORT=$(free_port)
APORT=$(free_port)
PING_GATEWAY_ADMIN_PORT=$APORT gateway_start "$RUN" "$CPORT" "$(free_port)" "$DSN" "$REDIS_PORT"
processor_start "$RUN" "$REDIS_PORT" "$DSN"
metric() { curl -sf "http://127.0.0.1:$APORT/metrics" | awk -v m="ping_$1" '$1 == m { print $2 }'; }
echo '{}' >"$RUN/empty.json"
h2load --h1 -c "$CONNS" -D 1 -d "$RUN/empty.json" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount" >/dev/null 2>&1 || true # warm-up
reads0=$(metric counts_read_requests_count); asked0=$(metric counts_read_requests_sum)
t0=$(pg_ticks "$RUN/pg/data")
h2load --h1 -c "$CONNS" -D "$SECS" -d "$RUN/empty.json" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount" >"$RUN/h2load.out" 2>&1 || true
t1=$(pg_ticks "$RUN/pg/data")
reads=$(( $(metric counts_read_requests_count) - reads0 ))
asked=$(( $(metric counts_read_requests_sum) - asked0 ))
t2=$(pg_ticks "$RUN/pg/data"); sleep "$SECS"; t3=$(pg_ticks "$RUN/pg/data")
done_=$(awk '/^requests:/ { print $8 }' "$RUN/h2load.out")
rps=$(awk '/finished in/ { print $4 }' "$RUN/h2load.out")
awk -v n="$done_" -v rps="$rps" -v reads="$reads" -v asked="$asked" -v t=$((t1 - t0)) \
    -v idle=$((t3 - t2)) -v u=$((1000000 / $(getconf CLK_TCK))) 'BEGIN {
  printf "PingCount {} x%s: %s req/s, %d answered\n", "'"$CONNS"'", rps, n
  printf "requests per shared read: %.1f (%d reads)\n", (reads > 0 ? asked / reads : 0), reads
  printf "PostgreSQL CPU per PingCount: %.1f us (the idle cluster over as long: %.1f us per call)\n",
    (n > 0 ? t * u / n : 0), (n > 0 ? idle * u / n : 0)
}'
