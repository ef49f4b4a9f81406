#include "actors/common/dsn.hpp"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace ping {

namespace {

// Idle time before the first keepalive probe, the probe interval and the
// probes that may go unanswered (seconds): a silent peer is noticed after
// about 5 + 3 * 2 = 11 s at the latest (sooner through tcp_user_timeout).
constexpr const char* keepalive_idle_s = "5";
constexpr const char* keepalive_interval_s = "2";
constexpr const char* keepalive_count = "3";

bool has_key(const std::string& dsn, const std::string& key) {
  return dsn.find(key + "=") != std::string::npos;
}

} // namespace

std::string with_timeouts(const std::string& dsn, caf::timespan connect_timeout,
                          caf::timespan statement_timeout, bool read_write) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  auto connect_s
    = std::to_string(std::max<int64_t>(1, duration_cast<seconds>(connect_timeout).count()));
  auto stmt_ms = std::to_string(duration_cast<milliseconds>(statement_timeout).count());
  auto user_timeout_ms = std::to_string(std::max<int64_t>(
    1000, duration_cast<milliseconds>(connect_timeout + statement_timeout).count()));
  std::vector<std::pair<std::string, std::string>> extra{
    {"connect_timeout", connect_s},        {"keepalives", "1"},
    {"keepalives_idle", keepalive_idle_s}, {"keepalives_interval", keepalive_interval_s},
    {"keepalives_count", keepalive_count}, {"tcp_user_timeout", user_timeout_ms},
  };
  if (read_write)
    extra.emplace_back("target_session_attrs", "read-write");
  std::string out = dsn;
  if (dsn.find("://") != std::string::npos) {
    auto sep = dsn.find('?') == std::string::npos ? "?" : "&";
    for (auto& [k, v] : extra)
      if (!has_key(dsn, k)) {
        out.append(sep).append(k).append("=").append(v);
        sep = "&";
      }
    return out + sep + "options=-c%20statement_timeout%3D" + stmt_ms
           + "%20-c%20jit%3Doff%20-c%20plan_cache_mode%3Dforce_generic_plan";
  }
  for (auto& [k, v] : extra)
    if (!has_key(dsn, k))
      out.append(" ").append(k).append("=").append(v);
  return out + " options='-c statement_timeout=" + stmt_ms
         + " -c jit=off -c plan_cache_mode=force_generic_plan'";
}

} // namespace ping
