#pragma once
// The build's identity, from git at build time (meson vcs_tag, see
// scripts/version.sh): shown by --version, ping_build_info and the consoles.

namespace ping::build {

/// "0.1.0-412-g25d3f2b" (with "-dirty" for uncommitted changes), or the
/// tag's version; the project version outside a git checkout.
const char* version();

/// The full commit hash, or "unknown" outside a git checkout.
const char* revision();

} // namespace ping::build
