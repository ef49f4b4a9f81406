# Helpers shared by the bench scripts (sourced after scripts/lib.sh).

# pg_ticks DATADIR: PostgreSQL's CPU so far, in clock ticks, every process
# of the cluster: the postmaster's own, the sessions it reaped (cutime +
# cstime) and its live children, so a session ending during a measurement
# keeps its ticks.
pg_ticks() {
  local m p t
  m=$(head -1 "$1/postmaster.pid")
  t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$m/stat" 2>/dev/null || echo 0)
  for p in $(pgrep -P "$m"); do
    t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# thread_ticks PID: one line per live thread, "tid comm voluntary_switches
# cpu_ticks" (comm with spaces as underscores), for thread_costs.
thread_ticks() {
  local t
  for t in /proc/$1/task/*; do
    printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" \
      "$(awk '/^voluntary_ctxt/ { print $2 }' "$t/status")" \
      "$(sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
  done 2>/dev/null
}

# thread_costs BEFORE AFTER CALLS: from two thread_ticks snapshots, per
# thread name: how many threads, wake-ups and CPU per call, costliest first.
thread_costs() {
  local tick_us=$((1000000 / $(getconf CLK_TCK)))
  join <(sort "$1") <(sort "$2") | awk -v n="$3" -v tk="$tick_us" '
    { d = $6 - $3; c = $7 - $4; if (d > 0) w[$2] += d; cpu[$2] += c; th[$2]++ }
    END { if (n == 0) n = 1
          for (k in th) if (w[k] / n >= 0.01 || cpu[k] > 0)
            printf "    %-20s %2d threads  wakeups %5.2f/call  CPU %6.1f us/call\n",
              k, th[k], w[k] / n, cpu[k] * tk / n }' | sort -k7 -nr
}

# read_stats ADMIN_PORT: the gateway's shared count reads so far, from its
# /metrics: "reads read_seconds snapshots snapshot_seconds requests heads
# whole sparse any sparse_then_any held missed" (heads to sparse_then_any:
# the statements they ran, persistence_shared_reads_total by form; held and
# missed: statements asked beside their snapshot, by outcome).
read_stats() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk '
    $1 == "ping_counts_read_seconds_count" { v[1] = $2 } $1 == "ping_counts_read_seconds_sum" { v[2] = $2 }
    $1 == "ping_cache_read_seconds_count" { v[3] = $2 } $1 == "ping_cache_read_seconds_sum" { v[4] = $2 }
    $1 == "ping_counts_read_requests_sum" { v[5] = $2 }
    $1 ~ /^ping_persistence_shared_reads_total\{/ {
      i = $1 ~ /"heads"/ ? 6 : $1 ~ /"whole"/ ? 7 : $1 ~ /"sparse_then_any"/ ? 10 : $1 ~ /"sparse"/ ? 8 : 9
      v[i] = $2 }
    $1 ~ /^ping_counts_guessed_statements_total\{/ { v[$1 ~ /"held"/ ? 11 : 12] = $2 }
    END { for (i = 1; i <= 12; i++) printf "%s%s", v[i] + 0, (i < 12 ? " " : "\n") }'
}

# read_stats_delta BEFORE AFTER: one line on the reads between two
# read_stats: how many, their mean wall time, the mean cache snapshot, the
# requests each answered and the statements they ran.
read_stats_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
    n = y[1] - x[1]; c = y[3] - x[3]; if (n <= 0) n = 1; if (c <= 0) c = 1
    printf "%d reads, each %.0f us (cache snapshot %.0f us), %.1f requests per read; statements: heads %d, whole %d, sparse %d, any %d, sparse then any %d; beside the snapshot: %d held, %d missed\n",
      y[1] - x[1], 1e6 * (y[2] - x[2]) / n, 1e6 * (y[4] - x[4]) / c, (y[5] - x[5]) / n,
      y[6] - x[6], y[7] - x[7], y[8] - x[8], y[9] - x[9], y[10] - x[10], y[11] - x[11], y[12] - x[12] }'
}

# nginx_start RUN: nginx with one worker serving RUN/www/ping.json (2 bytes)
# on a free loopback port, access log off; sets NPORT and NGINX_WORKER (the
# worker's pid). Stop it with: kill "$(cat RUN/nginx.pid)".
nginx_start() {
  local run=$1
  NPORT=$(free_port)
  mkdir -p "$run/www"
  echo '{}' >"$run/www/ping.json"
  cat >"$run/nginx.conf" <<NGINX
worker_processes 1;
pid $run/nginx.pid;
error_log $run/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$NPORT; root $run/www; } }
NGINX
  nginx -c "$run/nginx.conf"
  wait_for nginx curl -sf "http://127.0.0.1:$NPORT/ping.json"
  NGINX_WORKER=$(pgrep -P "$(cat "$run/nginx.pid")" | head -1)
}
