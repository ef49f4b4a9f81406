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
