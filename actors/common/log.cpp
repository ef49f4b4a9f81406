#include "actors/common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <regex>

namespace ping::log {

namespace {

std::atomic<int> global_level{static_cast<int>(level::info)};
std::atomic<bool> json_format{false};
std::mutex out_mtx;

const char* name(level lvl) {
  switch (lvl) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

void append_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20)
      quote = true;
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// A JSON string: quotes, backslashes and control characters escaped.
void append_json(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

} // namespace

void set_format(format f) {
  json_format = f == format::json;
}

bool parse_format(std::string_view text, format& out) {
  if (text == "logfmt")
    out = format::logfmt;
  else if (text == "json")
    out = format::json;
  else
    return false;
  return true;
}

void set_level(level lvl) {
  global_level = static_cast<int>(lvl);
}

level current_level() {
  return static_cast<level>(global_level.load(std::memory_order_relaxed));
}

bool parse_level(std::string_view text, level& out) {
  for (auto lvl : {level::debug, level::info, level::warn, level::error})
    if (text == name(lvl)) {
      out = lvl;
      return true;
    }
  return false;
}

void write(level lvl, std::string_view component, std::string_view msg,
           std::initializer_list<field> fields) {
  if (static_cast<int>(lvl) < global_level.load(std::memory_order_relaxed))
    return;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(128);
  if (json_format.load(std::memory_order_relaxed)) {
    line.append("{\"ts\":\"").append(ts).append("\",\"level\":\"").append(name(lvl));
    line.append("\",\"component\":");
    append_json(line, component);
    line.append(",\"msg\":");
    append_json(line, msg);
    for (auto& [k, v] : fields) {
      line.push_back(',');
      append_json(line, k);
      line.push_back(':');
      append_json(line, v);
    }
    line.append("}\n");
    std::lock_guard<std::mutex> guard{out_mtx};
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  line.append("ts=").append(ts).append(" level=").append(name(lvl));
  line.append(" component=");
  append_value(line, component);
  line.append(" msg=");
  append_value(line, msg);
  for (auto& [k, v] : fields) {
    line.push_back(' ');
    line.append(k).push_back('=');
    append_value(line, v);
  }
  line.push_back('\n');
  std::lock_guard<std::mutex> guard{out_mtx};
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string redact_dsn(std::string_view dsn) {
  // key=value form and URI form (postgresql://user:secret@host/db).
  static const std::regex kv{R"((password\s*=\s*)('[^']*'|\S+))", std::regex::icase};
  static const std::regex uri{R"((://[^:/@]*:)[^@]*@)"};
  std::string s{dsn};
  s = std::regex_replace(s, kv, "$1***");
  s = std::regex_replace(s, uri, "$1***@");
  return s;
}

} // namespace ping::log
