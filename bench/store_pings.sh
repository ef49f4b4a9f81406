#!/usr/bin/env bash
# PostgreSQL's CPU per store_pings() call by batch size (issue 18, docs/cost.md
# "store_pings() per commit and per ping"): prints figures, asserts nothing.
#
# One throwaway cluster (fsync and synchronous_commit on unless
# BENCH_SYNC=off; autovacuum off, so that no worker's CPU falls into a
# measurement) with two databases: `before`, migrated with the migrations of
# git ref $BENCH_BEFORE (main), and `after`, with this tree's. One pgbench
# client (-M prepared) calls store_pings() with a batch of n pings built in
# the statement (one id, every ping at the call's clock millisecond, as a
# burst of Connect Pings whose "now" the gateway resolved: each leaf's
# indexes grow at their right end; one Kafka partition per call, picked at
# random; no trace ids), as the writers' one-partition batches are;
# "harness" is a PL/pgSQL function of the same signature that does nothing
# (the cost of building the arrays and of the call). CPU per call: every
# process of the cluster (bench/lib.sh pg_ticks) over $calls calls, after the
# session's backend was reaped. Rounds alternate harness, before and after
# for every batch size; the table gives each figure's median, and the
# least-squares line of (call - harness) over the batch sizes: fixed cost per
# commit and marginal cost per ping.
#
#   bench/store_pings.sh            BENCH_BATCHES="1 15 50 500" BENCH_ROUNDS=3
#   BENCH_BEFORE=<ref> bench/store_pings.sh
#   BENCH_SYNC=off bench/store_pings.sh     the statements' CPU without the flush
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"

BATCHES=${BENCH_BATCHES:-1 15 50 500}
ROUNDS=${BENCH_ROUNDS:-3}
BEFORE=${BENCH_BEFORE:-main}
SYNC=${BENCH_SYNC:-on}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

RUN=$(mktemp -d /tmp/ping-store-pings.XXXXXX)
chmod 755 "$RUN"
PG_PORT=$(free_port)
trap 'set +e; pg_stop "$RUN/pg"; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$RUN"' EXIT
pg_start "$RUN/pg" "$PG_PORT"
SU=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1)
"${SU[@]}" -c "ALTER SYSTEM SET autovacuum = off" -c "ALTER SYSTEM SET synchronous_commit = $SYNC" \
  -c "SELECT pg_reload_conf()" >/dev/null
echo "== PostgreSQL: fsync $("${SU[@]}" -c 'SHOW fsync'), synchronous_commit $SYNC," \
  "shared_buffers $("${SU[@]}" -c 'SHOW shared_buffers'), autovacuum off"

