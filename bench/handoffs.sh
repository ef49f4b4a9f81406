#!/usr/bin/env bash
# Hand-offs per call (issue 18): the gateway CPU and thread wake-ups per call.
# Prints figures, asserts nothing.
#   bench/handoffs.sh GATEWAY_BIN...   (env: SECS=8 CONNS=32 PERF=0 STRACE=0 RPS=)
# KINDS="connect-ping grpc-ping connect-pingcount" (the default) picks the calls.
# RPS=N holds each connection to N calls per second (h2load --rps; nginx
# too): every build then runs at the same rate, so its CPU per call does not
# move with how much the shared machine lets it batch.
# PERF=1 records a profile per run (./NAME.perf); STRACE=1 adds a short
# extra run of 5,000 calls under `strace -c -f` (the whole process's
# syscalls per call; strace slows the gateway, so it is kept out of the CPU
# figures).
# e.g. bench/handoffs.sh /tmp/old/ping-gateway build/apps/ping-gateway
# For each gateway binary, in one throwaway stack: Connect Ping, gRPC Ping,
# Connect PingCount; then nginx (1 worker). Per run: CPU ticks of the process
# (utime+stime, /proc/PID/stat, all threads) / calls, and voluntary +
# involuntary context switches of all its threads / calls.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
SECS=${SECS:-8}; CONNS=${CONNS:-32}; KINDS=${KINDS:-connect-ping grpc-ping connect-pingcount}
wanted() { [[ " $KINDS " == *" $1 "* ]]; }
throwaway_stack_start
trap 'set +e; [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null; throwaway_stack_stop' EXIT
TICK_US=$((1000000 / $(getconf CLK_TCK)))
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ctx PID: "voluntary nonvoluntary" summed over live threads
ctx() { cat /proc/$1/task/*/status 2>/dev/null | awk '/^voluntary_ctxt/ { v += $2 } /^nonvoluntary_ctxt/ { n += $2 } END { print v + 0, n + 0 }'; }
idle_total() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
echo '{}' > "$RUN/empty.json"
printf '\x00\x00\x00\x00\x00' > "$RUN/grpc-ping.bin"
rate=(${RPS:+--rps="$RPS"})
h1=(--h1 -c"$CONNS" "${rate[@]}" -H 'content-type: application/json' -d "$RUN/empty.json")
grpc=(-c"$CONNS" "${rate[@]}" -m4 -H 'content-type: application/grpc' -H 'te: trailers' -d "$RUN/grpc-ping.bin")
# measure NAME PID h2load-args...
measure() {
  local name=$1 pid=$2; shift 2
  local t0 c0 t1 c1 i0 i1
  t0=$(ticks "$pid"); c0=$(ctx "$pid"); i0=$(idle_total); thread_ticks "$pid" > "$RUN/thr0"
  if [ "${PERF:-0}" = 1 ]; then
    perf record -F 999 -g -p "$pid" -o "$RUN/$name.perf" -- sleep "$SECS" >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  h2load -t1 -D "$SECS" "$@" > "$RUN/$name.out" 2>&1 || true
  [ "${PERF:-0}" = 1 ] && { wait "$PERF_PID" || true; }
  t1=$(ticks "$pid"); c1=$(ctx "$pid"); i1=$(idle_total); thread_ticks "$pid" > "$RUN/thr1"
  local done ok
  done=$(awk '/^requests:/ { print $8 }' "$RUN/$name.out")
  ok=$(awk '/^status codes:/ { gsub(",", ""); print $3 }' "$RUN/$name.out")
  local rps; rps=$(awk '/finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$RUN/$name.out")
  read -r v0 n0 <<<"$c0"; read -r v1 n1 <<<"$c1"
  read -r id0 to0 <<<"$i0"; read -r id1 to1 <<<"$i1"
  awk -v name="$name" -v n="$done" -v ok="$ok" -v rps="$rps" -v t=$(( (t1 - t0) * TICK_US )) \
      -v v=$((v1 - v0)) -v nv=$((n1 - n0)) -v idle=$((id1 - id0)) -v tot=$((to1 - to0)) 'BEGIN {
    if (n == 0) n = 1
    printf "%-28s %7d calls (%s 2xx) %6s/s  CPU %6.1f us/call  wakeups %5.2f/call (+%4.2f involuntary)  machine idle %2.0f%%\n",
      name, n, ok, rps, t / n, v / n, nv / n, 100 * idle / tot }' | tee -a "$RUN/result.txt"
  # which threads woke
  thread_costs "$RUN/thr0" "$RUN/thr1" "$done" | tee -a "$RUN/result.txt"
  if [ "${PERF:-0}" = 1 ]; then
    cp "$RUN/$name.perf" "./$name.perf"
  fi
  if [ "${STRACE:-0}" = 1 ]; then
    strace -c -f -p "$pid" -o "$RUN/$name.strace" 2>/dev/null &
    local spid=$!
    sleep 0.5
    h2load -t1 -n 5000 "$@" > "$RUN/$name.strace-h2load" 2>&1 || true
    kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
    awk -v name="$name" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ { n = $4; sc = $NF; if (sc != "total") printf "    strace %-16s %6.2f calls per call\n", sc, n / 5000 }' \
      "$RUN/$name.strace" | sort -k3 -nr | head -12 | tee -a "$RUN/result.txt"
  fi
}
i=0
for bin in "$@"; do
  i=$((i + 1))
  CPORT=$(free_port); GPORT=$(free_port)
  BUILD_DIR_SAVE=$BUILD_DIR
  mkdir -p "$RUN/gw$i/apps" "$RUN/g$i"; ln -sf "$RUN/devbroker.info" "$RUN/g$i/devbroker.info"; ln -sf "$(readlink -f "$bin")" "$RUN/gw$i/apps/ping-gateway"
  BUILD_DIR="$RUN/gw$i" gateway_start "$RUN/g$i" "$CPORT" "$GPORT" "$DSN" "$REDIS_PORT"
  BUILD_DIR=$BUILD_DIR_SAVE
  [ $i = 1 ] && processor_start "$RUN" "$REDIS_PORT" "$DSN"
  GW=$(cat "$RUN/g$i/gateway.pid")
  echo "== gateway $bin (pid $GW)" | tee -a "$RUN/result.txt"
  h2load "${h1[@]}" -D 2 "http://127.0.0.1:$CPORT/ping.v1.PingService/Ping" >/dev/null 2>&1 || true
  wanted connect-ping && measure "g$i-connect-ping" "$GW" "${h1[@]}" "http://127.0.0.1:$CPORT/ping.v1.PingService/Ping"
  wanted grpc-ping && measure "g$i-grpc-ping" "$GW" "${grpc[@]}" "http://127.0.0.1:$GPORT/ping.v1.PingService/Ping"
  sleep 2
  wanted connect-pingcount && measure "g$i-connect-pingcount" "$GW" "${h1[@]}" "http://127.0.0.1:$CPORT/ping.v1.PingService/PingCount"
  stop_process gateway "$RUN/g$i"
done
nginx_start "$RUN"
h2load --h1 -c"$CONNS" -D 2 "http://127.0.0.1:$NPORT/ping.json" >/dev/null 2>&1 || true
measure "nginx-static" "$NGINX_WORKER" --h1 -c"$CONNS" "${rate[@]}" "http://127.0.0.1:$NPORT/ping.json"

