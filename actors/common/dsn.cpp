#include "actors/common/dsn.hpp"

#include <algorithm>
#include <chrono>

namespace ping {

std::string with_timeouts(const std::string& dsn, caf::timespan connect_timeout,
                          caf::timespan statement_timeout) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  auto connect_s = std::to_string(std::max<int64_t>(
    1, duration_cast<seconds>(connect_timeout).count()));
  auto stmt_ms = std::to_string(
    duration_cast<milliseconds>(statement_timeout).count());
  if (dsn.find("://") != std::string::npos) {
    auto sep = dsn.find('?') == std::string::npos ? "?" : "&";
    return dsn + sep + "connect_timeout=" + connect_s
           + "&options=-c%20statement_timeout%3D" + stmt_ms;
  }
  return dsn + " connect_timeout=" + connect_s
         + " options='-c statement_timeout=" + stmt_ms + "'";
}

} // namespace ping
