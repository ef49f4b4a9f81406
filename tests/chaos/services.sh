#!/usr/bin/env bash
# The chaos test's services: two ping-gateways and two ping-processors
# sharing one PostgreSQL, one redis-server and one ping-devbroker, all on
# 127.0.0.1, on ports from free_port, under one run directory RUN. Uses the
# functions of scripts/lib.sh; chaos.py calls it to restart what it broke.
#
#   services.sh RUN up              start everything, write RUN/chaos.env
#   services.sh RUN start NAME [RDB]  (re)start one: gateway1 gateway2
#                                   processor1 processor2 redis (RDB: load
#                                   this snapshot; without it redis starts
#                                   empty)
#   services.sh RUN stop NAME       stop one (SIGTERM, bounded wait, SIGKILL)
#   services.sh RUN restart-pg      PostgreSQL immediate restart (crash
#                                   recovery), waits until it accepts again
#   services.sh RUN status          what runs
#   services.sh RUN down            stop everything started under RUN
#
# Layout: RUN/pg (cluster, data in RUN/pg/data), RUN/redis, RUN/broker
# (devbroker.info, devbroker.sock), RUN/gateway1, RUN/gateway2,
# RUN/processor1, RUN/processor2 (each with a symlink devbroker.info ->
# ../broker/devbroker.info, which gateway_start/processor_start read).
# The build is $PING_BUILD_DIR (as in scripts/lib.sh).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/lib.sh"

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" >&2; exit 2; }
[ $# -ge 2 ] || usage
RUN=$1; CMD=$2; shift 2
[ -d "$RUN" ] || die "no run directory $RUN"
RUN=$(cd "$RUN" && pwd)
ENV_FILE=$RUN/chaos.env
GATEWAYS=(gateway1 gateway2)
PROCESSORS=(processor1 processor2)

load_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE missing (run: services.sh $RUN up)"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
}

# alive PID: the process exists and is not a zombie (PID 1 here reaps
# orphans only now and then, and kill -0 succeeds on a zombie).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pidfile_alive PIDFILE: its process runs (zombies do not count).
pidfile_alive() { local pid; pid=$(pid_of "$1") && alive "$pid"; }

# forget_dead PIDFILE: removes PIDFILE when its process is gone or a zombie,
# so lib.sh's start functions (which skip a live pid file) start it again.
forget_dead() { pidfile_alive "$1" || rm -f "$1"; }

# all_offsets: ping:offsets has offset:<p> for every partition (PARTITIONS, 3).
all_offsets() {
  local p v
  for ((p = 0; p < ${PARTITIONS:-3}; p++)); do
    v=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" HGET ping:offsets "offset:$p") || return 1
    [ -n "$v" ] || return 1
  done
}

# log_of NAME: the log file of a binary's run dir.
log_of() { echo "$RUN/$1/${1%[0-9]}.log"; }

# retried FUNCTION NAME: FUNCTION NAME in a subshell (lib.sh's wait_for
# swallows the message of a `die` in ready_or_dead and exits), up to three
# times: a binary can fail to start for reasons outside the test, such as a
# build relinking it at that moment. Each failure is printed with its log.
retried() {
  local attempt
  for attempt in 1 2 3; do
    ( "$@" ) && return 0
    log "$2 did not start (attempt $attempt); last lines of $(log_of "$2"):"
    tail -n 5 "$(log_of "$2")" >&2 2>/dev/null || true
    sleep 1
  done
  die "$2 did not start"
}

var() { local n=$1; printf '%s' "${!n}"; }

# wait_binary NAME: a build running meanwhile may be relinking it; wait
# (bounded) until it is there again.
wait_binary() {
  [ -x "$BUILD_DIR/apps/$1" ] && return 0
  log "waiting for $BUILD_DIR/apps/$1 (being rebuilt?)"
  WAIT_SECONDS=120 wait_for "$BUILD_DIR/apps/$1" test -x "$BUILD_DIR/apps/$1"
}

start_gateway() {
  local name=$1 dir=$RUN/$1 up=${1^^}
  wait_binary ping-gateway
  forget_dead "$dir/gateway.pid"
  PING_GATEWAY_ADMIN_PORT=$(var "${up}_ADMIN") gateway_start "$dir" \
    "$(var "${up}_CONNECT")" "$(var "${up}_GRPC")" "$DSN" "$REDIS_PORT"
  # Ready means: answers a PingCount over Connect.
  wait_for "$name answering PingCount" curl -sf -m 2 -X POST \
    -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$(var "${up}_CONNECT")/ping.v1.PingService/PingCount"
}

start_processor() {
  local name=$1 dir=$RUN/$1 up=${1^^}
  wait_binary ping-processor
  forget_dead "$dir/processor.pid"
  pidfile_alive "$dir/processor.pid" && return 0
  PING_PROCESSOR_ADMIN_PORT=$(var "${up}_ADMIN") processor_start "$dir" "$REDIS_PORT" "$DSN"
}

# start_redis [RDB]: empty unless RDB is given (then exactly that snapshot).
start_redis() {
  local dir=$RUN/redis rdb=${1:-}
  forget_dead "$dir/redis.pid"
  pidfile_alive "$dir/redis.pid" && return 0
  rm -f "$dir/dump.rdb"
  if [ -n "$rdb" ]; then cp "$rdb" "$dir/dump.rdb"; fi
  redis_start "$dir" "$REDIS_PORT"
  # Loaded (or not): nothing on disk for a later restart to pick up.
  rm -f "$dir/dump.rdb"
}

