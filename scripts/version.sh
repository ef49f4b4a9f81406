#!/bin/sh
# Prints the version of the source tree for meson's vcs_tag: the nearest
# tag `vX.Y.Z` as git describes it ("0.2.0", "0.2.0-3-gabc1234", with
# "-dirty" for uncommitted changes), or, with no tag yet, the project's
# version from meson.build ($1) followed by the number of commits and the
# abbreviated commit ("0.1.0-412-g25d3f2b"). Fails outside a git checkout
# (vcs_tag then uses the fallback, the project version).
set -e
cd "$(dirname "$0")/.."
if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
  echo "${v#v}"
  exit 0
fi
count=$(git rev-list --count HEAD)
hash=$(git rev-parse --short=7 HEAD)
dirty=$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
echo "$1-$count-g$hash$dirty"
