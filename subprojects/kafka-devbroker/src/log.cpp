#include "devbroker/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace devbroker::log {
namespace {

std::atomic<level> threshold_{level::info};

std::string_view name(level lvl) {
  switch (lvl) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::notice:
      return "notice";
    case level::warning:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

// Appends `value` quoted when needed, escaping quotes, backslashes and
// control characters so one record stays one line.
void append_value(std::string& out, std::string_view value, bool force_quotes) {
  bool quote = force_quotes || value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96]; // generous: the compiler cannot bound tm's int fields
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

} // namespace

void set_threshold(level t) {
  threshold_.store(t);
}

level from_syslog(int syslog_level) {
  if (syslog_level <= 3)
    return level::error;
  if (syslog_level == 4)
    return level::warning;
  if (syslog_level == 5)
    return level::notice;
  if (syslog_level == 6)
    return level::info;
  return level::debug;
}

std::string format(level lvl, std::string_view component, std::string_view msg,
                   std::initializer_list<field> fields) {
  std::string line;
  line.reserve(96 + msg.size());
  line += "ts=";
  line += timestamp();
  line += " level=";
  line += name(lvl);
  line += " component=";
  append_value(line, component, false);
  line += " msg=";
  append_value(line, msg, true);
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    append_value(line, value, false);
  }
  line += '\n';
  return line;
}

void write(level lvl, std::string_view component, std::string_view msg,
           std::initializer_list<field> fields) {
  if (lvl < threshold_.load())
    return;
  const std::string line = format(lvl, component, msg, fields);
  // One write(2) per line: lines from different threads do not interleave.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // stderr gone: drop the line, never block or throw
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

} // namespace devbroker::log
