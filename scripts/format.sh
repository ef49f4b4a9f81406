#!/usr/bin/env bash
# The C++ formatting, held by clang-format and the root .clang-format.
#
#   scripts/format.sh          rewrites every tracked C++ file in place
#   scripts/format.sh --check  changes nothing; lists the files that differ
#                              and exits 1 (what CI runs)
#
# Generated code and gateways/grpc/third_party (vendored protos' output)
# are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is missing (apt-get install clang-format)" >&2; exit 1; }

mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '/third_party/')
if [ "${1:-}" = --check ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files match .clang-format"
else
  clang-format -i "${files[@]}"
fi
