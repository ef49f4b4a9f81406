#pragma once
// Exponential backoff, the one rule every supervisor and reconnect loop in
// Ping follows: start at `min`, double on each further failure, cap at
// `max`. A zero `current` means "no failure yet".

#include <algorithm>

#include <caf/timespan.hpp>

namespace ping {

inline caf::timespan next_backoff(caf::timespan current, caf::timespan min, caf::timespan max) {
  return current.count() == 0 ? min : std::min(current * 2, max);
}

} // namespace ping
