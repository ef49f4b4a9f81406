# Shared shell functions of stack.sh and test.sh (sourced, not run).
# Services run on 127.0.0.1 only. PostgreSQL refuses to run as root, so as
# root it runs as the `postgres` user.

PING_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin
BUILD_DIR=${PING_BUILD_DIR:-$PING_ROOT/build}

log() { printf '[ping] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian packages the build, the stack and the tests need.
PACKAGES=(
  clang-tidy
  build-essential meson ninja-build pkg-config python3
  libcaf-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto librdkafka-dev libpqxx-dev libhiredis-dev libboost-dev
  libboost-test-dev prometheus-cpp-dev zlib1g-dev libssl-dev libedit-dev
  postgresql-15 postgresql-contrib redis-server kcat curl nghttp2-client wrk
  tmux chromium prometheus clang-format
)

# Installs missing Debian packages (as root), and Node.js/npm if absent.
ensure_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root, or install them)"
    log "installing: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# Configures (once) and builds the release build, tests included.
build() {
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" "$PING_ROOT" --buildtype=release \
      -Dconnectrpc:tests=true -Dkafka-devbroker:tests=enabled >/dev/null
  fi
  ninja -C "$BUILD_DIR" -j "$(nproc)"
}

# A TCP port on 127.0.0.1 that nobody listens on right now, and that no
# other free_port call handed out in the last 10 minutes (a port is only
# bound later, by the service it is for: two calls must not return the same
# one). Chosen below the kernel's ephemeral range, so services that bind
# port 0 and outgoing connections never take it meanwhile.
free_port() {
  python3 - <<'PY'
import fcntl, random, socket, time
low, high = 20000, 32000
try:
    eph_low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    high = min(high, eph_low - 1)
except (OSError, ValueError, IndexError):
    pass
now = time.time()
with open("/tmp/ping-free-ports", "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    recent = {}
    for line in f:
        try:
            port, when = line.split()
            if now - float(when) < 600:
                recent[int(port)] = float(when)
        except ValueError:
            pass
    for _ in range(5000):
        port = random.randint(low, high)
        if port in recent:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        break
    else:
        raise SystemExit("no free port found")
    recent[port] = now
    f.seek(0)
    f.truncate()
    f.writelines(f"{p} {w}\n" for p, w in recent.items())
print(port)
PY
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Waits until "$@" succeeds, up to $WAIT_SECONDS (default 30).
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + ${WAIT_SECONDS:-30}))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for $what"
    sleep 0.1
  done
}

# ready_or_dead PIDFILE FILE: true once FILE has content; dies if the process exited.
ready_or_dead() {
  [ -s "$2" ] && return 0
  pid_alive "$1" || die "process of $1 exited; see ${1%.pid}.log"
  return 1
}

# pid_of PIDFILE: prints the pid in PIDFILE; false, silently, when the file
# is absent, unreadable or vanishes meanwhile (redis-server deletes its own
# pid file as it exits), or holds no pid.
pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

# proc_alive PID: the process exists and is no zombie (a daemonized
# redis-server that exited stays a zombie until init reaps it, and kill -0
# still reaches zombies).
proc_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  if ! read -r stat 2>/dev/null </proc/"$1"/stat; then
    [ -d /proc/self ] && return 1  # gone meanwhile
    return 0                       # no /proc: trust kill -0
  fi
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pid_alive() { local pid; pid=$(pid_of "$1") && proc_alive "$pid"; }

# pg_start DIR PORT: a throwaway cluster in DIR/data, role and database `ping`.
pg_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  fi
  local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt)
  wait_for "PostgreSQL on $port" "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$port"
  [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='ping'")" = 1 ] \
    || "${psql[@]}" -c "CREATE ROLE ping LOGIN CREATEDB" >/dev/null
  [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='ping'")" = 1 ] \
    || "${psql[@]}" -c "CREATE DATABASE ping OWNER ping" >/dev/null
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/PG_VERSION" ] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

# redis_start DIR PORT: redis-server standing in for Dragonfly, no persistence.
redis_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  pid_alive "$dir/redis.pid" && return 0
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  wait_for "redis on $port" redis-cli -h 127.0.0.1 -p "$port" ping
}

redis_stop() { stop_pidfile "$1/redis.pid"; }