migrate_db() { # DB REF (REF empty: this tree)
  local db=$1 ref=$2 f
  "${SU[@]}" -c "CREATE DATABASE $db OWNER ping" >/dev/null
  local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U ping -qAt -v ON_ERROR_STOP=1 "$db")
  if [ -z "$ref" ]; then
    for f in "$PING_ROOT"/actors/persistence/migrations/*.sql; do "${psql[@]}" -1 -f "$f" >/dev/null; done
  else
    for f in $(git -C "$PING_ROOT" ls-tree --name-only "$ref" actors/persistence/migrations/ | grep '\.sql$'); do
      git -C "$PING_ROOT" show "$ref:$f" | "${psql[@]}" -1 >/dev/null
    done
  fi
  "${psql[@]}" -c "SELECT add_kafka_partitions(3)" >/dev/null
  "${psql[@]}" >/dev/null <<'SQL'
CREATE FUNCTION harness(ids uuid[], pinged_ms bigint[], received_ms bigint[], parts smallint[],
                        traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$ BEGIN RETURN ARRAY[cardinality(ids)::int8]; END $$;
SQL
  echo "   $db: migrations $(${psql[@]} -c 'SELECT string_agg(version::text, \x27 \x27 ORDER BY version) FROM schema_migrations' 2>/dev/null || echo "of ${ref:-this tree}")"
}
echo "== databases"
migrate_db before "$BEFORE"
migrate_db after ""

for n in $BATCHES; do
  for fn in harness store_pings; do
    cat >"$RUN/$fn.$n.sql" <<SQL
\\set p random(0, 2)
SELECT $fn(array_fill('0190a8d4-5e3c-7b2a-9f00-0000000000a1'::uuid, ARRAY[$n]),
           array_fill(c.m, ARRAY[$n]), array_fill(c.m, ARRAY[$n]),
           array_fill(:p::int2, ARRAY[$n]), '{}'::uuid[])
FROM (SELECT (date_part('epoch', clock_timestamp()) * 1000)::int8 AS m) c;
SQL
  done
done

calls_for() { # N: about 1.5 s of the old function's CPU
  case $1 in 1) echo 4000 ;; 15) echo 2500 ;; 50) echo 1200 ;; *) echo $((150000 / $1 + 20)) ;; esac
}

declare -A FIG
measure() { # DB FN N: us per call
  local db=$1 fn=$2 n=$3 calls p0 p1 m i sessions
  calls=$(calls_for "$n")
  m=$(head -1 "$RUN/pg/data/postmaster.pid")
  sessions=$(pgrep -P "$m" -f 'postgres: ping' | wc -l)
  p0=$(pg_ticks "$RUN/pg/data")
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U ping -n -M prepared -c 1 -t "$calls" \
    -f "$RUN/$fn.$n.sql" "$db" >"$RUN/pgbench.out" 2>&1 || { cat "$RUN/pgbench.out" >&2; exit 1; }
  for i in $(seq 1 50); do
    [ "$(pgrep -P "$m" -f 'postgres: ping' | wc -l)" -le "$sessions" ] && break
    sleep 0.1
  done
  p1=$(pg_ticks "$RUN/pg/data")
  awk -v d=$((p1 - p0)) -v t="$TICK_US" -v c="$calls" 'BEGIN { printf "%.1f", d * t / c }'
}

echo "== rounds (us of PostgreSQL CPU per call; harness | before | after)"
for r in $(seq 1 "$ROUNDS"); do
  for n in $BATCHES; do
    FIG[h.$n.$r]=$(measure after harness "$n")
    FIG[b.$n.$r]=$(measure before store_pings "$n")
    FIG[a.$n.$r]=$(measure after store_pings "$n")
    echo "   round $r, batch $n: ${FIG[h.$n.$r]} | ${FIG[b.$n.$r]} | ${FIG[a.$n.$r]}"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "== medians over $ROUNDS rounds"
printf '| batch | harness | before | after | before - harness (per ping) | after - harness (per ping) |\n'
printf '|---|---|---|---|---|---|\n'
: >"$RUN/fit"
for n in $BATCHES; do
  h=$(for r in $(seq 1 "$ROUNDS"); do echo -n "${FIG[h.$n.$r]} "; done | median)
  b=$(for r in $(seq 1 "$ROUNDS"); do echo -n "${FIG[b.$n.$r]} "; done | median)
  a=$(for r in $(seq 1 "$ROUNDS"); do echo -n "${FIG[a.$n.$r]} "; done | median)
  echo "$n $h $b $a" >>"$RUN/fit"
  awk -v n="$n" -v h="$h" -v b="$b" -v a="$a" 'BEGIN {
    printf "| %d | %.1f us | %.1f us | %.1f us | %.1f us (%.2f) | %.1f us (%.2f) |\n",
      n, h, b, a, b - h, (b - h) / n, a - h, (a - h) / n }'
done
# Least squares of (call - harness) = fixed + n * per_ping.
awk '{ n[NR] = $1; b[NR] = $3 - $2; a[NR] = $4 - $2 }
  function fit(y, label,   i, sx, sy, sxx, sxy, k, m, f) {
    for (i = 1; i <= NR; i++) { sx += n[i]; sy += y[i]; sxx += n[i] * n[i]; sxy += n[i] * y[i] }
    m = (NR * sxy - sx * sy) / (NR * sxx - sx * sx); f = (sy - m * sx) / NR
    printf "   %s: fixed %.0f us per commit + %.2f us per ping; per ping at 15: %.1f us, at 50: %.1f us\n",
      label, f, m, f / 15 + m, f / 50 + m
  }
  END { if (NR >= 2) { fit(b, "before"); fit(a, "after") } }' "$RUN/fit"

