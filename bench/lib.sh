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
