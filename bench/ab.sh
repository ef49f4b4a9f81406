#!/usr/bin/env bash
# A/B of two ping-gateway builds on the same throwaway services, in one run:
# prints figures, asserts nothing.
#
#   bench/ab.sh OTHER_BUILD_DIR [ROUNDS]
#
# OTHER_BUILD_DIR holds another build of this tree (for instance an older
# commit: git worktree add /tmp/old REV && meson setup /tmp/old/build
# --buildtype=release && ninja -C /tmp/old/build apps/ping-gateway). Each
# round runs Connect Ping and Connect PingCount (h2load, $BENCH_CONNECTIONS
# connections, one thread, $BENCH_SECONDS s after a 1 s warm-up) against the
# other build's gateway, then against this tree's, so drift in the machine
# hits both alike. The processor keeps the cache warm throughout; the
# gateway's CPU per call comes from /proc.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

OTHER=${1:?usage: bench/ab.sh OTHER_BUILD_DIR [ROUNDS]}
ROUNDS=${2:-2}
SECS=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNECTIONS:-32}
[ -x "$OTHER/apps/ping-gateway" ] || die "no ping-gateway in $OTHER/apps"
command -v h2load >/dev/null || PACKAGES+=(nghttp2-client)
ensure_packages
build >/dev/null
THIS=$BUILD_DIR

throwaway_stack_start
trap throwaway_stack_stop EXIT
processor_start "$RUN" "$REDIS_PORT" "$DSN"
echo '{}' > "$RUN/empty.json"

# measure BUILD_DIR LABEL: one gateway from that build, both calls
measure() {
  local dir=$1 label=$2 cport gport pid path t0 t1 out rps n
  cport=$(free_port)
  gport=$(free_port)
  BUILD_DIR=$dir gateway_start "$RUN" "$cport" "$gport" "$DSN" "$REDIS_PORT"
  pid=$(cat "$RUN/gateway.pid")
  for path in Ping PingCount; do
    t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    out=$(h2load --h1 -c"$CONNS" -t1 --warm-up-time=1 -D "$SECS" \
      -H 'content-type: application/json' -d "$RUN/empty.json" \
      "http://127.0.0.1:$cport/ping.v1.PingService/$path" 2>&1 || true)
    t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    rps=$(awk '/finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' <<<"$out")
    # calls over the whole run, warm-up included, like the CPU ticks
    n=$(awk -v r="${rps:-0}" -v s=$((SECS + 1)) 'BEGIN { printf "%.0f", r * s }')
    printf '%-6s %-10s %7s req/s  mean %-8s gateway CPU %s us/call\n' "$label" "$path" "$rps" \
      "$(awk '/time for request/ { print $6 }' <<<"$out")" \
      "$(awk -v t=$((t1 - t0)) -v n="$((n > 0 ? n : 1))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }')"
  done
  stop_process gateway "$RUN"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round"
  measure "$OTHER" other
  measure "$THIS" this
done
