#!/usr/bin/env bash
# Offline tests of the Kubernetes deployment and the container image recipe:
#
#   tests/deploy/run.sh [BUILD_DIR]        (BUILD_DIR defaults to ./build)
#
#  1. `kubectl kustomize` renders deploy/base and every overlay.
#  2. Every rendered object validates against the JSON schemas in
#     ../shared/k8s-schemas (core kinds strict; CRD schemas closed against
#     unknown fields by validate.py) [schemas], plus our production rules
#     (probes, resources, securityContext, grace period vs drain time, no
#     inlined secrets), pinned images (Dragonfly: the version of the operator
#     release deploy/README.md installs) and the production hardening rules:
#     namespaces, operator-generated NetworkPolicy names, synchronous
#     PostgreSQL replication, PDB eviction policy, topology spreads honouring
#     taints, Kafka nodes on distinct hosts, Prometheus with the read-only
#     admin token.
#  3. Negative samples: rendered objects with one misspelled field (a
#     Deployment, every custom resource kind, CR metadata) must be rejected,
#     for that field [schemas]; objects breaking one production rule must be
#     rejected by the rules.
#  4. Monitoring: the Grafana dashboard ConfigMap (sidecar label, valid
#     JSON), `promtool check rules` on the PrometheusRule's groups and
#     `promtool test rules` with tests/deploy/rules_test.yaml (every alert).
#  5. Runtime libraries: `ldd` of the built binaries, mapped to Debian
#     packages with `dpkg -S`, must all be in deploy/image/runtime-packages.txt
#     (what the Dockerfile's runtime stage installs) or in its `base:` set.
#     Every package the image installs is pinned to a Debian 12 version
#     (PACKAGE=VERSION, written by scripts/pin-packages.sh).
#
# Needs: kubectl (kustomize is built in), promtool, python3 with PyYAML and, for the
# schema steps, jsonschema (installed from Debian's python3-jsonschema and
# python3-yaml as root when missing), ldd and dpkg. No cluster, no network
# (except apt when a package is missing).
#
# The schemas are looked up in $PING_K8S_SCHEMAS, else next to the repository
# (../shared/k8s-schemas); deploy/README.md says how to make them for your
# cluster. Without them the steps marked [schemas] are skipped (one SKIP line
# each) and everything else still runs; with PING_REQUIRE_K8S_SCHEMAS=1 (CI)
# missing schemas are a failure instead. Prints PASS/FAIL/SKIP per check and
# "N passed, N failed" (", N skipped" when some were skipped).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${1:-$ROOT/build}
DEPLOY=$ROOT/deploy
RUNTIME_LIST=${PING_RUNTIME_PACKAGES:-$DEPLOY/image/runtime-packages.txt}
BUILD_LIST=$DEPLOY/image/build-packages.txt

passed=0 failed=0 skipped=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "SKIP: $*"; skipped=$((skipped + 1)); }
finish() {
  if [ "$skipped" = 0 ]; then
    echo "$passed passed, $failed failed"
  else
    echo "$passed passed, $failed failed, $skipped skipped"
  fi
  [ "$failed" = 0 ]
  exit $?
}

