#!/usr/bin/env bash
# Processor throughput benchmark: prints figures, asserts nothing.
#
# Preloads a topic on a fresh dev broker with BENCH_EVENTS (1,000,000)
# events, then in the same run measures:
#   - the ceiling: kcat consuming the topic to /dev/null
#   - ping-processor counting all of them into a fresh redis-server, from
#     offset 0 (the cache is seeded with offsets 0), until `total` = N
# and the processor's peak RSS.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

N=${BENCH_EVENTS:-1000000}
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
  read_n=$(kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -o beginning -e -q -X fetch.wait.max.ms=10 \
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
  --kafka.topic="$TOPIC" \
  --cache.address="127.0.0.1:$REDIS_PORT" \
  --postgres.dsn="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping" --admin.port=0 \
  ${BENCH_PROCESSOR_ARGS:-}
PID=$(cat "$RUN/processor.pid")
WAIT_SECONDS=120 wait_for "first flush" \
  bash -c "[ -n \"\$(${cli[*]} HGET ping:counters total)\" ]"
t_first=$(date +%s.%N)
first=$("${cli[@]}" HGET ping:counters total)
WAIT_SECONDS=600 wait_for "all $N counted" \
  bash -c "[ \"\$(${cli[*]} HGET ping:counters total)\" = $N ]"
t1=$(date +%s.%N)
steady_rate=$(awk -v n="$((N - first))" -v a="$t_first" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
rss_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$PID/status")
proc_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
proc_rate=$(awk -v n="$N" -v s="$proc_s" 'BEGIN { printf "%.0f", n / s }')
echo "   $proc_s s including start-up and group join ($proc_rate records/s);"
echo "   $steady_rate records/s from the first flush to the last"

cat <<SUMMARY

== summary ($N events, $(nproc) cores)
kcat ceiling          $kcat_rate records/s
ping-processor        $steady_rate records/s counting ($(awk -v a="$steady_rate" -v b="$kcat_rate" 'BEGIN { printf "%.0f", 100 * a / b }') % of the ceiling); $proc_rate records/s including start-up
processor peak RSS    $((rss_kb / 1024)) MiB
SUMMARY
