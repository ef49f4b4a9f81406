#include "apps/pingctl/admin_command.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "apps/pingctl/options.hpp"

namespace ping::pingctl {

namespace {

struct verb_entry {
  admin_verb verb;
  std::string_view word;
  bool console_only;
};

// Help order. "exit" is the second word of quit.
constexpr verb_entry verb_table[] = {
  {admin_verb::status, "status", false},
  {admin_verb::actors, "actors", false},
  {admin_verb::pipeline, "pipeline", false},
  {admin_verb::lag, "lag", false},
  {admin_verb::minutes, "minutes", false},
  {admin_verb::flush, "flush", false},
  {admin_verb::pause, "pause", false},
  {admin_verb::resume, "resume", false},
  {admin_verb::rebuild_cache, "rebuild-cache", false},
  {admin_verb::log_level, "log-level", false},
  {admin_verb::cluster, "cluster", false},
  {admin_verb::watch, "watch", false},
  {admin_verb::help, "help", false},
  {admin_verb::history, "history", true},
  {admin_verb::quit, "quit", true},
  {admin_verb::quit, "exit", true},
};

constexpr admin_verb watch_targets[] = {admin_verb::actors, admin_verb::pipeline, admin_verb::lag,
                                        admin_verb::status, admin_verb::cluster};

constexpr admin_verb cluster_actions[] = {admin_verb::flush, admin_verb::pause, admin_verb::resume,
                                          admin_verb::rebuild_cache};

const verb_entry* find_verb(std::string_view word, bool console) {
  for (const auto& e : verb_table)
    if (e.word == word && (console || !e.console_only))
      return &e;
  return nullptr;
}

// "0.5", "2": seconds to a whole number of milliseconds.
bool parse_seconds(const std::string& text, std::chrono::milliseconds& out) {
  double seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()
      || !std::isfinite(seconds))
    return false;
  out = std::chrono::milliseconds{std::llround(seconds * 1000)};
  return true;
}

} // namespace

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t')
      ++i;
    if (i > start)
      words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

bool is_remote(admin_verb verb) {
  switch (verb) {
    case admin_verb::watch:
    case admin_verb::help:
    case admin_verb::history:
    case admin_verb::quit:
      return false;
    default:
      return true;
  }
}

std::string_view verb_word(admin_verb verb) {
  for (const auto& e : verb_table)
    if (e.verb == verb)
      return e.word;
  return "?";
}

const std::vector<std::string>& command_words(bool console) {
  static const auto make = [](bool with_console) {
    std::vector<std::string> out;
    for (const auto& e : verb_table)
      if (with_console || !e.console_only)
        out.emplace_back(e.word);
    return out;
  };
  static const std::vector<std::string> cli = make(false);
  static const std::vector<std::string> all = make(true);
  return console ? all : cli;
}

command_parse parse_admin_command(const std::vector<std::string>& words, bool console) {
  command_parse result;
  auto& cmd = result.cmd;
  auto fail = [&result](std::string message) {
    result.error = std::move(message);
    return result;
  };
  if (words.empty())
    return fail("missing command");
  const auto* entry = find_verb(words[0], console);
  if (!entry)
    return fail("unknown command '" + words[0] + "'");
  cmd.verb = entry->verb;
  std::vector<std::string> args(words.begin() + 1, words.end());
  std::string name{entry->word};

  switch (cmd.verb) {
    case admin_verb::minutes:
      if (args.size() > 1)
        return fail("minutes takes at most one argument, N");
      if (args.size() == 1
          && (!parse_int(args[0], cmd.minutes) || cmd.minutes < 1 || cmd.minutes > max_minutes))
        return fail("minutes needs N from 1 to " + std::to_string(max_minutes) + ", got '" + args[0]
                    + "'");
      return result;
    case admin_verb::cluster: {
      if (args.empty())
        return result;
      const auto* action = find_verb(args[0], false);
      if (!action
          || std::find(std::begin(cluster_actions), std::end(cluster_actions), action->verb)
               == std::end(cluster_actions)
          || args.size() != 2)
        return fail("cluster takes nothing, or flush|pause|resume|rebuild-cache NODE");
      cmd.cluster_action = action->verb;
      cmd.cluster_node = args[1];
      return result;
    }
    case admin_verb::log_level:
      if (args.size() != 1)
        return fail("log-level needs one LEVEL: debug, info, warn or error");
      cmd.level = args[0];
      return result;
    case admin_verb::watch: {
      bool target_given = false;
      bool interval_given = false;
      for (const auto& arg : args) {
        const auto* target = find_verb(arg, false);
        if (target
            && std::find(std::begin(watch_targets), std::end(watch_targets), target->verb)
                 != std::end(watch_targets)) {
          if (target_given)
            return fail("watch takes one of actors, pipeline, lag, status or cluster");
          cmd.watch_target = target->verb;
          target_given = true;
        } else if (parse_seconds(arg, cmd.watch_interval)) {
          if (interval_given)
            return fail("watch takes one SECONDS");
          if (cmd.watch_interval < min_watch_interval || cmd.watch_interval > max_watch_interval)
            return fail("watch needs SECONDS from 0.2 to 3600, got '" + arg + "'");
          interval_given = true;
        } else {
          return fail("watch [actors|pipeline|lag|status|cluster] [SECONDS], got '" + arg + "'");
        }
      }
      return result;
    }
    default:
      if (!args.empty())
        return fail(name + " takes no arguments, got '" + args[0] + "'");
      return result;
  }
}

