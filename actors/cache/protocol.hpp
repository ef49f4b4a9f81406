#pragma once
// Typed protocol of the cache subsystem: reads of the ping counters that
// ping-processor keeps in Redis/Dragonfly.

#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/types.hpp"

namespace ping::cache {

/// Reply of a cache read. `found == false` means "not answerable from the
/// cache" (cold or rebuilding, unreachable, busy, range not minute-aligned or
/// outside the retention): the caller then asks PostgreSQL. `count` is only
/// meaningful when `found` is true.
struct cache_answer {
  bool found = false;
  int64_t count = 0;
  // Bounded reads: the minute buckets the count sums, oldest first (the
  // admin console's per-minute chart).
  std::vector<int64_t> buckets;

  friend bool operator==(const cache_answer&, const cache_answer&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_answer& x) {
  return f(caf::meta::type_name("cache_answer"), x.found, x.count, x.buckets);
}

/// The cache reader: the handle the gateway holds.
using cache_actor = caf::typed_actor<
  // Counts pings in the range from the cache. Never replies with an error
  // and answers within the reader's `timeout` plus a small slack; anything
  // that goes wrong is `found == false`.
  caf::replies_to<count_atom, time_range>::with<cache_answer>>;

} // namespace ping::cache
