#!/usr/bin/env bash
# The C++ checks held by clang-tidy and the root .clang-tidy (bugprone-*,
# performance-*; what is disabled says why there). Every finding fails.
#
#   scripts/tidy.sh                 every translation unit of the build (CI)
#   scripts/tidy.sh --base REF      only those changed since REF's merge base
#                                   with HEAD (work tree included), and those
#                                   including a changed header (on REF
#                                   itself: the last commit's changes)
#
# Reads BUILD_DIR's compile_commands.json (meson writes it; `build` of
# scripts/lib.sh configures; run it after `build`). Generated code
# (protobuf, gRPC, embedded migrations: all under the build directory) and
# third_party are left out. scripts/tidy.py runs PING_TIDY_JOBS clang-tidy
# processes at once (default: nproc), the longest units first, and skips a
# unit that passed before with the same inputs (its source and every file it
# includes, its compile command, the .clang-tidy files, clang-tidy's
# version): PING_TIDY_CACHE (default ~/.cache/ping-tidy; "off": none) keeps
# those passes. Prints the findings of each failing unit, then one summary
# line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

base=
if [ "${1:-}" = --base ]; then
  base=${2:?--base needs a git ref}
  shift 2
fi
[ $# = 0 ] || die "usage: scripts/tidy.sh [--base REF]"
TIDY=${CLANG_TIDY:-$(command -v clang-tidy-14 || command -v clang-tidy || true)}
[ -n "$TIDY" ] || die "clang-tidy is missing (apt-get install clang-tidy)"
DB=$BUILD_DIR/compile_commands.json
[ -f "$DB" ] || die "no $DB: build first (source scripts/lib.sh; build)"

# Translation units of the database, absolute, minus generated code.
mapfile -t units < <(python3 - "$DB" "$BUILD_DIR" <<'PY'
import json, os, sys
db, build = sys.argv[1], os.path.realpath(sys.argv[2])
seen = set()
for e in json.load(open(db)):
    f = os.path.realpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(build + os.sep) or "/third_party/" in f or f in seen:
        continue
    seen.add(f)
    print(f)
PY
)

if [ -n "$base" ]; then
  cd "$PING_ROOT"
  # On the base itself (or without it), the last commit's changes.
  since=
  if git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    since=$(git merge-base "$base" HEAD) || since=
  fi
  if [ -z "$since" ] || [ "$since" = "$(git rev-parse HEAD)" ]; then
    since=$(git rev-parse HEAD~1)
    base="HEAD~1"
  fi
  mapfile -t changed < <(git diff --name-only --diff-filter=d "$since" -- '*.cpp' '*.hpp' '*.cc' '*.h')
  declare -A want=()
  for f in "${changed[@]}"; do
    case $f in
      *.hpp | *.h)
        # Units including the header by its path from the root (the tree's
        # include style) or by its name (subprojects' own headers).
        for u in "${units[@]}"; do
          grep -qF -e "\"$f\"" -e "/$(basename "$f")\"" -e "\"$(basename "$f")\"" "$u" 2>/dev/null \
            && want[$u]=1
        done ;;
      *) want[$PING_ROOT/$f]=1 ;;
    esac
  done
  selected=()
  for u in "${units[@]}"; do [ -n "${want[$u]:-}" ] && selected+=("$u"); done
  units=("${selected[@]}")
  log "tidy: ${#units[@]} translation units changed since $base ($(git rev-parse --short "$since"))"
fi

if ((${#units[@]} == 0)); then
  echo "tidy: nothing to check"
  exit 0
fi

# scripts/tidy.py runs them (longest first, cached passes skipped).
cache=${PING_TIDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ping-tidy}
exec python3 "$PING_ROOT/scripts/tidy.py" "$BUILD_DIR" "$PING_ROOT" "$TIDY" \
  "${PING_TIDY_JOBS:-$(nproc)}" "$cache" "${units[@]}"