admin_parse_result parse_admin_args(const std::vector<std::string>& args, const char* env_node) {
  admin_parse_result result;
  auto& inv = result.inv;
  auto fail = [&result](std::string message) {
    if (result.error.empty())
      result.error = std::move(message);
    return result;
  };

  std::optional<std::string> node;
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "-h") {
      inv.help = true;
      continue;
    }
    if (arg.compare(0, 2, "-o") == 0 && arg.compare(0, 3, "-o-") != 0
        && (arg.size() > 2 || i + 1 < args.size())) {
      auto value = arg.size() > 2 ? arg.substr(2) : args[++i];
      auto json = parse_output(value);
      if (!json)
        return fail("-o needs text or json, got '" + value + "'");
      inv.json = *json;
      continue;
    }
    if (arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      if (!arg.empty() && arg.front() == '-')
        return fail("unknown option '" + arg + "'");
      words.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "--help") {
      if (inline_value)
        return fail("option --help takes no value");
      inv.help = true;
      continue;
    }
    if (name != "--node" && name != "--token-file" && name != "--timeout-ms" && name != "--output")
      return fail("unknown option '" + name + "'");
    std::string value;
    if (inline_value)
      value = *inline_value;
    else if (i + 1 < args.size())
      value = args[++i];
    else
      return fail("option " + name + " needs a value");
    if (name == "--node") {
      node = value;
    } else if (name == "--output") {
      auto json = parse_output(value);
      if (!json)
        return fail("--output needs text or json, got '" + value + "'");
      inv.json = *json;
    } else if (name == "--token-file") {
      if (value.empty())
        return fail("--token-file needs a file name");
      inv.token_file = value;
    } else {
      std::int64_t ms = 0;
      if (!parse_int(value, ms) || ms < 1 || ms > 9'999'999'999)
        return fail("--timeout-ms needs an integer from 1 to 9999999999, got '" + value + "'");
      inv.timeout = std::chrono::milliseconds{ms};
    }
  }
  if (inv.help)
    return result;

  if (!words.empty()) {
    auto parsed = parse_admin_command(words, false);
    if (!parsed.error.empty())
      return fail(parsed.error);
    inv.cmd = parsed.cmd;
  }
  if (!node)
    node = env_node && *env_node ? env_node : default_admin_node;
  inv.node = *node;
  if (!split_address(inv.node, inv.host, inv.port))
    return fail("--node must be HOST:PORT, got '" + inv.node + "'");
  return result;
}

std::chrono::milliseconds admin_timeout(const admin_invocation& inv, admin_verb verb) {
  if (inv.timeout)
    return *inv.timeout;
  return verb == admin_verb::rebuild_cache ? default_rebuild_timeout : default_admin_timeout;
}

std::chrono::milliseconds admin_timeout(const admin_invocation& inv, const admin_command& cmd) {
  if (cmd.verb == admin_verb::cluster && cmd.cluster_action)
    return admin_timeout(inv, *cmd.cluster_action);
  return admin_timeout(inv, cmd.verb);
}

std::string admin_short_usage_text() {
  return R"(Usage: pingctl admin [--node HOST:PORT] [--token-file F] [--timeout-ms N] <command> [ARGS]
       pingctl admin [--node HOST:PORT] [--token-file F]     (interactive console)
Commands: status, actors, pipeline, lag, minutes [N], flush, pause, resume,
rebuild-cache, log-level LEVEL, cluster [ACTION NODE], watch [WHAT] [SECONDS].
Run 'pingctl admin --help' for details.
)";
}

