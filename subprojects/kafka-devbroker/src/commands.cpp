#include "devbroker/commands.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

#include "devbroker/mock_cluster.hpp"

namespace devbroker {
namespace {

struct api_name {
  std::string_view name;
  int16_t key;
};

// The APIs a dev/test setup typically wants to break; numbers work for all.
constexpr std::array<api_name, 17> api_names{{
  {"produce", 0},
  {"fetch", 1},
  {"listoffsets", 2},
  {"metadata", 3},
  {"offsetcommit", 8},
  {"offsetfetch", 9},
  {"findcoordinator", 10},
  {"joingroup", 11},
  {"heartbeat", 12},
  {"leavegroup", 13},
  {"syncgroup", 14},
  {"apiversions", 18},
  {"initproducerid", 22},
  {"addpartitionstotxn", 24},
  {"addoffsetstotxn", 25},
  {"endtxn", 26},
  {"txnoffsetcommit", 28},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

template <class Int>
std::optional<Int> parse_int(std::string_view s) {
  Int value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return value;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    const std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
      ++i;
    if (i > start)
      words.push_back(line.substr(start, i - start));
  }
  return words;
}

std::string describe(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + " (" + rd_kafka_err2str(err) + ")";
}

// "all", missing -> nullopt (all brokers); a number -> that broker.
// Returns false when the word is neither.
bool parse_broker(const std::vector<std::string_view>& w, std::size_t index,
                  std::optional<int32_t>& broker) {
  broker.reset();
  if (w.size() <= index || lower(w[index]) == "all")
    return true;
  const auto id = parse_int<int32_t>(w[index]);
  if (!id)
    return false;
  broker = *id;
  return true;
}

std::string broker_states(const cluster_status& s) {
  std::string out;
  for (const auto& [id, up] : s.brokers) {
    if (!out.empty())
      out += ',';
    out += std::to_string(id) + (up ? ":up" : ":down");
  }
  return out;
}

std::string format_status(const cluster_status& s) {
  std::string out = "ok bootstrap=" + s.bootstrap + " brokers=" + broker_states(s) + " topics=";
  bool first = true;
  for (const auto& [name, partitions] : s.topics) {
    if (!first)
      out += ',';
    first = false;
    out += name + ':' + std::to_string(partitions);
  }
  out += " rtt=";
  first = true;
  for (const auto& [id, ms] : s.rtt_ms) {
    if (!first)
      out += ',';
    first = false;
    out += std::to_string(id) + ':' + std::to_string(ms);
  }
  return out;
}

constexpr std::string_view help_text
  = "ok commands: ping | status | down [ID|all] | up [ID|all] | errors API ERR COUNT | "
    "clear-errors API | rtt ID|all MS | create-topic NAME PARTITIONS | help";

} // namespace

std::optional<int16_t> parse_api_key(std::string_view text) {
  if (const auto n = parse_int<int16_t>(text)) {
    if (*n >= 0)
      return n;
    return std::nullopt;
  }
  const std::string name = lower(text);
  for (const auto& api : api_names)
    if (api.name == name)
      return api.key;
  return std::nullopt;
}

std::optional<rd_kafka_resp_err_t> parse_error_code(std::string_view text) {
  const rd_kafka_err_desc* descs = nullptr;
  std::size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  auto known = [&](int code) {
    for (std::size_t i = 0; i < count; ++i)
      if (descs[i].name && descs[i].code == code)
        return true;
    return false;
  };
  if (const auto n = parse_int<int>(text)) {
    if (known(*n))
      return static_cast<rd_kafka_resp_err_t>(*n);
    return std::nullopt;
  }
  std::string name = upper(text);
  constexpr std::string_view prefix = "RD_KAFKA_RESP_ERR_";
  if (name.rfind(prefix, 0) == 0)
    name.erase(0, prefix.size());
  for (std::size_t i = 0; i < count; ++i)
    if (descs[i].name && name == descs[i].name)
      return descs[i].code;
  return std::nullopt;
}

std::string command_handler::handle(std::string_view line) {
  const auto w = split(line);
  if (w.empty())
    return "error empty command";
  const std::string cmd = lower(w[0]);

  if (cmd == "ping")
    return "ok pong";
  if (cmd == "help")
    return std::string(help_text);
  if (cmd == "status")
    return format_status(cluster_.status());

  if (cmd == "down" || cmd == "up") {
    std::optional<int32_t> broker;
    if (w.size() > 2 || !parse_broker(w, 1, broker))
      return "error usage: " + cmd + " [ID|all]";
    const auto err = cmd == "down" ? cluster_.set_down(broker) : cluster_.set_up(broker);
    if (err)
      return "error " + describe(err);
    return "ok brokers=" + broker_states(cluster_.status());
  }

  if (cmd == "errors") {
    if (w.size() != 4)
      return "error usage: errors API ERR COUNT";
    const auto api = parse_api_key(w[1]);
    if (!api)
      return "error unknown api key '" + std::string(w[1]) + "'";
    const auto err = parse_error_code(w[2]);
    if (!err)
      return "error unknown error code '" + std::string(w[2]) + "'";
    const auto count = parse_int<std::size_t>(w[3]);
    if (!count || *count == 0 || *count > 1000)
      return "error COUNT must be 1..1000";
    if (const auto e = cluster_.push_request_errors(*api, *err, *count))
      return "error " + describe(e);
    return "ok api=" + std::to_string(*api) + " err=" + std::to_string(static_cast<int>(*err))
           + " name=" + rd_kafka_err2name(*err) + " count=" + std::to_string(*count);
  }

  if (cmd == "clear-errors") {
    if (w.size() != 2)
      return "error usage: clear-errors API";
    const auto api = parse_api_key(w[1]);
    if (!api)
      return "error unknown api key '" + std::string(w[1]) + "'";
    cluster_.clear_request_errors(*api);
    return "ok api=" + std::to_string(*api);
  }

  if (cmd == "rtt") {
    std::optional<int32_t> broker;
    if (w.size() != 3 || !parse_broker(w, 1, broker))
      return "error usage: rtt ID|all MS";
    const auto ms = parse_int<int>(w[2]);
    if (!ms || *ms < 0 || *ms > 600'000)
      return "error MS must be 0..600000";
    if (const auto e = cluster_.set_rtt(broker, *ms))
      return "error " + describe(e);
    return "ok rtt=" + std::string(broker ? std::to_string(*broker) : "all") + ":"
           + std::to_string(*ms);
  }

  if (cmd == "create-topic") {
    if (w.size() != 3)
      return "error usage: create-topic NAME PARTITIONS";
    const auto spec = parse_topic_spec(std::string(w[1]) + ":" + std::string(w[2]));
    if (!spec)
      return "error invalid topic name or partition count";
    if (const auto e = cluster_.create_topic(spec->name, spec->partitions))
      return "error " + describe(e);
    return "ok topic=" + spec->name + " partitions=" + std::to_string(spec->partitions);
  }

  return "error unknown command '" + std::string(w[0]) + "' (try: help)";
}

} // namespace devbroker