stop_one() {
  case $1 in
    gateway1|gateway2) stop_process gateway "$RUN/$1" ;;
    processor1|processor2) stop_process processor "$RUN/$1" ;;
    redis)
      # A frozen (SIGSTOPped) redis would sit on its SIGTERM.
      local pid; pid=$(pid_of "$RUN/redis/redis.pid") && kill -CONT "$pid" 2>/dev/null || true
      redis_stop "$RUN/redis" ;;
    *) die "unknown service $1" ;;
  esac
}

case $CMD in
  up)
    PG_PORT=$(free_port); REDIS_PORT=$(free_port)
    {
      echo "PG_PORT=$PG_PORT"
      echo "REDIS_PORT=$REDIS_PORT"
      echo "DSN='host=127.0.0.1 port=$PG_PORT dbname=ping user=ping'"
      for n in "${GATEWAYS[@]}"; do
        echo "${n^^}_CONNECT=$(free_port)"; echo "${n^^}_GRPC=$(free_port)"; echo "${n^^}_ADMIN=$(free_port)"
      done
      for n in "${PROCESSORS[@]}"; do echo "${n^^}_ADMIN=$(free_port)"; done
    } >"$ENV_FILE"
    load_env
    log "chaos services under $RUN: PostgreSQL :$PG_PORT, redis :$REDIS_PORT"
    pg_start "$RUN/pg" "$PG_PORT"
    if [ "${CHAOS_HISTORY_ROWS:-200000}" -gt 0 ]; then
      # History in place before anything runs (issue 17): CHAOS_HISTORY_ROWS
      # pings received over CHAOS_HISTORY_DAYS (60) days ending now, stored
      # as insert_pings() stores them and relayed (bench/history_generate.sql),
      # so every fault below happens over it.
      "$BUILD_DIR/apps/ping-gateway" --migrate-only --postgres.dsn="$DSN" >/dev/null
      gen() {
        "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -d ping -qAt -v ON_ERROR_STOP=1 \
          -v rows="${CHAOS_HISTORY_ROWS:-200000}" -v days="${CHAOS_HISTORY_DAYS:-60}" -v day="$1" \
          -f "$PING_ROOT/bench/history_generate.sql" >/dev/null
      }
      gen -1
      for ((d = 0; d < ${CHAOS_HISTORY_DAYS:-60}; d++)); do gen "$d"; done
      gen -2
      log "history: ${CHAOS_HISTORY_ROWS:-200000} pings over ${CHAOS_HISTORY_DAYS:-60} days"
    fi
    redis_start "$RUN/redis" "$REDIS_PORT"
    devbroker_start "$RUN/broker"
    for n in "${GATEWAYS[@]}" "${PROCESSORS[@]}"; do
      mkdir -p "$RUN/$n"
      ln -sfn ../broker/devbroker.info "$RUN/$n/devbroker.info"
    done
    retried start_gateway gateway1   # the first one applies the migrations
    retried start_gateway gateway2
    retried start_processor processor1
    retried start_processor processor2
    # Steady state: the group has assigned every partition and each has a
    # stored offset in the cache.
    wait_for "every partition's offset in ping:offsets" all_offsets
    ;;
  start)
    load_env
    [ $# -ge 1 ] || usage
    case $1 in
      gateway1|gateway2) start_gateway "$1" ;;
      processor1|processor2) start_processor "$1" ;;
      redis) start_redis "${2:-}" ;;
      *) die "unknown service $1" ;;
    esac
    ;;
  stop)
    [ $# -ge 1 ] || usage
    stop_one "$1"
    ;;
  restart-pg)
    load_env
    as_postgres "$PG_BIN/pg_ctl" -D "$RUN/pg/data" -l "$RUN/pg/postgres.log" \
      -m immediate -w -t 60 restart >/dev/null
    wait_for "PostgreSQL on $PG_PORT" "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
    ;;
  status)
    for n in "${GATEWAYS[@]}"; do
      pidfile_alive "$RUN/$n/gateway.pid" && echo "$n: running" || echo "$n: stopped"
    done
    for n in "${PROCESSORS[@]}"; do
      pidfile_alive "$RUN/$n/processor.pid" && echo "$n: running" || echo "$n: stopped"
    done
    pidfile_alive "$RUN/broker/devbroker.pid" && echo "devbroker: running" || echo "devbroker: stopped"
    pidfile_alive "$RUN/redis/redis.pid" && echo "redis: running" || echo "redis: stopped"
    as_postgres "$PG_BIN/pg_ctl" -D "$RUN/pg/data" status >/dev/null 2>&1 \
      && echo "postgres: running" || echo "postgres: stopped"
    ;;
  down)
    set +e
    # Each binary may take its drain time: stop the four side by side.
    for n in "${PROCESSORS[@]}" "${GATEWAYS[@]}"; do stop_one "$n" & done
    wait
    stop_process devbroker "$RUN/broker"
    stop_one redis
    pg_stop "$RUN/pg"
    ;;
  *) usage ;;
esac
