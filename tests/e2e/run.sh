#!/usr/bin/env bash
# End-to-end checks of a running gateway with independent clients:
#   curl       raw Connect protocol over HTTP/1.1 (status codes, edge cases)
#   buf curl   Connect with the schema from ./proto; gRPC with server reflection
#   client.mjs @connectrpc/connect-node, four transports (see client.mjs)
#
#   tests/e2e/run.sh CONNECT_PORT GRPC_PORT
#
# The gateway listens on 127.0.0.1 and stores pings in PostgreSQL, which other
# tests may write to at the same time: exact counts are only asserted over
# random minutes in year 2100 that only this run pings into.
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 on any failure.
# E2E_VERBOSE=1 also shows the output of passing checks.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ $# -ne 2 ] || [[ ! $1 =~ ^[0-9]+$ ]] || [[ ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 CONNECT_PORT GRPC_PORT" >&2
  exit 2
fi
CONNECT_PORT=$1
GRPC_PORT=$2
CONNECT=http://127.0.0.1:$CONNECT_PORT
GRPC=http://127.0.0.1:$GRPC_PORT
SVC=ping.v1.PingService

ensure_node_modules
TMP=$(mktemp -d /tmp/ping-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# --- check bookkeeping ------------------------------------------------------

passed=0 failed=0

# check NAME CMD...: runs CMD (output to $TMP/out), counts PASS or FAIL, and
# shows the output on failure (always with E2E_VERBOSE=1).
check() {
  local name=$1; shift
  local rc=0
  "$@" >"$TMP/out" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "PASS $name"
    [ "${E2E_VERBOSE:-0}" = 1 ] && sed 's/^/     /' "$TMP/out"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$TMP/out"
  fi
  return 0
}

# --- curl: the Connect protocol by hand -------------------------------------

# http STATUS BODY_REGEX CURL_ARGS...: one curl call; passes if the HTTP
# status is STATUS and the whole body matches BODY_REGEX (bash ERE; empty =
# anything). Prints what it got, for the failure report.
http() {
  local want_status=$1 want_body=$2; shift 2
  local status body
  status=$(curl -sS --max-time 10 -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@") || {
    echo "curl failed (exit $?): curl $*"
    return 1
  }
  body=$(cat "$TMP/body")
  echo "curl $*"
  echo "-> HTTP $status, $(grep -i '^content-type:' "$TMP/headers" | tr -d '\r' || echo 'no content-type')"
  echo "-> body: $body"
  [ "$status" = "$want_status" ] || { echo "want HTTP $want_status"; return 1; }
  if [ -n "$want_body" ] && ! [[ $body =~ $want_body ]]; then
    echo "want body matching: $want_body"
    return 1
  fi
}

# Response header NAME of the last http call matches REGEX (case-insensitive name).
header_matches() {
  grep -i "^$1:" "$TMP/headers" | tr -d '\r' | grep -Eiq ":[[:space:]]*$2" || {
    echo "want header $1 matching $2; got: $(tr -d '\r' <"$TMP/headers" | tr '\n' '|')"
    return 1
  }
}

json_post() { # PATH JSON [CURL_ARGS...]
  local path=$1 data=$2; shift 2
  printf '%s' "$data" >"$TMP/req.json"
  echo "request: $data"
  curl_args=(-X POST -H 'Content-Type: application/json' --data-binary "@$TMP/req.json" "$@" "$CONNECT/$SVC/$path")
}

# A random minute in year 2100 that only this run pings into: [$1, $1 + 60000).
random_minute() {
  echo $((4102444800000 + (RANDOM * 32768 + RANDOM) % 525000 * 60000))
}

EMPTY='^\{\}$'
ERROR_INVALID='"code": *"invalid_argument"'

T=$(random_minute) # the curl checks' own minute
T_END=$((T + 60000))

c_ping_json() {
  json_post Ping '{}'
  http 200 "$EMPTY" "${curl_args[@]}" && header_matches content-type 'application/json'
}
c_ping_json_timestamp() { # int64 as a string, proto field name
  json_post Ping "{\"timestamp_ms\":\"$T\"}"
  http 200 "$EMPTY" "${curl_args[@]}"
}
c_ping_json_number() { # int64 as a number, JSON name; unknown field ignored
  json_post Ping "{\"timestampMs\":$((T + 1)),\"noSuchField\":{\"x\":[1,2]}}"
  http 200 "$EMPTY" "${curl_args[@]}"
}
c_ping_gzip() {
  printf '{"timestampMs":"%s"}' $((T + 59999)) | gzip -c >"$TMP/req.json.gz"
  http 200 "$EMPTY" -X POST -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
    --data-binary "@$TMP/req.json.gz" "$CONNECT/$SVC/Ping"
}
c_ping_proto_empty() {
  http 200 '^$' -X POST -H 'Content-Type: application/proto' --data-binary @/dev/null \
    "$CONNECT/$SVC/Ping" && header_matches content-type 'application/proto'
}
c_count_total() {
  json_post PingCount '{}'
  http 200 '^\{( *"pingCount": *"[0-9]+" *)?\}$' "${curl_args[@]}"
}
c_count_window() { # the 3 pings above, at T, T + 1 and T + 59999
  json_post PingCount "{\"timeRange\":{\"start\":\"$T\",\"end\":\"$T_END\"}}"
  http 200 '^\{ *"pingCount": *"3" *\}$' "${curl_args[@]}"
}
c_count_empty_range() { # 0 is the default: omitted in ProtoJSON
  json_post PingCount "{\"time_range\":{\"start\":$T,\"end\":$T}}"
  http 200 "$EMPTY" "${curl_args[@]}"
}
c_get_count() {
  http 200 '^\{( *"pingCount": *"[0-9]+" *)?\}$' -G --data-urlencode 'encoding=json' \
    --data-urlencode 'message={}' "$CONNECT/$SVC/PingCount"
}
c_get_count_window() {
  http 200 '^\{ *"pingCount": *"3" *\}$' -G --data-urlencode 'connect=v1' --data-urlencode 'encoding=json' \
    --data-urlencode "message={\"timeRange\":{\"start\":\"$T\",\"end\":\"$T_END\"}}" \
    "$CONNECT/$SVC/PingCount"
}
c_bad_timestamp() {
  json_post Ping '{"timestampMs":"-1"}'
  http 400 "$ERROR_INVALID" "${curl_args[@]}" && header_matches content-type 'application/json'
}
c_bad_timestamp_max() {
  json_post Ping '{"timestampMs":"253402300800000"}'
  http 400 "$ERROR_INVALID" "${curl_args[@]}"
}
c_bad_range() {
  json_post PingCount "{\"timeRange\":{\"start\":\"$T_END\",\"end\":\"$T\"}}"
  http 400 "$ERROR_INVALID" "${curl_args[@]}"
}
c_bad_json() {
  json_post Ping '{"timestampMs":'
  http 400 "$ERROR_INVALID" "${curl_args[@]}"
}
c_unknown_path() {
  http 404 '"code": *"unimplemented"' -X POST -H 'Content-Type: application/json' -d '{}' \
    "$CONNECT/$SVC/NoSuchMethod"
}
c_delete() {
  http 405 '' -X DELETE "$CONNECT/$SVC/Ping"
}
c_get_ping() { # Ping has side effects: no GET
  http 405 '' -G --data-urlencode 'encoding=json' --data-urlencode 'message={}' "$CONNECT/$SVC/Ping"
}
c_bad_content_type() {
  http 415 '' -X POST -H 'Content-Type: image/jpeg' --data-binary '{}' "$CONNECT/$SVC/Ping"
}
c_bad_content_encoding() {
  http 501 '"code": *"unimplemented"' -X POST -H 'Content-Type: application/json' \
    -H 'Content-Encoding: foo' --data-binary '{}' "$CONNECT/$SVC/Ping"
}
c_bad_timeout() {
  http 400 "$ERROR_INVALID" -X POST -H 'Content-Type: application/json' \
    -H 'Connect-Timeout-Ms: 12345678901' --data-binary '{}' "$CONNECT/$SVC/PingCount"
}

echo "== curl: Connect over HTTP/1.1 at $CONNECT (own minute $T)"
check "curl Ping JSON {} -> 200 {}" c_ping_json
check "curl Ping JSON timestamp_ms as string (proto name) -> 200" c_ping_json_timestamp
check "curl Ping JSON timestampMs as number + unknown field ignored -> 200" c_ping_json_number
check "curl Ping gzip-compressed JSON (Content-Encoding: gzip) -> 200" c_ping_gzip
check "curl Ping binary proto, 0-byte body -> 200, 0-byte body" c_ping_proto_empty
check "curl PingCount JSON POST {} -> 200" c_count_total
check "curl PingCount JSON POST own minute -> exactly 3" c_count_window
check "curl PingCount empty range -> 200 {} (0 omitted)" c_count_empty_range
check "curl GET PingCount ?encoding=json&message={} -> 200" c_get_count
check "curl GET PingCount own minute -> exactly 3" c_get_count_window
check "curl Ping timestampMs -1 -> 400 invalid_argument" c_bad_timestamp
check "curl Ping timestampMs past year 9999 -> 400 invalid_argument" c_bad_timestamp_max
check "curl PingCount start > end -> 400 invalid_argument" c_bad_range
check "curl Ping malformed JSON -> 400 invalid_argument" c_bad_json
check "curl unknown method path -> 404 unimplemented" c_unknown_path
check "curl DELETE -> 405" c_delete
check "curl GET Ping (has side effects) -> 405" c_get_ping
check "curl Content-Type: image/jpeg -> 415" c_bad_content_type
check "curl Content-Encoding: foo -> 501 unimplemented" c_bad_content_encoding
check "curl Connect-Timeout-Ms: 12345678901 -> 400 invalid_argument" c_bad_timeout

# --- buf curl ---------------------------------------------------------------

BUF_CURL=(curl --timeout 15s --connect-timeout 10)
GRPC_CURL=("${BUF_CURL[@]}" --protocol grpc --http2-prior-knowledge)

# expect_output REGEX CMD...: CMD succeeds and its stdout matches REGEX (ERE).
expect_output() {
  local want=$1; shift
  echo "$*"
  "$@" >"$TMP/stdout" || { echo "-> exit $?"; cat "$TMP/stdout"; return 1; }
  cat "$TMP/stdout"
  grep -Eq "$want" "$TMP/stdout" || { echo "want output matching: $want"; return 1; }
}

# expect_failure REGEX CMD...: CMD fails and its stderr matches REGEX (ERE).
expect_failure() {
  local want=$1; shift
  echo "$*"
  if "$@" 2>"$TMP/stderr"; then echo "-> succeeded, want failure"; return 1; fi
  cat "$TMP/stderr"
  grep -Eiq "$want" "$TMP/stderr" || { echo "want error matching: $want"; return 1; }
}

B=$(random_minute) # buf curl's own minute
echo "== buf curl: Connect with --schema $ROOT/proto; gRPC at $GRPC with reflection (own minute $B)"
check "buf curl Connect Ping {}" \
  expect_output '^\{\}$' buf "${BUF_CURL[@]}" --schema "$ROOT/proto" -d '{}' "$CONNECT/$SVC/Ping"
check "buf curl Connect Ping in own minute" \
  expect_output '^\{\}$' buf "${BUF_CURL[@]}" --schema "$ROOT/proto" \
  -d "{\"timestampMs\":\"$((B + 30000))\"}" "$CONNECT/$SVC/Ping"
check "buf curl Connect PingCount {}" \
  expect_output '^\{' buf "${BUF_CURL[@]}" --schema "$ROOT/proto" -d '{}' "$CONNECT/$SVC/PingCount"
check "buf curl Connect PingCount own minute -> exactly 1" \
  expect_output '"pingCount": *"1"' buf "${BUF_CURL[@]}" --schema "$ROOT/proto" \
  -d "{\"timeRange\":{\"start\":\"$B\",\"end\":\"$((B + 60000))\"}}" "$CONNECT/$SVC/PingCount"
check "buf curl Connect Ping -1 -> invalid_argument" \
  expect_failure 'invalid_argument' buf "${BUF_CURL[@]}" --schema "$ROOT/proto" \
  -d '{"timestampMs":"-1"}' "$CONNECT/$SVC/Ping"

check "buf curl gRPC (reflection) Ping {}" \
  expect_output '^\{\}$' buf "${GRPC_CURL[@]}" -d '{}' "$GRPC/$SVC/Ping"
check "buf curl gRPC (reflection) PingCount own minute -> exactly 1 (the Connect ping above)" \
  expect_output '"pingCount": *"1"' buf "${GRPC_CURL[@]}" \
  -d "{\"timeRange\":{\"start\":\"$B\",\"end\":\"$((B + 60000))\"}}" "$GRPC/$SVC/PingCount"
check "buf curl gRPC --list-services includes $SVC" \
  expect_output "^$SVC\$" buf "${GRPC_CURL[@]}" --list-services "$GRPC"
check "buf curl gRPC --list-services, reflection v1 only" \
  expect_output "^$SVC\$" buf "${GRPC_CURL[@]}" --reflect-protocol grpc-v1 --list-services "$GRPC"
check "buf curl gRPC --list-services, reflection v1alpha only" \
  expect_output "^$SVC\$" buf "${GRPC_CURL[@]}" --reflect-protocol grpc-v1alpha --list-services "$GRPC"
check "buf curl gRPC Health/Check {\"service\":\"\"} -> SERVING" \
  expect_output '"status": *"SERVING"' buf "${GRPC_CURL[@]}" -d '{"service":""}' \
  "$GRPC/grpc.health.v1.Health/Check"
check "buf curl gRPC Health/Check {\"service\":\"$SVC\"} -> SERVING" \
  expect_output '"status": *"SERVING"' buf "${GRPC_CURL[@]}" -d "{\"service\":\"$SVC\"}" \
  "$GRPC/grpc.health.v1.Health/Check"
check "buf curl gRPC Health/Check unknown service -> not_found" \
  expect_failure 'not_found' buf "${GRPC_CURL[@]}" -d '{"service":"no.such.Service"}' \
  "$GRPC/grpc.health.v1.Health/Check"
check "buf curl gRPC Ping -1 -> invalid_argument" \
  expect_failure 'invalid_argument' buf "${GRPC_CURL[@]}" -d '{"timestampMs":"-1"}' "$GRPC/$SVC/Ping"

# --- connect-node -----------------------------------------------------------

echo "== client.mjs: @connectrpc/connect-node, service from buf build (codegen-free)"
check "buf build descriptor set" buf build "$ROOT" -o "$TMP/set.binpb"
export PING_E2E_DESCRIPTOR_SET=$TMP/set.binpb
for transport in connect-json connect-proto connect-get grpc; do
  check "connect-node $transport: own minute counts exactly, invalid -> InvalidArgument" \
    node "$E2E_DIR/client.mjs" "$CONNECT_PORT" "$GRPC_PORT" "$transport"
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
