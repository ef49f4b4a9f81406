#!/usr/bin/env bash
# The Connect I/O thread's system calls per request, beside nginx's worker
# (issue 18). Prints figures, asserts nothing.
#   bench/iosyscalls.sh GATEWAY_BIN...   (env: CALLS=20000 CONNS=32)
# For each gateway binary, in one throwaway stack: Connect Ping and Connect
# PingCount `{}`, then nginx (1 worker, a 2-byte static file). Per run: a
# warm-up, then `perf trace -s` on the one thread that serves the
# connections (the gateway's `connect-io`, nginx's worker) over `h2load
# --h1 -t1 -n CALLS`: each system call's count and failures (EAGAIN) per
# request. (Not strace: it slows the thread so much that every read finds
# the next request already there, which hides the reads that find none.)
# Tracing costs CPU, so these are counts, not CPU.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
CALLS=${CALLS:-20000}; CONNS=${CONNS:-32}
throwaway_stack_start
trap 'set +e; [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null; throwaway_stack_stop' EXIT
echo '{}' > "$RUN/empty.json"
h1=(--h1 -t1 -c"$CONNS" -H 'content-type: application/json' -d "$RUN/empty.json")
# io_thread PID NAME: the thread called NAME (the first, if several)
io_thread() {
  local t
  for t in /proc/$1/task/*; do
    [ "$(cat "$t/comm")" = "$2" ] && { echo "${t##*/}"; return; }
  done
  echo "$1"
}
# count NAME TID h2load-args...
count() {
  local name=$1 tid=$2; shift 2
  h2load "$@" -n 2000 >/dev/null 2>&1 || true
  perf trace -s -t "$tid" -o "$RUN/$name.trace" 2>/dev/null &
  local spid=$!
  sleep 0.5
  h2load "$@" -n "$CALLS" > "$RUN/$name.out" 2>&1 || true
  sleep 0.2
  kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
  local done; done=$(awk '/^requests:/ { print $8 }' "$RUN/$name.out")
  echo "== $name: $done requests, thread $tid" | tee -a "$RUN/result.txt"
  # perf trace -s rows: syscall, calls, errors, total ms, min, avg, max, stddev
  awk -v n="${done:-1}" '$1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {
      all += $2; printf "    %-16s %6.3f per request  (failed %6.3f)\n", $1, $2 / n, $3 / n }
    END { printf "    %-16s %6.3f per request\n", "all", all / n }' \
    "$RUN/$name.trace" | sort -k2 -nr | tee -a "$RUN/result.txt"
}
i=0
for bin in "$@"; do
  i=$((i + 1))
  CPORT=$(free_port); GPORT=$(free_port)
  mkdir -p "$RUN/gw$i/apps" "$RUN/g$i"; ln -sf "$RUN/devbroker.info" "$RUN/g$i/devbroker.info"
  ln -sf "$(readlink -f "$bin")" "$RUN/gw$i/apps/ping-gateway"
  BUILD_DIR_SAVE=$BUILD_DIR
  BUILD_DIR="$RUN/gw$i" gateway_start "$RUN/g$i" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
  BUILD_DIR=$BUILD_DIR_SAVE
  [ $i = 1 ] && processor_start "$RUN" "$REDIS_PORT" "$DSN"
  GW=$(cat "$RUN/g$i/gateway.pid")
  IO=$(io_thread "$GW" connect-io)
  echo "== gateway $bin (pid $GW, connect-io $IO)" | tee -a "$RUN/result.txt"
  count "g$i-connect-ping" "$IO" "${h1[@]}" "http://127.0.0.1:$CPORT/ping.v1.PingService/Ping"
  count "g$i-connect-pingcount" "$IO" "${h1[@]}" "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount"
  stop_process gateway "$RUN/g$i"
done
nginx_start "$RUN"
count nginx-static "$NGINX_WORKER" --h1 -t1 -c"$CONNS" "http://127.0.0.1:$NPORT/ping.json"