# stop_pidfile PIDFILE: TERMs the process of PIDFILE, waits (bounded) for it
# to exit, then KILLs it; removes PIDFILE. Reads the pid once (the process
# may delete its pid file while exiting); quiet and true when the process
# already stopped or was never started.
stop_pidfile() {
  local pidfile=$1 pid i
  if ! pid=$(pid_of "$pidfile") || ! proc_alive "$pid"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    proc_alive "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# spawn NAME DIR CMD...: runs CMD in the background, logs to DIR/NAME.log.
spawn() {
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  pid_alive "$dir/$name.pid" && return 0
  nohup "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

stop_process() { stop_pidfile "$2/$1.pid"; }

# devbroker_start DIR: the dev Kafka broker; its info file is DIR/devbroker.info.
# It restarts its cluster on the same ports when librdkafka's mock aborts
# (--restart-on-crash): gateways and processors reconnect by themselves.
devbroker_start() {
  local dir=$1
  pid_alive "$dir/devbroker.pid" && return 0
  rm -f "$dir/devbroker.info"
  spawn devbroker "$dir" "$BUILD_DIR/apps/ping-devbroker" --restart-on-crash \
    --info-file "$dir/devbroker.info" --control-socket "$dir/devbroker.sock"
  wait_for "ping-devbroker" test -s "$dir/devbroker.info"
}

devbroker_bootstrap() { sed -n 's/^bootstrap=//p' "$1/devbroker.info"; }

# gateway_start DIR CONNECT_PORT GRPC_PORT DSN [REDIS_PORT]
gateway_start() {
  local dir=$1 cport=$2 gport=$3 dsn=$4 rport=${5:-6379}
  pid_alive "$dir/gateway.pid" && [ -s "$dir/gateway.ports" ] && return 0
  rm -f "$dir/gateway.ports"
  spawn gateway "$dir" "$BUILD_DIR/apps/ping-gateway" \
    --connect.port="$cport" --grpc.port="$gport" --postgres.dsn="$dsn" \
    --cache.address="127.0.0.1:$rport" --admin.port="${PING_GATEWAY_ADMIN_PORT:-0}" \
    --kafka.bootstrap-file="$dir/devbroker.info" --ports-file="$dir/gateway.ports"
  wait_for "ping-gateway (see $dir/gateway.log)" ready_or_dead "$dir/gateway.pid" "$dir/gateway.ports"
}

# processor_start DIR REDIS_PORT DSN: a running processor is left alone (its
# ports file stays).
processor_start() {
  local dir=$1 redis_port=$2 dsn=$3
  pid_alive "$dir/processor.pid" && [ -s "$dir/processor.ports" ] && return 0
  rm -f "$dir/processor.ports"
  spawn processor "$dir" "$BUILD_DIR/apps/ping-processor" \
    --kafka.bootstrap-file="$dir/devbroker.info" --cache.address="127.0.0.1:$redis_port" \
    --postgres.dsn="$dsn" --admin.port="${PING_PROCESSOR_ADMIN_PORT:-0}" \
    --ports-file="$dir/processor.ports"
  wait_for "ping-processor (see $dir/processor.log)" ready_or_dead "$dir/processor.pid" "$dir/processor.ports"
}

# throwaway_stack_start: a run directory RUN (exported, mode 755) with
# PostgreSQL, redis-server and the dev broker on free ports; sets PG_PORT,
# REDIS_PORT and DSN. Pair with `trap throwaway_stack_stop EXIT`.
throwaway_stack_start() {
  RUN=$(mktemp -d /tmp/ping-bench.XXXXXX)
  chmod 755 "$RUN"
  PG_PORT=$(free_port)
  REDIS_PORT=$(free_port)
  DSN="host=127.0.0.1 port=$PG_PORT dbname=ping user=ping"
  pg_start "$RUN/pg" "$PG_PORT"
  redis_start "$RUN/redis" "$REDIS_PORT"
  devbroker_start "$RUN"
}

# throwaway_stack_stop: stops whatever ran under RUN and removes it.
throwaway_stack_stop() {
  set +e
  [ -n "${RUN:-}" ] && [ -d "$RUN" ] || return 0
  stop_process processor "$RUN"
  stop_process gateway "$RUN"
  stop_process devbroker "$RUN"
  redis_stop "$RUN/redis"
  pg_stop "$RUN/pg"
  rm -rf "$RUN"
}
