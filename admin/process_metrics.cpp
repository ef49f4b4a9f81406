#include "admin/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ping::admin {

namespace {

// The fields of /proc/self/stat after the command name (which may hold
// spaces and parentheses: it ends at the last ')'); field 3 is at index 0.
std::optional<std::vector<std::string>> stat_fields() {
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  if (!std::getline(in, line))
    return std::nullopt;
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest{line.substr(close + 1)};
  std::vector<std::string> out;
  for (std::string f; rest >> f;)
    out.push_back(f);
  return out;
}

// The system's boot time (seconds since the epoch), from /proc/stat.
std::optional<double> boot_time() {
  std::ifstream in{"/proc/stat"};
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      if (in >> t)
        return t;
      return std::nullopt;
    }
    in.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

} // namespace

std::optional<process_stats> read_process_stats() {
  auto f = stat_fields();
  // utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  if (!f || f->size() < 22)
    return std::nullopt;
  auto at = [&](size_t field) { return std::stod((*f)[field - 3]); };
  auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  process_stats s;
  try {
    s.cpu_seconds = (at(14) + at(15)) / ticks;
    s.virtual_bytes = at(23);
    s.resident_bytes = at(24) * page;
    if (auto boot = boot_time())
      s.start_time_seconds = *boot + at(22) / ticks;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator{"/proc/self/fd", ec};
       !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    s.open_fds += 1;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    s.max_fds = static_cast<double>(lim.rlim_cur);
  return s;
}

} // namespace ping::admin