std::string admin_usage_text() {
  return R"(Usage: pingctl admin [OPTIONS] <command> [ARGS]
       pingctl admin [OPTIONS]              interactive console

Calls ping.admin.v1.AdminService on the admin port of a Ping node
(ping-gateway or ping-processor) over Connect (HTTP/1.1, JSON).

Commands:
  status                    Binary, version, uptime, readiness, log level,
                            the commands the node accepts, and its effective
                            configuration (secrets redacted).
  actors                    The node's actors under their supervisors: kind,
                            mailbox depth, messages/s, handled, restarts,
                            backlog, up.
  pipeline                  Each stage: total items, items/s, p50 and p99
                            latency, backlog.
  lag                       Consumer lag per partition and in total
                            (ping-processor).
  minutes [N]               Pings per minute over the last N minutes
                            (1..1440), with a bar chart. Default: 15.
  flush                     Flush pending counter deltas to the cache now.
  pause                     Stop consuming from Kafka (lag grows).
  resume                    Consume again from where it stopped.
  rebuild-cache             Recount the cached counters from PostgreSQL.
  log-level LEVEL           Set the log level: debug, info, warn or error.
  cluster                   The whole deployment as the node sees it (its
                            --admin.peers / --admin.peers-dns): every
                            gateway and processor (up or down), the pipeline
                            end to end (accept, commit, relay, kafka,
                            consume, flush, cache), which processor owns
                            which partition, the exactness check per
                            partition (PostgreSQL head, cache sequence, gap,
                            relay cursor) and the last rebalances.
  cluster ACTION NODE       Run flush, pause, resume or rebuild-cache on the
                            node at NODE (an address 'cluster' lists),
                            forwarded by the node asked.
  watch [WHAT] [SECONDS]    Redraw actors (default), pipeline, lag, status
                            or cluster in place every SECONDS (0.2..3600,
                            default 1) until Enter or Ctrl-C; needs a
                            terminal.
  help                      Print this help.
flush, pause, resume and rebuild-cache are ping-processor commands; other
nodes answer "unimplemented". Commands print one line.

Without a command pingctl opens a console on the node: a prompt such as
"ping-processor@127.0.0.1:9464> " with line editing and history, where
every command above is typed without "pingctl admin", plus "history"
(the lines entered in this session) and "quit" (also "exit" or Ctrl-D).
Errors are printed and the prompt continues. With stdin not a terminal
the console reads one command per line, without prompt.

Options (before or after the command):
  --node HOST:PORT          The node's admin endpoint; IPv6 as [ADDR]:PORT.
                            Default: $PINGCTL_ADMIN_NODE if set, else
                            127.0.0.1:9464.
  --token-file F            Send the bearer token read from F (trailing
                            blanks and newlines ignored). Nodes whose admin
                            port is not on loopback require one.
                            Default: $PING_ADMIN_TOKEN if set, else no token.
  -o, --output text|json    json: each answer as protobuf JSON, one line
                            (the admin API's own message). Default: text.
  --timeout-ms N            Per-call deadline in ms (N >= 1); also bounds
                            connecting. Default: 5000 (rebuild-cache: 120000).
  -h, --help                Print this help and exit.
Options also accept the form --name=value.

Exit status:
  0 success, 1 RPC or network error (or a flush that did not complete),
  2 usage error or unreadable token file. The console exits 0.
)";
}

std::string console_help_text() {
  return R"(Commands:
  status                   node, version, uptime, readiness, configuration
  actors                   actors with mailbox, msg/s, handled, restarts, backlog
  pipeline                 stages with throughput, latency and backlog
  lag                      consumer lag per partition (ping-processor)
  minutes [N]              pings per minute over the last N minutes (default 15)
  flush                    flush pending counter deltas to the cache
  pause | resume           stop / restart consuming from Kafka
  rebuild-cache            recount the cache from PostgreSQL
  log-level LEVEL          debug, info, warn or error
  cluster                  every node, the pipeline end to end, partition
                           owners, exactness, rebalances
  cluster ACTION NODE      flush|pause|resume|rebuild-cache on NODE
  watch [WHAT] [SECONDS]   redraw actors|pipeline|lag|status|cluster every SECONDS
                           (default: actors, 1); Enter or Ctrl-C stops
  history                  the lines entered in this session
  help                     this list
  quit | exit              leave (also Ctrl-D)
)";
}

bool check_token(const std::string& text, std::string& token, std::string& error) {
  token = text;
  while (!token.empty()
         && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '
             || token.back() == '\t'))
    token.pop_back();
  if (token.empty()) {
    error = "is empty";
    return false;
  }
  for (unsigned char c : token)
    if (c <= 0x20 || c >= 0x7f) {
      error = "holds more than one token (blanks, line breaks or non-ASCII characters)";
      token.clear();
      return false;
    }
  return true;
}

} // namespace ping::pingctl