WORK=$(mktemp -d /tmp/ping-deploy-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# -- prerequisites -----------------------------------------------------------

# SCHEMAS stays empty when there are none: the [schemas] steps then print
# SKIP (or, with PING_REQUIRE_K8S_SCHEMAS=1, the lookup fails). A directory
# named explicitly, or found without the expected layout, is always a FAIL.
SCHEMAS_HINT="set PING_K8S_SCHEMAS=DIR or put shared/k8s-schemas beside the repository; see deploy/README.md"
REQUIRE_SCHEMAS=${PING_REQUIRE_K8S_SCHEMAS:-0}
SCHEMAS=${PING_K8S_SCHEMAS:-}
if [ -z "$SCHEMAS" ]; then
  for candidate in "$ROOT/../shared/k8s-schemas" \
                   "$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null)/../shared/k8s-schemas"; do
    if [ -d "$candidate/kubernetes" ]; then SCHEMAS=$(cd "$candidate" && pwd); break; fi
  done
fi
if [ -z "$SCHEMAS" ]; then
  if [ "$REQUIRE_SCHEMAS" = 1 ]; then
    fail "schemas not found and PING_REQUIRE_K8S_SCHEMAS=1 ($SCHEMAS_HINT)"
  fi
elif [ -d "$SCHEMAS/kubernetes/v1.36-standalone-strict" ] && [ -d "$SCHEMAS/crds/json" ]; then
  pass "schemas found: $SCHEMAS"
else
  fail "schemas in $SCHEMAS lack kubernetes/v1.36-standalone-strict/ or crds/json/ (layout: deploy/README.md)"
  SCHEMAS=
fi
# skip_schema WHAT: one SKIP line for a step that needs the schemas.
skip_schema() { skip "$1: no Kubernetes schemas ($SCHEMAS_HINT)"; }

# Machines of this kind ship kubectl; should one not, try the package.
if ! command -v kubectl >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubectl >/dev/null 2>&1 || true
fi
if command -v kubectl >/dev/null 2>&1; then
  pass "kubectl: $(kubectl version --client 2>/dev/null | head -n1)"
else
  fail "kubectl not installed (it renders the overlays with 'kubectl kustomize')"
  finish
fi

# A Python with PyYAML (and jsonschema when there are schemas to validate
# against): the default python3, else Debian's.
VALIDATOR_MODULES=yaml VALIDATOR_NEEDS=PyYAML
if [ -n "$SCHEMAS" ]; then VALIDATOR_MODULES="jsonschema, yaml" VALIDATOR_NEEDS="jsonschema and PyYAML"; fi
has_validator_deps() { "$1" -c "import $VALIDATOR_MODULES" >/dev/null 2>&1; }
PY=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && has_validator_deps "$p"; then PY=$p; break; fi
done
if [ -z "$PY" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing python3-jsonschema python3-yaml (Debian) ..."
  apt-get update -q >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    python3-jsonschema python3-yaml >/dev/null 2>&1
  has_validator_deps /usr/bin/python3 && PY=/usr/bin/python3
fi
if [ -z "$PY" ]; then
  fail "no python3 with $VALIDATOR_NEEDS (apt-get install python3-jsonschema python3-yaml)"
  finish
elif [ -n "$SCHEMAS" ]; then
  pass "validator: $PY with jsonschema $("$PY" -c 'import importlib.metadata as m; print(m.version("jsonschema"))')"
else
  pass "validator: $PY with PyYAML (jsonschema not needed without schemas)"
fi
validate() { "$PY" "$HERE/validate.py" "$@"; }

# -- 1. render ----------------------------------------------------------------

TARGETS=(base overlays/dev overlays/prod)
RENDERED=()
for t in "${TARGETS[@]}"; do
  out="$WORK/$(echo "$t" | tr / -).yaml"
  if kubectl kustomize "$DEPLOY/$t" >"$out" 2>"$WORK/kustomize.err"; then
    pass "kustomize $t ($(grep -c '^kind:' "$out") objects)"
    RENDERED+=("$out")
  else
    fail "kustomize $t: $(head -c 500 "$WORK/kustomize.err")"
  fi
done
PROD=$WORK/overlays-prod.yaml

# -- 2. schemas, rules, images ------------------------------------------------

for out in "${RENDERED[@]}"; do
  name=$(basename "$out" .yaml)
  if [ -z "$SCHEMAS" ]; then
    skip_schema "schema $name"
  elif validate schema --schemas "$SCHEMAS" "$out" >"$WORK/v.out" 2>&1; then
    pass "schema $name: $(tail -n1 "$WORK/v.out" | sed 's/^ *//')"
  else
    fail "schema $name"; cat "$WORK/v.out"
  fi
  if validate policy "$out" >"$WORK/v.out" 2>&1; then
    pass "rules $name (probes, resources, securityContext, grace period, secrets)"
  else
    fail "rules $name"; cat "$WORK/v.out"
  fi
done

# The Dragonfly operator release we install (deploy/README.md, step 1): the
# Dragonfly image must be the version that release supports.
DF_OPERATOR=$(grep -o 'dragonfly-operator/v[0-9][0-9.]*/manifests' "$DEPLOY/README.md" 2>/dev/null \
  | head -n1 | cut -d/ -f2)
if [ -n "$DF_OPERATOR" ]; then
  pass "Dragonfly operator release in deploy/README.md: $DF_OPERATOR"
else
  fail "no Dragonfly operator release (dragonfly-operator/vX.Y.Z/manifests) in deploy/README.md"
fi
for out in "${RENDERED[@]}"; do
  case $out in *overlays-*) ;; *) continue ;; esac
  name=$(basename "$out" .yaml)
  if validate images ${DF_OPERATOR:+--dragonfly-operator "$DF_OPERATOR"} "$out" >"$WORK/v.out" 2>&1; then
    pass "images pinned in $name (tag or digest, never :latest; Dragonfly by tag, the version of operator ${DF_OPERATOR:-?})"
  else
    fail "images pinned in $name"; cat "$WORK/v.out"
  fi
