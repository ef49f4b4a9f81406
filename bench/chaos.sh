#!/usr/bin/env bash
# Chaos test, long form (issue 9, "Counts that are never wrong"): K runs in a
# row, each on fresh throwaway services (tests/chaos/run.sh) with its own seed
# (SEED+i), longer load and every fault kind repeated while it fits. Prints
# each run's figures and a summary line; exits non-zero if any run failed.
#
#   bench/chaos.sh [--seed N] [--duration S] [--runs K] [--rate R] [--faults LIST]
#
# Defaults: a random seed (printed), 180 s of load, 3 runs, 400 pings/s, all
# faults. The build is $PING_BUILD_DIR, else build/ of the repository.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

SEED= DURATION=180 RUNS=3 RATE=400 FAULTS=all
while [ $# -gt 0 ]; do
  case $1 in
    --seed) SEED=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --faults) FAULTS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $SEED =~ ^[0-9]*$ && $DURATION =~ ^[0-9]+$ && $RUNS =~ ^[0-9]+$ ]] \
  || { echo "--seed, --duration and --runs take whole numbers" >&2; exit 2; }
[ -n "$SEED" ] || SEED=$(( (RANDOM << 15 | RANDOM) + 1 ))
BUILD=${PING_BUILD_DIR:-$ROOT/build}
echo "chaos bench: seed=$SEED duration=${DURATION}s runs=$RUNS rate=$RATE/s faults=$FAULTS"

FIG_DIR=$(mktemp -d /tmp/ping-chaos-bench.XXXXXX)
trap 'rm -rf "$FIG_DIR"' EXIT

passed=0 failed=0 failed_seeds=()
for ((i = 0; i < RUNS; i++)); do
  seed=$((SEED + i))
  echo
  echo "== run $((i + 1))/$RUNS seed=$seed"
  status=0
  CHAOS_SEED=$seed CHAOS_DURATION=$DURATION CHAOS_RATE=$RATE CHAOS_FAULTS=$FAULTS \
    CHAOS_SETTLE_TIMEOUT=${CHAOS_SETTLE_TIMEOUT:-90} \
    CHAOS_FIGURES_FILE=$FIG_DIR/run$i.fig \
    CHAOS_ARGS="--fault-gap ${CHAOS_FAULT_GAP:-4} ${CHAOS_ARGS:-}" \
    "$ROOT/tests/chaos/run.sh" "$BUILD" || status=$?
  if [ "$status" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_seeds+=("$seed"); fi
  echo "== run $((i + 1))/$RUNS seed=$seed exit=$status"
done

# Summary: the figures summed over the runs (seed and duration aside).
summary=$(cat "$FIG_DIR"/run*.fig 2>/dev/null | awk -F= '
  $1 != "seed" && $1 != "duration_s" && $1 != "settle_s" {
    if (!($1 in sum)) order[++n] = $1
    v = $2; if ($1 == "cache_total_diff" && v < 0) v = -v  # sum of |diff|
    sum[$1] += v
  }
  END { for (i = 1; i <= n; i++) printf " %s=%s", order[i], sum[order[i]] }')
echo
echo "summary: runs=$RUNS passed=$passed failed=$failed seeds=$SEED..$((SEED + RUNS - 1))${failed_seeds:+ failed_seeds=${failed_seeds[*]}}$summary"
[ "$failed" = 0 ]
