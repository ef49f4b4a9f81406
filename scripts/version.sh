#!/bin/sh
# The version of the source tree, for meson's vcs_tag (actors/meson.build):
#
#   scripts/version.sh PROJECT_VERSION     the version
#   scripts/version.sh --revision          the full commit hash
#
# The version is the nearest tag `vX.Y.Z` as git describes it ("0.2.0",
# "0.2.0-3-gabc1234", "-dirty" for uncommitted changes) or, with no tag yet,
# the project's version from meson.build followed by the number of commits
# and the abbreviated commit ("0.1.0-412-g25d3f2b"). $PING_VERSION and
# $PING_REVISION, when set, win (a container build without .git passes them
# as build arguments). Fails outside a git checkout; vcs_tag then uses its
# fallback (the project version, "unknown").
set -e
cd "$(dirname "$0")/.."
if [ "$1" = --revision ]; then
  if [ -n "${PING_REVISION:-}" ]; then echo "$PING_REVISION"; exit 0; fi
  exec git rev-parse HEAD
fi
if [ -n "${PING_VERSION:-}" ]; then echo "$PING_VERSION"; exit 0; fi
if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
  echo "${v#v}"
  exit 0
fi
count=$(git rev-list --count HEAD)
hash=$(git rev-parse --short=7 HEAD)
dirty=$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
echo "$1-$count-g$hash$dirty"