done

# Production hardening, for every rendering: MODE of validate.py and what it
# guarantees.
HARDENING=(
  "namespaces|every namespaced object carries the namespace"
  "operator-names|no NetworkPolicy named like one an operator generates; one owner per Dragonfly policy"
  "durability|replicated PostgreSQL commits synchronously (quorum, dataDurability required, failover quorum)"
  "pdbs|every PodDisruptionBudget has unhealthyPodEvictionPolicy AlwaysAllow"
  "spread-taints|every DoNotSchedule topology spread has nodeTaintsPolicy Honor"
  "kafka-spread|no two Kafka nodes (KRaft voters) on one host"
  "scrape-token|read-only admin token mounted apart from the command token; Prometheus scrapes with it"
)
for out in "${RENDERED[@]}"; do
  name=$(basename "$out" .yaml)
  for entry in "${HARDENING[@]}"; do
    mode=${entry%%|*} what=${entry#*|}
    if validate "$mode" "$out" >"$WORK/v.out" 2>&1; then
      pass "$mode $name: $what"
    else
      fail "$mode $name: $what"; cat "$WORK/v.out"
    fi
  done
done

# The kinds the negative tests below cover must actually be rendered.
if [ -f "$PROD" ]; then
  for kind in Deployment Cluster Kafka KafkaNodePool KafkaTopic Dragonfly ServiceMonitor \
              PrometheusRule; do
    grep -q "^kind: $kind\$" "$PROD" || fail "overlays/prod renders no $kind"
  done
fi

# -- 3. negative samples ---------------------------------------------------------

# expect_reject DESCRIPTION KIND PATH NEW_KEY [MODE [PATTERN]]: a copy of the
# first KIND of the prod rendering, key at PATH renamed to NEW_KEY (or NEW_KEY
# added when PATH's last key is absent), must fail validation MODE (default
# schema) and the output must contain PATTERN (default NEW_KEY): rejected for
# the intended reason. Schema samples are skipped when there are no schemas.
expect_reject() {
  local what=$1 kind=$2 path=$3 key=$4 mode=${5:-schema} sample="$WORK/negative.yaml"
  local pattern=${6:-$4}
  if [ "$mode" = schema ] && [ -z "$SCHEMAS" ]; then
    skip_schema "negative $what"
    return
  fi
  if ! validate mutate "$kind" "$path" "$key" "$PROD" "$sample" >"$WORK/m.out" 2>&1; then
    fail "negative $what: could not build the sample: $(cat "$WORK/m.out")"
    return
  fi
  local args=("$sample")
  [ "$mode" = schema ] && args=(--schemas "$SCHEMAS" "$sample")
  if validate "$mode" "${args[@]}" >"$WORK/v.out" 2>&1; then
    fail "negative $what: accepted"
  elif grep -q -- "$pattern" "$WORK/v.out"; then
    pass "negative $what: rejected ($(grep -m1 -- "$pattern" "$WORK/v.out" | sed 's/^ *//' | head -c 160))"
  else
    fail "negative $what: rejected, but not for '$pattern'"; cat "$WORK/v.out"
  fi
}

if [ -f "$PROD" ]; then
  expect_reject "Deployment container imagePullPolcy" \
    Deployment spec.template.spec.containers.0.imagePullPolicy imagePullPolcy
  expect_reject "Deployment metadata.lables" Deployment metadata.labels lables
  expect_reject "Cluster (CNPG) spec.bootstrap.initdb.ownr" \
    Cluster spec.bootstrap.initdb.owner ownr
  expect_reject "Kafka (Strimzi) listener networkPolicyPeer" \
    Kafka spec.kafka.listeners.0.networkPolicyPeers networkPolicyPeer
  expect_reject "Kafka (Strimzi) v1beta2-only spec.zookeeper" Kafka spec.zookeeper zookeeper
  expect_reject "Kafka (Strimzi) metadata.lables" Kafka metadata.labels lables
  expect_reject "KafkaNodePool volume deleteClaims" \
    KafkaNodePool spec.storage.volumes.0.deleteClaim deleteClaims
  expect_reject "KafkaTopic spec.partition" KafkaTopic spec.partitions partition
  expect_reject "Dragonfly spec.replica" Dragonfly spec.replicas replica
  expect_reject "ServiceMonitor endpoint scrapeInterval" \
    ServiceMonitor spec.endpoints.0.interval scrapeInterval
  expect_reject "PrometheusRule rule exprs" PrometheusRule spec.groups.0.rules.0.expr exprs
  expect_reject "rules: init container without resources" \
    Deployment spec.template.spec.initContainers.0.resources resourcez policy \
    "init container migrate: no resources"
  expect_reject "rules: credential inlined in env" \
    Deployment spec.template.spec.containers.0.env.0.valueFrom value policy \
    "PING_POSTGRES_DSN is inlined"
  expect_reject "namespaces: Service without metadata.namespace" \
    Service metadata.namespace namespaceless namespaces "no namespace"
  expect_reject "durability: Cluster without spec.postgresql.synchronous" \
    Cluster spec.postgresql.synchronous asynchronous durability "without spec.postgresql.synchronous"
  expect_reject "pdbs: PodDisruptionBudget without unhealthyPodEvictionPolicy" \
    PodDisruptionBudget spec.unhealthyPodEvictionPolicy unhealthyPolicy pdbs "not AlwaysAllow"
  expect_reject "spread-taints: DoNotSchedule spread without nodeTaintsPolicy" \
    Deployment spec.template.spec.topologySpreadConstraints.0.nodeTaintsPolicy taintsPolicy \
    spread-taints "not Honor"
  expect_reject "images: Dragonfly without spec.image (operator default)" \
    Dragonfly spec.image imageName images "no image"
fi

# -- 4. monitoring: dashboard and alert rules ------------------------------------

# The dashboard ConfigMap as Grafana's sidecar wants it, and the rules as
# Prometheus loads them: `promtool check rules`, then `promtool test rules`
# with the synthetic series of tests/deploy/rules_test.yaml (every alert
# firing, and not firing where it must not).
if [ -f "$PROD" ]; then
  if "$PY" - "$PROD" >"$WORK/dash.out" 2>&1 <<'PY'
import json, sys, yaml
found = 0
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if not doc or doc.get("kind") != "ConfigMap":
        continue
    if (doc["metadata"].get("labels") or {}).get("grafana_dashboard") != "1":
        continue
    for key, text in doc.get("data", {}).items():
        dash = json.loads(text)
        assert key.endswith(".json"), key
        assert dash.get("uid") and dash.get("title") and dash.get("panels"), key
        found += 1
        print("%s: %s, %d panels" % (doc["metadata"]["name"], dash["title"], len(dash["panels"])))
sys.exit(0 if found else "no ConfigMap labelled grafana_dashboard: \"1\" holds a dashboard")
PY
  then
    pass "Grafana dashboard ConfigMap (label grafana_dashboard: \"1\"): $(head -n1 "$WORK/dash.out")"
  else
    fail "Grafana dashboard ConfigMap"; cat "$WORK/dash.out"
  fi
  if ! command -v promtool >/dev/null 2>&1; then
    fail "promtool not installed (apt-get install prometheus): cannot check the alert rules"
  elif ! "$PY" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert docs, "no PrometheusRule rendered"
yaml.safe_dump({"groups": [g for d in docs for g in d["spec"]["groups"]]}, open(sys.argv[2], "w"))
' "$PROD" "$WORK/rules.yaml" 2>"$WORK/rules.err"; then
    fail "extracting the PrometheusRule groups: $(cat "$WORK/rules.err")"
  else
    if promtool check rules "$WORK/rules.yaml" >"$WORK/p.out" 2>&1; then
      pass "promtool check rules: $(grep -o '[0-9]* rules found' "$WORK/p.out")"
    else
      fail "promtool check rules"; cat "$WORK/p.out"
    fi
    cp "$HERE/rules_test.yaml" "$WORK/rules_test.yaml"
    alerts=$(grep -c '^ *- alert:' "$DEPLOY/components/monitoring/prometheusrule.yaml")
    tested=$(grep -o 'alertname: [A-Za-z]*' "$HERE/rules_test.yaml" | sort -u | wc -l)
    if (cd "$WORK" && promtool test rules rules_test.yaml) >"$WORK/p.out" 2>&1 \
       && [ "$alerts" = "$tested" ]; then
      pass "promtool test rules: $tested of $alerts alerts tested with synthetic series"
    else
      fail "promtool test rules ($tested of $alerts alerts tested)"; cat "$WORK/p.out"
    fi
  fi
fi

# -- 5. runtime libraries of the image -------------------------------------------

# Packages of the list file: "base" (assumed in debian:12-slim) or installed.
list_packages() { # FILE [base|install]
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | awk -v want="$2" '
    /^base:/ { if (want == "base") { sub(/^base:[[:space:]]*/, ""); print } ; next }
    NF { if (want != "base") { sub(/=.*/, "", $1); print $1 } }'
}

# PACKAGE=VERSION lines of the list file (the installed packages).
list_pins() { # FILE
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | awk '/^base:/ { next } NF { print $1 }'
}

# Every installed package is pinned (PACKAGE=VERSION, scripts/pin-packages.sh)
# to a version this Debian 12 has: the one installed here, where the tests
# ran, or one apt still offers.
check_pins() { # FILE
  local list=$1 entry pkg version here unpinned=() unknown=() stale=()
  while read -r entry; do
    pkg=${entry%%=*} version=${entry#*=}
    if [ "$pkg" = "$entry" ] || [ -z "$version" ]; then
      unpinned+=("$pkg")
      continue
    fi
    here=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) || here=
    [ "$here" = "$version" ] && continue
    if apt-cache show "$pkg=$version" >/dev/null 2>&1; then
      stale+=("$pkg=$version (here: ${here:-not installed})")
    else
      unknown+=("$pkg=$version")
    fi
  done < <(list_pins "$list")
  local name=${list#"$ROOT"/}
  if ((${#unpinned[@]})); then
    fail "$name: packages without a version pin: ${unpinned[*]} (scripts/pin-packages.sh)"
  elif ((${#unknown[@]})); then
    fail "$name: pinned versions apt does not know: ${unknown[*]}"
  else
    pass "$name: every package pinned to a Debian 12 version${stale:+ (differ from this machine: ${stale[*]})}"
  fi
}

# Debian package owning a library path (dpkg -S on the path, its real path,
# and the /lib <-> /usr/lib twin of either, for merged /usr).
package_of() {
  local lib=$1 cand real out
  real=$(readlink -f "$lib")
  for cand in "$lib" "$real" "/usr$lib" "/usr$real" "${lib#/usr}" "${real#/usr}"; do
    [ -n "$cand" ] || continue
    out=$(dpkg -S "$cand" 2>/dev/null | grep -v '^diversion' | head -n1) || true
    if [ -n "$out" ]; then
      echo "${out%%:*}" | sed 's/,.*//'
      return 0
    fi
  done
  return 1
}

if [ ! -f "$RUNTIME_LIST" ]; then
  fail "runtime package list $RUNTIME_LIST missing"
elif ! command -v dpkg >/dev/null 2>&1 || ! command -v ldd >/dev/null 2>&1; then
  fail "ldd and dpkg are needed for the runtime library check"
else
  mapfile -t base_pkgs < <(list_packages "$RUNTIME_LIST" base)
  mapfile -t install_pkgs < <(list_packages "$RUNTIME_LIST" install)
  declare -A allowed=()
  for p in "${base_pkgs[@]}" "${install_pkgs[@]}"; do allowed[$p]=1; done

  # The Dockerfile must install this very list.
  if grep -q 'COPY deploy/image/runtime-packages.txt' "$ROOT/Dockerfile" 2>/dev/null \
     && grep -q 'COPY deploy/image/build-packages.txt' "$ROOT/Dockerfile"; then
    pass "Dockerfile installs deploy/image/build-packages.txt and runtime-packages.txt"
  else
    fail "Dockerfile does not install the package lists of deploy/image"
  fi

  check_pins "$RUNTIME_LIST"
  [ -f "$BUILD_LIST" ] && check_pins "$BUILD_LIST"

  # Every listed package must be a real package of this Debian release.
  unknown=()
  for p in "${base_pkgs[@]}" "${install_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
    apt-cache show "$p" >/dev/null 2>&1 && continue
    unknown+=("$p")
  done
  if ((${#unknown[@]})); then
    fail "runtime-packages.txt names unknown packages: ${unknown[*]}"
  else
    pass "runtime-packages.txt: ${#install_pkgs[@]} packages to install, ${#base_pkgs[@]} assumed in debian:12-slim, all known to dpkg/apt"
  fi

  for bin in apps/ping-gateway apps/ping-processor apps/pingctl/pingctl; do
    exe=$BUILD_DIR/$bin
    if [ ! -x "$exe" ]; then
      fail "runtime libraries of $bin: $exe not built"
      continue
    fi
    if ! ldd "$exe" >"$WORK/ldd.out" 2>&1; then
      fail "runtime libraries of $bin: ldd failed: $(head -c 300 "$WORK/ldd.out")"
      continue
    fi
    if grep -q 'not found' "$WORK/ldd.out"; then
      fail "runtime libraries of $bin: unresolved: $(grep 'not found' "$WORK/ldd.out" | tr -s ' \t' ' ')"
      continue
    fi
    # "libx.so => /path (addr)" and the loader's "/lib64/ld-linux... (addr)";
    # linux-vdso has no file.
    mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' "$WORK/ldd.out" | sort -u)
    missing=() unowned=() pkgs=()
    declare -A seen=()
    for lib in "${libs[@]}"; do
      if ! pkg=$(package_of "$lib"); then
        unowned+=("$lib")
        continue
      fi
      [ -n "${seen[$pkg]:-}" ] && continue
      seen[$pkg]=1
      pkgs+=("$pkg")
      [ -n "${allowed[$pkg]:-}" ] || missing+=("$pkg")
    done
    unset seen
    if ((${#unowned[@]})); then
      fail "runtime libraries of $bin: no Debian package owns ${unowned[*]}"
    elif ((${#missing[@]})); then
      fail "runtime libraries of $bin: packages missing from runtime-packages.txt: ${missing[*]}"
    else
      pass "runtime libraries of $bin: ${#libs[@]} libraries from ${#pkgs[@]} packages, all in runtime-packages.txt"
    fi
  done
fi

# The build stage's packages follow scripts/lib.sh (the build dependencies);
# lib.sh also lists services and tools the tests need, not the build.
if [ -f "$BUILD_LIST" ] && [ -f "$ROOT/scripts/lib.sh" ]; then
  mapfile -t libsh < <(sed -n '/^PACKAGES=(/,/)/p' "$ROOT/scripts/lib.sh" \
    | sed -e 's/PACKAGES=(//' -e 's/)//' | tr -s ' \t' '\n' | grep -v '^$')
  mapfile -t build_pkgs < <(list_packages "$BUILD_LIST" install)
  declare -A in_build=()
  for p in "${build_pkgs[@]}"; do in_build[$p]=1; done
  not_for_build=(postgresql-15 postgresql-contrib redis-server kcat curl nghttp2-client wrk
                 tmux chromium prometheus clang-format clang-tidy)
  absent=()
  for p in "${libsh[@]}"; do
    [[ " ${not_for_build[*]} " == *" $p "* ]] && continue
    [ -n "${in_build[$p]:-}" ] || absent+=("$p")
  done
  if ((${#libsh[@]} == 0)); then
    fail "could not read PACKAGES from scripts/lib.sh"
  elif ((${#absent[@]})); then
    fail "build-packages.txt lacks build dependencies of scripts/lib.sh: ${absent[*]}"
  else
    pass "build-packages.txt covers the build dependencies of scripts/lib.sh"
  fi
fi

finish
