#!/usr/bin/env bash
# The binaries' command line, no services needed: --version shows the
# version from git; a value out of its bounds, or a bad --log-format, exits
# 2 with a message naming the option (before anything starts); --help shows
# each default as it is written in a flag.
#
#   tests/apps/command_line.sh BUILD_DIR
#
# Prints PASS/FAIL per check and "N passed, N failed".
set -uo pipefail
BUILD_DIR=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# expect_exit2 BINARY PATTERN ARGS...: exit status 2, stderr matching PATTERN.
expect_exit2() {
  local bin=$1 pattern=$2; shift 2
  local out status
  out=$(timeout 10 "$BUILD_DIR/apps/$bin" "$@" 2>&1 >/dev/null); status=$?
  if [ "$status" = 2 ] && grep -q -- "$pattern" <<<"$out"; then
    pass "$bin $*: exit 2, '$out'"
  else
    fail "$bin $*: exit $status, '$out' (expected 2 and '$pattern')"
  fi
}

version=$("$ROOT/scripts/version.sh" 0.1.0 2>/dev/null || echo unknown)
for bin in ping-gateway ping-processor; do
  out=$("$BUILD_DIR/apps/$bin" --version 2>&1)
  if [[ $out == "$bin "* && $out == *"("*")" ]]; then
    pass "$bin --version: $out (tree: $version)"
  else
    fail "$bin --version: '$out'"
  fi
  expect_exit2 "$bin" "bad log format 'xml'" --log-format=xml
  expect_exit2 "$bin" "kafka.partitions=0 is out of bounds" --kafka.partitions=0
done
expect_exit2 ping-gateway "postgres.writers=0 is out of bounds \[1, 64\]" --postgres.writers=0
expect_exit2 ping-gateway "connect.threads=0 is out of bounds" --connect.threads=0
PING_POSTGRES_MAX_BATCH=0 expect_exit2 ping-gateway "postgres.max-batch=0 is out of bounds"
expect_exit2 ping-processor "window.flush-records=0 is out of bounds" --window.flush-records=0
# Every number has bounds (issue 20): counts of zero, zero timeouts.
expect_exit2 ping-gateway "relay.batch=0 is out of bounds" --relay.batch=0
expect_exit2 ping-gateway "gateway.store-timeout=0[a-z]* is out of bounds" --gateway.store-timeout=0s
expect_exit2 ping-gateway "counts.max-waiting=0 is out of bounds" --counts.max-waiting=0
PING_GRPC_RESET_BURST=0 expect_exit2 ping-gateway "grpc.reset-burst=0 is out of bounds"
expect_exit2 ping-processor "kafka.batch=0 is out of bounds" --kafka.batch=0
expect_exit2 ping-processor "window.writer-timeout=0[a-z]* is out of bounds" --window.writer-timeout=0ms
expect_exit2 ping-processor "kafka.session-timeout-ms=0 is out of bounds" --kafka.session-timeout-ms=0
for bin in ping-gateway ping-processor; do
  expect_exit2 "$bin" "admin.max-connections=0 is out of bounds" --admin.max-connections=0
done
# --help shows a zero duration as 0s (CAF writes it 0d), in its bounds
# message too.
out=$(timeout 10 "$BUILD_DIR/apps/ping-gateway" --help 2>&1)
if grep -q "default: 0s   env: PING_GATEWAY_NUDGE_INTERVAL" <<<"$out" && ! grep -q "default: 0d" <<<"$out"; then
  pass "ping-gateway --help: zero durations read 0s"
else
  fail "ping-gateway --help: $(grep -m1 -A1 nudge-interval <<<"$out")"
fi
expect_exit2 ping-gateway "relay.min-pass=2s is out of bounds \[0s, 1s\]" --relay.min-pass=2s
out=$("$BUILD_DIR/apps/pingctl/pingctl" --version 2>&1)
[[ $out == "pingctl "* ]] && pass "pingctl --version: $out" || fail "pingctl --version: '$out'"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
