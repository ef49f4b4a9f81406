#pragma once
// Structured single-line logging to stderr:
//   ts=2024-05-01T12:00:00.123Z level=info component=devbroker msg="..." k=v
// Thread-safe (one write(2) per line); used by our code and by the librdkafka
// log callback.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace devbroker::log {

enum class level { debug, info, notice, warning, error };

using field = std::pair<std::string_view, std::string_view>;

// Lines below the threshold are dropped (default: info).
void set_threshold(level threshold);

void write(level lvl, std::string_view component, std::string_view msg,
           std::initializer_list<field> fields = {});

// Maps a syslog level (0 emerg .. 7 debug), as librdkafka reports it.
level from_syslog(int syslog_level);

// Formats one line (without writing it); exposed for tests.
std::string format(level lvl, std::string_view component, std::string_view msg,
                   std::initializer_list<field> fields = {});

inline void info(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::info, "devbroker", msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::warning, "devbroker", msg, f);
}
inline void error(std::string_view msg, std::initializer_list<field> f = {}) {
  write(level::error, "devbroker", msg, f);
}

} // namespace devbroker::log
