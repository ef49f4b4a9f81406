#pragma once

#include <string>

#include <caf/timespan.hpp>

namespace ping {

/// The libpq connection string with a connect timeout and a server-side
/// statement timeout added, so no database call waits without a deadline.
/// Works for key=value strings and postgresql:// URIs.
std::string with_timeouts(const std::string& dsn, caf::timespan connect_timeout,
                          caf::timespan statement_timeout);

} // namespace ping
