#!/usr/bin/env bash
# `scripts/stack.sh up` twice: the second run, on a running stack, leaves
# every process alone (same pids) and exits 0 quickly (well within the 30 s
# a part waits to be ready). Runs the stack in a throwaway directory on free
# ports (PING_STACK_DIR, PING_*_PORT) and stops it at the end.
#
#   tests/stack/run.sh
#
# Prints PASS/FAIL per check and "N passed, N failed".
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

export PING_STACK_DIR
PING_STACK_DIR=$(mktemp -d /tmp/ping-stack-test.XXXXXX)
chmod 755 "$PING_STACK_DIR"
export PING_CONNECT_PORT=$(free_port) PING_GRPC_PORT=$(free_port) PING_PG_PORT=$(free_port) \
  PING_REDIS_PORT=$(free_port) PING_GATEWAY_ADMIN_PORT=$(free_port) \
  PING_PROCESSOR_ADMIN_PORT=$(free_port)
unset PING_ADMIN_PEERS
STACK_SH=$PING_ROOT/scripts/stack.sh
cleanup() {
  "$STACK_SH" down >/dev/null 2>&1
  rm -rf "$PING_STACK_DIR"
}
trap cleanup EXIT

pids() { cat "$PING_STACK_DIR"/{gateway,processor,devbroker}.pid "$PING_STACK_DIR/redis/redis.pid" 2>/dev/null | tr '\n' ' '; }

if "$STACK_SH" up >"$PING_STACK_DIR/up1.out" 2>&1; then
  pass "first up: the stack started"
else
  fail "first up"; tail -n 20 "$PING_STACK_DIR/up1.out"
fi
before=$(pids)
start=$(date +%s)
if "$STACK_SH" up >"$PING_STACK_DIR/up2.out" 2>&1; then
  took=$(( $(date +%s) - start ))
  if [ "$took" -le 20 ]; then
    pass "second up on the running stack: exit 0 after ${took} s"
  else
    fail "second up took ${took} s"
  fi
else
  fail "second up: exit $? after $(( $(date +%s) - start )) s: $(grep -m1 error "$PING_STACK_DIR/up2.out")"
fi
after=$(pids)
if [ -n "$before" ] && [ "$before" = "$after" ]; then
  pass "second up left every process alone (pids $after)"
else
  fail "pids changed: '$before' -> '$after'"
fi
# A processor is ready once the consumer group gave it its partitions
# (about 3 s against the dev broker): wait for it, within a deadline.
answers() {
  curl -sf -m 5 -X POST -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$PING_CONNECT_PORT/ping.v1.PingService/Ping" >/dev/null \
    && curl -sf -m 5 "http://127.0.0.1:$PING_PROCESSOR_ADMIN_PORT/readyz" >/dev/null
}
deadline=$((SECONDS + 30))
until answers || ((SECONDS >= deadline)); do sleep 0.5; done
if answers; then
  pass "the stack answers after the second up (Ping, processor ready)"
else
  fail "the stack does not answer within 30 s of the second up"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
