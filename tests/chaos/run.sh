#!/usr/bin/env bash
# Chaos test, short form for CI (issue 9, "Counts that are never wrong"):
# starts throwaway services on free ports in a temp dir (PostgreSQL,
# redis-server, ping-devbroker, two ping-gateways, two ping-processors; see
# services.sh), runs chaos.py with a fixed seed and a short schedule that has
# every fault kind once, stops everything it started, and exits with
# chaos.py's status (0: every count exact; 1: violations; 2: harness error).
#
#   tests/chaos/run.sh [BUILD_DIR]      (else $PING_BUILD_DIR, else ./build)
#
# Knobs (environment): CHAOS_SEED (20241014), CHAOS_DURATION (seconds of
# load, 50), CHAOS_RATE (pings/s, 400), CHAOS_FAULTS (all; e.g.
# kill,flushall), CHAOS_SETTLE_TIMEOUT (seconds allowed for the cache to
# agree with PostgreSQL after the load, 40), CHAOS_FIGURES_FILE (also write
# the figures there), CHAOS_ARGS (more chaos.py flags), CHAOS_KEEP_RUN=1
# (keep the run directory and its logs), CHAOS_HISTORY_ROWS (200000 pings
# stored over CHAOS_HISTORY_DAYS, 60, before the services start, so every
# fault happens with history in place; 0: none; adds about a minute). Wall time with the defaults: at
# most about 110 s (start 10, load 50, settle <= 40, checks and stop 10),
# plus the history.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:-${PING_BUILD_DIR:-./build}}
[ -d "$BUILD" ] || { echo "[chaos] no build directory $BUILD" >&2; exit 2; }
export PING_BUILD_DIR
PING_BUILD_DIR=$(cd "$BUILD" && pwd)
source "$HERE/../../scripts/lib.sh"

for b in ping-gateway ping-processor ping-devbroker; do
  [ -x "$BUILD_DIR/apps/$b" ] || die "missing $BUILD_DIR/apps/$b (build first)"
done
for c in psql redis-cli redis-server python3 curl; do
  command -v "$c" >/dev/null || die "missing $c"
done

RUN=$(mktemp -d /tmp/ping-chaos.XXXXXX)
chmod 755 "$RUN"
CHAOS_PID=
cleanup() {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  if [ -n "$CHAOS_PID" ] && kill -0 "$CHAOS_PID" 2>/dev/null; then
    # Interrupted: chaos.py undoes its faults (SIGCONT, broker up) on SIGTERM.
    kill -TERM "$CHAOS_PID" 2>/dev/null
    for i in $(seq 1 200); do kill -0 "$CHAOS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CHAOS_PID" 2>/dev/null
    wait "$CHAOS_PID" 2>/dev/null
  fi
  "$HERE/services.sh" "$RUN" down
  if [ "${CHAOS_KEEP_RUN:-0}" = 1 ]; then log "kept $RUN"; else rm -rf "$RUN"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
  local f
  for f in "$RUN"/gateway*/gateway.log "$RUN"/processor*/processor.log "$RUN"/broker/devbroker.log \
           "$RUN"/redis/redis.log; do
    [ -f "$f" ] && { echo "== tail $f" >&2; tail -n 15 "$f" >&2; }
  done
}

started=$SECONDS
if ! "$HERE/services.sh" "$RUN" up; then
  log "services did not start"
  show_logs
  exit 2
fi
source "$RUN/chaos.env"
log "services up in $((SECONDS - started))s"

status=0
# shellcheck disable=SC2086
python3 "$HERE/chaos.py" \
  --seed "${CHAOS_SEED:-20241014}" \
  --duration "${CHAOS_DURATION:-50}" \
  --rate "${CHAOS_RATE:-400}" \
  --faults "${CHAOS_FAULTS:-all}" \
  --settle-timeout "${CHAOS_SETTLE_TIMEOUT:-40}" \
  --pg-port "$PG_PORT" \
  --redis-port "$REDIS_PORT" --redis-dir "$RUN/redis" \
  --broker-socket "$RUN/broker/devbroker.sock" \
  --gateway "$RUN/gateway1=$GATEWAY1_CONNECT" --gateway "$RUN/gateway2=$GATEWAY2_CONNECT" \
  --processor "$RUN/processor1" --processor "$RUN/processor2" \
  --helper "$HERE/services.sh $RUN" \
  ${CHAOS_FIGURES_FILE:+--figures-file "$CHAOS_FIGURES_FILE"} \
  ${CHAOS_ARGS:-} &
# In the background, so that INT/TERM reach the trap at once (and then
# chaos.py, which SIGTERM stops cleanly).
CHAOS_PID=$!
wait "$CHAOS_PID" || status=$?
CHAOS_PID=

[ "$status" != 2 ] || show_logs
log "chaos test exit status $status after $((SECONDS - started))s"
exit "$status"
