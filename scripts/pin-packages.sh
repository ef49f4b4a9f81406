#!/usr/bin/env bash
# Pins every package of the image's lists (deploy/image/build-packages.txt and
# runtime-packages.txt) to the version installed on this machine, the Debian
# 12 system the tests ran on: each `PACKAGE` or `PACKAGE=OLD` line becomes
# `PACKAGE=VERSION` (dpkg-query -W). Comments and `base:` lines stay as they
# are. Run it after a Debian point release (apt-get upgrade), then rebuild
# the image and run tests/deploy/run.sh, which checks the pins.
#
#   scripts/pin-packages.sh [LIST...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lists=("$@")
((${#lists[@]})) || lists=("$ROOT/deploy/image/build-packages.txt" "$ROOT/deploy/image/runtime-packages.txt")

for list in "${lists[@]}"; do
  tmp=$(mktemp)
  while IFS= read -r line || [ -n "$line" ]; do
    body=${line%%#*}
    read -r word _ <<<"$body" || true
    if [ -z "${word:-}" ] || [[ $word == base:* ]]; then
      printf '%s\n' "$line"
      continue
    fi
    pkg=${word%%=*}
    version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) \
      || { rm -f "$tmp"; echo "pin-packages: $pkg is not installed here" >&2; exit 1; }
    printf '%s\n' "${line/"$word"/$pkg=$version}"
  done <"$list" >"$tmp"
  mv "$tmp" "$list"
done
