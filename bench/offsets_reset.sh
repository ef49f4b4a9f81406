#!/usr/bin/env bash
# The Kafka offsets reset, alone (issue 17's recovery figure, without the
# history): prints figures, asserts nothing.
#
# On throwaway loopback services: a gateway and a processor, a burst of
# Connect Pings ($BENCH_BURST s, 64 in flight), then twice: the processor
# stopped, every stored offset:<p> set to 0, the processor started again;
# timed until every offset is back where it was, in all and after the
# partitions were assigned, with the cache's total sampled meanwhile (the
# counts must stay exact: the window skips what it counted already).
#
#   bench/offsets_reset.sh
#   BENCH_PROCESSOR_ARGS=--kafka.session-timeout-ms=3000 bench/offsets_reset.sh
#                     the rejoin after a member left waits the session timeout less 1 s
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
BURST=${BENCH_BURST:-6}
read -r -a PARGS <<<"${BENCH_PROCESSOR_ARGS:-}"
[ "${BENCH_BUILD:-1}" = 0 ] || build >/dev/null
throwaway_stack_start >/dev/null
trap 'throwaway_stack_stop' EXIT
ms() { date +%s%3N; }
CPORT=$(free_port)
gateway_start "$RUN" "$CPORT" "$(free_port)" "$DSN" "$REDIS_PORT" >/dev/null
processor() {
  rm -f "$RUN/processor.ports"
  spawn processor "$RUN" "$BUILD_DIR/apps/ping-processor" \
    --kafka.bootstrap-file="$RUN/devbroker.info" --cache.address="127.0.0.1:$REDIS_PORT" \
    --postgres.dsn="$DSN" --admin.port=0 --ports-file="$RUN/processor.ports" ${PARGS[@]+"${PARGS[@]}"}
  wait_for ping-processor ready_or_dead "$RUN/processor.pid" "$RUN/processor.ports"
}
PSQL=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt ping)
processor
timeout "$BURST" "$BUILD_DIR/apps/pingctl/pingctl" --address "127.0.0.1:$CPORT" ping \
  --requests 100000000 --concurrency 64 >/dev/null 2>&1 || true
total=$("${PSQL[@]}" -c "SELECT sum(next_seq - 1) FROM outbox_head")
exact() { [ "$(redis-cli -p "$REDIS_PORT" HGET ping:counters total)" = "$total" ]; }
WAIT_SECONDS=60 wait_for "the processor caught up" exact
offsets=$(redis-cli -p "$REDIS_PORT" HGETALL ping:offsets | paste - - |
  awk '$1 ~ /^offset:/ { printf "%s=%s ", $1, $2 }')
back() {
  local kv
  for kv in $offsets; do
    [ "$(redis-cli -p "$REDIS_PORT" HGET ping:offsets "${kv%%=*}")" = "${kv#*=}" ] || return 1
  done
}
echo "== $total pings stored and counted; offsets: $offsets"
for i in 1 2; do
  stop_process processor "$RUN"
  for kv in $offsets; do redis-cli -p "$REDIS_PORT" HSET ping:offsets "${kv%%=*}" 0 >/dev/null; done
  t0=$(ms)
  processor
  samples=0 inexact=0 deadline=$((SECONDS + 120))
  until back; do
    ((SECONDS < deadline)) || die "offsets not back in 120 s"
    exact || inexact=$((inexact + 1))
    samples=$((samples + 1))
    sleep 0.02
  done
  t1=$(ms)
  ts=$(grep -m1 'msg="partitions assigned"' "$RUN/processor.log" | sed -E 's/^ts=([^ ]+) .*/\1/')
  echo "reset $i: offsets back $((t1 - t0)) ms after the start, $((t1 - $(date -d "$ts" +%s%3N))) ms after the assignment;" \
    "cache total inexact in $inexact of $samples samples"
done
