#pragma once
// Typed protocol of the count reader: PingCount's read path.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
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

/// One range's answer in a batch: its count, or `err` (set) why not.
struct count_outcome {
  count_result result;
  caf::error err;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, count_outcome& x) {
  return f(caf::meta::type_name("count_outcome"), x.result, x.err);
}

/// Every answer is exact as of a moment after the request arrived: it
/// includes every ping acknowledged before the request was sent, and no
/// ping that is not stored (docs/counts.md).
using counts_actor = caf::typed_actor<
  // Counts pings, in total or within a half-open range (validated by the
  // caller). Errors: unavailable, resource_exhausted.
  caf::replies_to<count_atom, time_range>::with<count_result>,
  // The same for a batch of ranges (a front-end's batch through the
  // gateway): one answer, every range's outcome in order. Each range is
  // admitted (max_waiting) and answered on its own, as a single request.
  caf::replies_to<count_atom, std::vector<time_range>>::with<std::vector<count_outcome>>,
  // Pings per minute for `n` minutes from `first` on (admin console).
  caf::replies_to<minutes_atom, int64_t, int32_t>::with<minute_counts>,
  // A round: a read of the total published on the count board (settings::
  // board; actors/counts/board.hpp), numbered when it starts. No answer.
  caf::reacts_to<count_atom>>;

} // namespace ping::counts
