#include "apps/common/options.hpp"

#include <cstdlib>
#include <iostream>

#include <caf/atom.hpp>

#include "actors/common/build_info.hpp"
#include "actors/common/log.hpp"
#include "apps/common/files.hpp"

namespace ping::apps {

options::options(std::string program, std::string summary)
  : program_(std::move(program)), summary_(std::move(summary)) {
  // CAF's work-stealing workers poll and then sleep in steps of up to 10 ms
  // when idle, so a message to an idle system can wait that long: poison for
  // a pipeline of request/reply hops. The sharing policy wakes a worker at
  // once (condition variable). Still configurable: --scheduler.policy.
  set("scheduler.policy", caf::atom("sharing"));
}

void options::add_common(std::string& kafka_bootstrap) {
  kafka_bootstrap_ = &kafka_bootstrap;
  add("kafka", bootstrap_file, "bootstrap-file",
      "read the bootstrap servers from this file (line bootstrap=...), e.g. ping-devbroker's info "
      "file");
  add("admin", admin.address, "address",
      "admin endpoint address (/healthz, /readyz, /metrics); non-loopback needs a token");
  add("admin", admin.port, "port", "admin endpoint port (0 = any free port)");
  add("admin", admin.token, "token", "bearer token for the admin endpoint", true);
  add("admin", admin.token_file, "token-file", "file holding the admin bearer token");
  add("admin", admin.read_token_file, "read-token-file",
      "file holding a second token that may read but not run commands");
  add("admin", admin.max_connections, "max-connections", "admin connections open at once");
  add("admin", admin.header_timeout, "header-timeout", "time to receive an admin request head");
  add("admin", admin.body_timeout, "body-timeout", "time to receive an admin request body");
  add("admin", admin.peers, "peers",
      "cluster view: admin endpoints of the other nodes, host:port,host:port");
  add("admin", admin.peers_dns, "peers-dns",
      "cluster view: DNS names resolving to every node's admin endpoint, name:port,...");
  add("admin", admin.peers_refresh, "peers-refresh", "how often peers-dns is resolved again");
  add("admin", admin.peer_timeout, "peer-timeout",
      "deadline of a peer's answers in the cluster view");
  add("admin", admin.max_peers, "max-peers", "most peers the cluster view calls");
  add("global", log_level, "log-level", "debug, info, warn or error");
  add("global", log_format, "log-format", "logfmt or json (one JSON object per line)");

  using namespace std::chrono_literals;
  bound("admin", admin.max_connections, "max-connections", 1, 1 << 16);
  bound("admin", admin.header_timeout, "header-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("admin", admin.body_timeout, "body-timeout", caf::timespan{1ms}, caf::timespan{1h});
  bound("admin", admin.peers_refresh, "peers-refresh", caf::timespan{1s}, caf::timespan{24h});
  bound("admin", admin.peer_timeout, "peer-timeout", caf::timespan{1ms}, caf::timespan{1min});
  bound("admin", admin.max_peers, "max-peers", 1, 4096);
}

std::string options::env_name(std::string_view category, std::string_view name) {
  std::string out = "PING_";
  auto append = [&](std::string_view s) {
    for (char c : s)
      out.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  };
  if (category != "global") {
    append(category);
    out.push_back('_');
  }
  append(name);
  return out;
}

void options::print_help() const {
  std::cout << "usage: " << program_ << " [--config-file=FILE] [--OPTION=VALUE...]\n\n"
            << summary_ << "\n\nOptions (flag, default, environment variable):\n";
  for (auto& e : entries_) {
    auto flag = e.category == "global" ? "--" + e.name : "--" + e.category + "." + e.name;
    std::cout << "  " << flag << "\n      " << e.description
              << "\n      default: " << e.default_text << "   env: " << env_name(e.category, e.name)
              << "\n";
  }
  std::cout << "  --version\n      print the version (from git at build time) and exit\n"
            << "\nA config file uses CAF's INI format, one [category] per group.\n"
            << "Precedence: defaults < config file < environment < flags.\n";
}

std::optional<int> options::load(int argc, char** argv) {
  caf::actor_system_config::string_list args;
  for (auto& e : entries_)
    if (auto* value = std::getenv(env_name(e.category, e.name).c_str())) {
      auto flag = e.category == "global" ? "--" + e.name : "--" + e.category + "." + e.name;
      args.push_back(flag + "=" + value);
    }
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h" || a == "-?") {
      print_help();
      return 0;
    }
    if (a == "--version") {
      std::cout << program_ << " " << build::version() << " (" << build::revision() << ")\n";
      return 0;
    }
    args.emplace_back(a);
  }
  // CAF 0.17 accepts only bare flags for bool options; take `--flag=VALUE`
  // (as environment variables produce) ourselves and apply it after parsing.
  std::vector<std::pair<const entry*, bool>> bools;
  for (auto it = args.begin(); it != args.end();) {
    auto eq = it->find('=');
    const entry* match = nullptr;
    if (it->rfind("--", 0) == 0 && eq != std::string::npos)
      for (auto& e : entries_) {
        auto flag = e.category == "global" ? "--" + e.name : "--" + e.category + "." + e.name;
        if (e.set_bool && it->compare(0, eq, flag) == 0 && flag.size() == eq)
          match = &e;
      }
    if (!match) {
      ++it;
      continue;
    }
    auto value = it->substr(eq + 1);
    for (auto& c : value)
      c = static_cast<char>(std::tolower(c));
    if (value == "true" || value == "1" || value == "yes" || value == "on") {
      bools.emplace_back(match, true);
    } else if (value == "false" || value == "0" || value == "no" || value == "off") {
      bools.emplace_back(match, false);
    } else {
      std::cerr << program_ << ": " << *it << ": expected true or false\n";
      return 2;
    }
    it = args.erase(it);
  }
  if (auto err = parse(std::move(args))) {
    std::cerr << program_ << ": " << to_string(err) << "\n"
              << "try '" << program_ << " --help'\n";
    return 2;
  }
  if (cli_helptext_printed)
    return 0;
  for (auto& [e, value] : bools)
    e->set_bool(value);
  for (auto& check : checks_)
    if (auto problem = check(); !problem.empty()) {
      std::cerr << program_ << ": " << problem << "\n";
      return 2;
    }
  log::level lvl;
  if (!log::parse_level(log_level, lvl)) {
    std::cerr << program_ << ": bad log level '" << log_level << "'\n";
    return 2;
  }
  log::set_level(lvl);
  log::format fmt;
  if (!log::parse_format(log_format, fmt)) {
    std::cerr << program_ << ": bad log format '" << log_format << "' (logfmt or json)\n";
    return 2;
  }
  log::set_format(fmt);
  if (kafka_bootstrap_ && !bootstrap_file.empty()) {
    auto b = read_key(bootstrap_file, "bootstrap");
    if (b.empty()) {
      std::cerr << program_ << ": no bootstrap= line in " << bootstrap_file << "\n";
      return 2;
    }
    *kafka_bootstrap_ = b;
  }
  if (!remainder.empty()) {
    std::cerr << program_ << ": unexpected argument '" << remainder.front() << "'\ntry '"
              << program_ << " --help'\n";
    return 2;
  }
  return std::nullopt;
}

std::vector<std::string> options::describe() const {
  std::vector<std::string> out;
  for (auto& e : entries_) {
    auto key = e.category == "global" ? e.name : e.category + "." + e.name;
    out.push_back(key + "=" + (e.secret ? std::string{"***"} : e.current()));
  }
  return out;
}

} // namespace ping::apps
