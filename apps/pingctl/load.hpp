#pragma once
// Load mode of `pingctl ping`: C workers, each with its own client, share a
// budget of N pings. A reporter thread prints progress to stderr once a
// second (one line rewritten in place on a TTY, plain lines otherwise); the
// summary goes to stdout, ending in one line of key=value fields.

#include <cstdint>
#include <iosfwd>

#include "apps/pingctl/rpc.hpp"

namespace ping::pingctl {

struct load_settings {
  std::uint64_t requests = 1;
  unsigned concurrency = 1;
  std::int64_t timestamp_ms = 0;
};

/// Runs the load and prints the summary. Returns the exit status: 0 when
/// every ping succeeded, 1 when any failed, 130 when interrupted by SIGINT.
int run_load(const load_settings& cfg, const client_factory& make_client, std::ostream& out,
             std::ostream& err);

} // namespace ping::pingctl
