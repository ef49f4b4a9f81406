#include "actors/common/errors.hpp"

namespace ping {

std::string to_string(ping_errc x) {
  switch (x) {
    case ping_errc::none:
      return "none";
    case ping_errc::invalid_argument:
      return "invalid_argument";
    case ping_errc::unavailable:
      return "unavailable";
    case ping_errc::resource_exhausted:
      return "resource_exhausted";
    case ping_errc::deadline_exceeded:
      return "deadline_exceeded";
    case ping_errc::shutting_down:
      return "shutting_down";
    case ping_errc::internal:
      return "internal";
    case ping_errc::failed_precondition:
      return "failed_precondition";
  }
  return "unknown";
}

} // namespace ping
