#!/usr/bin/env bash
# Processor throughput benchmark: prints figures, asserts nothing.
#
# Preloads a topic on a fresh dev broker with BENCH_EVENTS (1,000,000)
# events, then in the same run measures:
#   - the ceiling: kcat consuming the topic to /dev/null
#   - ping-processor counting all of them into a fresh redis-server, from
#     offset 0 (the cache is seeded with offsets 0): its counting rate from
#     its own counter, and when the cache holds all N
# and the processor's peak RSS.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

N=${BENCH_EVENTS:-1000000}
# Both readers long-poll the broker the same way (fetch.wait.max.ms).
FETCH_WAIT_MS=${BENCH_FETCH_WAIT_MS:-10}
ensure_packages
build >/dev/null

RUN=$(mktemp -d /tmp/ping-bench.XXXXXX)
chmod 755 "$RUN"
cleanup() {
  set +e
  stop_process processor "$RUN"
  stop_process devbroker "$RUN"
  redis_stop "$RUN/redis"
  pg_stop "$RUN/pg"
  rm -rf "$RUN"
}
trap cleanup EXIT

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
pg_start "$RUN/pg" "$PG_PORT"
redis_start "$RUN/redis" "$REDIS_PORT"
devbroker_start "$RUN"
BOOTSTRAP=$(devbroker_bootstrap "$RUN")

# The dev broker keeps about 5 MB per partition in memory and trims older
# records, so the events are spread over enough partitions to keep them all.
TOPIC=bench-events
PARTS=${BENCH_PARTITIONS:-12}
"$BUILD_DIR/apps/ping-devbroker" ctl --info-file "$RUN/devbroker.info" \
  create-topic "$TOPIC" "$PARTS" >/dev/null
echo "== preload $N events into $TOPIC ($PARTS partitions)"
"$BUILD_DIR/bench/ping-bench-preload" "$BOOTSTRAP" "$TOPIC" "$N" "$PARTS"

echo "== ceiling: kcat -C to /dev/null (best of 3 reads of the whole topic)"
kcat_s=
for attempt in 1 2 3; do
  t0=$(date +%s.%N)
  read_n=$(kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -o beginning -e -q -X fetch.wait.max.ms="$FETCH_WAIT_MS" \
    -f '%o\n' | wc -l)
  t1=$(date +%s.%N)
  [ "$read_n" = "$N" ] || die "kcat read $read_n of $N events (the broker trimmed some?)"
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  if [ -z "$kcat_s" ] || awk -v x="$s" -v y="$kcat_s" 'BEGIN { exit !(x < y) }'; then kcat_s=$s; fi
done
kcat_rate=$(awk -v n="$N" -v s="$kcat_s" 'BEGIN { printf "%.0f", n / s }')
echo "   $kcat_s s, $kcat_rate records/s"

echo "== ping-processor from offset 0"
cli=(redis-cli -p "$REDIS_PORT")
for p in $(seq 0 $((PARTS - 1))); do
  "${cli[@]}" HSET ping:offsets "offset:$p" 0 "seq:$p" 0 >/dev/null
done
t0=$(date +%s.%N)
spawn processor "$RUN" ${BENCH_WRAPPER:-} "$BUILD_DIR/apps/ping-processor" --kafka.bootstrap="$BOOTSTRAP" \
  --kafka.topic="$TOPIC" --kafka.partitions="$PARTS" --kafka.fetch-wait-ms="$FETCH_WAIT_MS" \
  --cache.address="127.0.0.1:$REDIS_PORT" \
  --postgres.dsn="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping" --admin.port=0 \
  --ports-file="$RUN/processor.ports" ${BENCH_PROCESSOR_ARGS:-}
PID=$(cat "$RUN/processor.pid")
wait_for "the processor's admin port" test -s "$RUN/processor.ports"
ADMIN_PORT=$(sed -n 's/^admin=//p' "$RUN/processor.ports")
# The counting rate: the processor's own counter of records counted
# (processor_records_counted_total), polled every 10 ms from the first record
# to the last; then the time until the cache holds all of them (the last
# partial windows wait for their 1-second flush timer).
python3 - "$ADMIN_PORT" "$N" "$REDIS_PORT" >"$RUN/counting" <<'PY'
import http.client, subprocess, sys, time
port, n, redis_port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=2)  # kept alive
def counted():
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("ping_processor_records_counted_total "):
            return int(float(line.split()[1]))
    return 0
deadline = time.time() + 600
first = None
while time.time() < deadline:
    c = counted()
    now = time.time()
    if c > 0 and first is None:
        first, first_count = now, c
    if c >= n:
        break
    time.sleep(0.01)
last = now
while time.time() < deadline:
    out = subprocess.run(["redis-cli", "-p", redis_port, "HGET", "ping:counters", "total"],
                         capture_output=True, text=True).stdout.strip()
    if out == str(n):
        break
    time.sleep(0.02)
cached = time.time()
print(f"{(n - first_count) / (last - first):.0f} {last - first:.3f} {cached - first:.3f} {last:.3f}")
PY
read -r count_rate count_s cached_s t1 <"$RUN/counting"
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$PID/status")
proc_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "   counted in $count_s s from the first record ($count_rate records/s);"
echo "   all in the cache $cached_s s after the first record; $proc_s s including start-up and group join"

cat <<SUMMARY

== summary ($N events, $PARTS partitions, $(nproc) cores)
kcat ceiling          $kcat_rate records/s
ping-processor        $count_rate records/s counting ($(awk -v a="$count_rate" -v b="$kcat_rate" 'BEGIN { printf "%.0f", 100 * a / b }') % of the ceiling)
processor peak RSS    $((rss_kb / 1024)) MiB
SUMMARY
