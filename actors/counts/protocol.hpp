#pragma once
// Typed protocol of the count reader: PingCount's read path.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/common/atoms.hpp"
#include "actors/common/types.hpp"

namespace ping::counts {

/// Pings per epoch minute, oldest first, and where they came from
/// ("cache": the cache's buckets plus the tail; "postgres").
struct minute_counts {
  std::vector<int64_t> counts;
  std::string source;

  friend bool operator==(const minute_counts&, const minute_counts&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, minute_counts& x) {
  return f(caf::meta::type_name("minute_counts"), x.counts, x.source);
}

/// Every answer is exact as of a moment after the request arrived: it
/// includes every ping acknowledged before the request was sent, and no
/// ping that is not stored (docs/counts.md).
using counts_actor = caf::typed_actor<
  // Counts pings, in total or within a half-open range (validated by the
  // caller). Errors: unavailable, resource_exhausted.
  caf::replies_to<count_atom, time_range>::with<count_result>,
  // Pings per minute for `n` minutes from `first` on (admin console).
  caf::replies_to<minutes_atom, int64_t, int32_t>::with<minute_counts>>;

} // namespace ping::counts
