#!/usr/bin/env bash
# The local stack on 127.0.0.1: PostgreSQL 15 (throwaway cluster in .stack/),
# redis-server (Dragonfly stand-in), ping-devbroker, ping-gateway,
# ping-processor.
#
#   scripts/stack.sh up      install what is missing, build, start, wait until ready
#   scripts/stack.sh down    stop everything it started (data kept in .stack/)
#   scripts/stack.sh status  what is running
#   scripts/stack.sh clean   down, then delete .stack/
#
# Ports: PING_CONNECT_PORT (8080), PING_GRPC_PORT (9090), PING_PG_PORT
# (54329), PING_REDIS_PORT (63790); the admin ports PING_GATEWAY_ADMIN_PORT
# (9464) and PING_PROCESSOR_ADMIN_PORT (9465). PING_STACK_DIR: the state
# directory (.stack). `up` on a running stack leaves the running parts alone
# and exits 0 once everything is ready.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

STACK=${PING_STACK_DIR:-$PING_ROOT/.stack}
CONNECT_PORT=${PING_CONNECT_PORT:-8080}
GRPC_PORT=${PING_GRPC_PORT:-9090}
PG_PORT=${PING_PG_PORT:-54329}
REDIS_PORT=${PING_REDIS_PORT:-63790}
export PING_GATEWAY_ADMIN_PORT=${PING_GATEWAY_ADMIN_PORT:-9464}
export PING_PROCESSOR_ADMIN_PORT=${PING_PROCESSOR_ADMIN_PORT:-9465}
# The cluster view: each node knows the other's admin endpoint.
export PING_ADMIN_PEERS=${PING_ADMIN_PEERS:-127.0.0.1:$PING_GATEWAY_ADMIN_PORT,127.0.0.1:$PING_PROCESSOR_ADMIN_PORT}
DSN="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping"

up() {
  ensure_packages
  build
  mkdir -p "$STACK"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  pg_start "$STACK/pg" "$PG_PORT"
  log "starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis_start "$STACK/redis" "$REDIS_PORT"
  log "starting ping-devbroker"
  devbroker_start "$STACK"
  log "starting ping-gateway"
  gateway_start "$STACK" "$CONNECT_PORT" "$GRPC_PORT" "$DSN" "$REDIS_PORT"
  log "starting ping-processor"
  processor_start "$STACK" "$REDIS_PORT" "$DSN"
  wait_for "Connect endpoint" curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{}' "http://127.0.0.1:$CONNECT_PORT/ping.v1.PingService/PingCount"
  cat <<INFO

Ping is running (logs in $STACK/*.log):
  Connect    http://127.0.0.1:$CONNECT_PORT   (curl, pingctl)
  gRPC       127.0.0.1:$GRPC_PORT            (grpcurl, buf curl; reflection + health)
  PostgreSQL psql -h 127.0.0.1 -p $PG_PORT -U ping ping
  Redis      redis-cli -p $REDIS_PORT HGETALL ping:counters
  Consoles   http://127.0.0.1:$PING_GATEWAY_ADMIN_PORT/ (gateway), http://127.0.0.1:$PING_PROCESSOR_ADMIN_PORT/ (processor)
             build/apps/pingctl/pingctl admin --node 127.0.0.1:$PING_PROCESSOR_ADMIN_PORT   (terminal)
  Kafka      $(devbroker_bootstrap "$STACK")  (kcat -b ...; dev broker, topic ping-events)
Stop with:   scripts/stack.sh down
INFO
}

down() {
  stop_process processor "$STACK"
  stop_process gateway "$STACK"
  stop_process devbroker "$STACK"
  redis_stop "$STACK/redis"
  pg_stop "$STACK/pg"
  log "stopped"
}

status() {
  local n
  for n in gateway processor devbroker; do
    if pid_alive "$STACK/$n.pid"; then echo "$n: running (pid $(cat "$STACK/$n.pid"))"; else echo "$n: stopped"; fi
  done
  pid_alive "$STACK/redis/redis.pid" && echo "redis: running" || echo "redis: stopped"
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && echo "postgres: running" || echo "postgres: stopped"
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  clean) down; rm -rf "$STACK" ;;
  *) echo "usage: $0 up|down|status|clean" >&2; exit 2 ;;
esac
