#pragma once
// Structured logging: one line per event on stderr, logfmt by default
//   ts=2026-11-28T01:02:03.456Z level=info component=persistence msg="..." k=v
// or, with set_format(format::json) (--log-format=json), one JSON object
//   {"ts":"2026-11-28T01:02:03.456Z","level":"info","component":"persistence","msg":"...","k":"v"}
// Values are quoted and escaped when needed. Never pass secrets (the DSN's
// password, tokens) as fields; use redact_dsn() for connection strings.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ping::log {

enum class level { debug = 0, info, warn, error };
enum class format { logfmt, json };

void set_format(format f);
/// "logfmt" or "json".
bool parse_format(std::string_view text, format& out);

void set_level(level lvl);
level current_level();
bool parse_level(std::string_view text, level& out);

using field = std::pair<std::string_view, std::string>;

/// True when lines of `lvl` are written: test it before building the
/// fields of a per-ping line, so a disabled debug line costs no allocation.
inline bool enabled(level lvl) {
  return current_level() <= lvl;
}

/// The field that ties a line to a request: `trace_id`, the 32 hex digits
/// of its W3C trace id (actors/common/trace.hpp). Per-ping lines (accept,
/// commit, relay, consume) are debug; failures are warn; see
/// docs/architecture.md, "Following a ping by its trace id".
inline constexpr std::string_view trace_id_key = "trace_id";

void write(level lvl, std::string_view component, std::string_view msg,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  if (current_level() <= level::debug)
    write(level::debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::info, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::warn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<field> f = {}) {
  write(level::error, c, m, f);
}

/// A libpq connection string with any password value replaced by "***".
std::string redact_dsn(std::string_view dsn);

} // namespace ping::log
