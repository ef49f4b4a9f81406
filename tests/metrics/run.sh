#!/usr/bin/env bash
# The metrics as an operator's tools see them, against running binaries:
#
#   tests/metrics/run.sh ADMIN_ADDRESS...      (host:port of each /metrics)
#
#  1. `promtool check metrics` on each live /metrics reports nothing
#     (naming, HELP texts, counter suffixes, units).
#  2. Every metric name the Grafana dashboard and the PrometheusRule of
#     deploy/components/monitoring use is exported by at least one of the
#     binaries (names from the queries, histogram suffixes included).
#
# Needs promtool (Debian package `prometheus`), curl and python3.
# Prints PASS/FAIL per check and "N passed, N failed".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MONITORING=$ROOT/deploy/components/monitoring

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

WORK=$(mktemp -d /tmp/ping-metrics-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if ! command -v promtool >/dev/null 2>&1; then
  fail "promtool not installed (apt-get install prometheus)"
  echo "$passed passed, $failed failed"
  exit 1
fi

# Ready first (a processor exports its per-partition gauges once its
# partitions are assigned), each within a deadline.
for node in "$@"; do
  deadline=$((SECONDS + 60))
  until curl -sf -m 2 -o /dev/null "http://$node/readyz"; do
    if ((SECONDS >= deadline)); then fail "$node not ready within 60 s"; break; fi
    sleep 0.2
  done
done

# The names the dashboard and the rules use.
used=$WORK/used
if ! python3 "$HERE/used_names.py" "$MONITORING" 2>"$WORK/used.err" | sort -u >"$used" \
   || [ ! -s "$used" ]; then
  fail "reading the metric names of the dashboard and rules: $(cat "$WORK/used.err")"
fi

# Scrapes every node; the names exported are the sample names as written
# (histograms as _bucket, _sum, _count) plus each family's own name. Some
# families have series only once their data exists (a processor's
# per-partition lag follows its first lag poll after the assignment), so
# scrape again until every used name is there, within a deadline.
scrape() {
  all=$WORK/all.txt
  : >"$all"
  for node in "$@"; do
    out=$WORK/metrics-${node//[:.]/_}.txt
    curl -sf --max-time 10 "http://$node/metrics" -o "$out" || : >"$out"
    cat "$out" >>"$all"
  done
  { sed -n 's/^\([a-zA-Z_:][a-zA-Z0-9_:]*\).*/\1/p' "$all" | grep -v '^#'
    sed -n 's/^# TYPE \([a-zA-Z_:][a-zA-Z0-9_:]*\) .*/\1/p' "$all"; } | sort -u >"$WORK/exported"
  missing=$(comm -23 "$used" "$WORK/exported")
}
deadline=$((SECONDS + 30))
scrape "$@"
while [ -n "$missing" ] && ((SECONDS < deadline)); do
  sleep 0.5
  scrape "$@"
done

for node in "$@"; do
  out=$WORK/metrics-${node//[:.]/_}.txt
  if [ ! -s "$out" ]; then
    fail "GET http://$node/metrics"
  elif promtool check metrics <"$out" >"$WORK/lint.out" 2>&1 && [ ! -s "$WORK/lint.out" ]; then
    pass "promtool check metrics $node: nothing to report ($(grep -c '^# TYPE' "$out") metrics)"
  else
    fail "promtool check metrics $node:"; cat "$WORK/lint.out"
  fi
done
if [ -s "$used" ] && [ -z "$missing" ]; then
  pass "dashboard and alert rules use $(wc -l <"$used") metric names, all exported"
elif [ -s "$used" ]; then
  fail "dashboard or rules use names no binary exports: $(echo "$missing" | tr '\n' ' ')"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
