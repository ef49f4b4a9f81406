#!/usr/bin/env bash
# Proto contract checks: `buf lint` on the module of the repo root buf.yaml,
# and `buf breaking` against the oldest commit that has ping.proto (the first
# published version of the contract). Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_node_modules
cd "$ROOT"
failed=0

e2e_log "buf $(buf --version): lint $ROOT"
if buf lint "$ROOT"; then
  e2e_log "PASS buf lint"
else
  e2e_log "FAIL buf lint (see errors above)"
  failed=1
fi

# The first commit that added the contract; empty without git history.
base=""
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  base=$(git -C "$ROOT" log --format=%H --diff-filter=A -- proto/ping/v1/ping.proto | tail -n 1)
  if [ "$(git -C "$ROOT" rev-parse --is-shallow-repository)" = true ]; then
    e2e_log "note: shallow clone; the oldest commit available may not be the first published contract"
  fi
fi
if [ -z "$base" ]; then
  e2e_log "SKIP buf breaking: no git history with proto/ping/v1/ping.proto in $ROOT"
else
  git_dir=$(cd "$ROOT" && cd "$(git rev-parse --git-common-dir)" && pwd)
  e2e_log "buf breaking against $base (first commit of proto/ping/v1/ping.proto)"
  if buf breaking "$ROOT" --against "$git_dir#ref=$base"; then
    e2e_log "PASS buf breaking"
  else
    e2e_log "FAIL buf breaking against $base (see changes above)"
    failed=1
  fi
fi

exit "$failed"
