#define BOOST_TEST_MODULE pingctl_admin
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "apps/pingctl/admin_command.hpp"
#include "apps/pingctl/options.hpp"

using namespace ping::pingctl;
using namespace std::chrono_literals;

namespace {

admin_parse_result parse(std::vector<std::string> args, const char* env = nullptr) {
  return parse_admin_args(args, env);
}

command_parse console(const std::string& line) {
  return parse_admin_command(split_words(line), true);
}

} // namespace

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(defaults_and_the_environment) {
  auto r = parse({"status"});
  BOOST_TEST(r.error == "");
  BOOST_TEST(r.inv.node == "127.0.0.1:9464");
  BOOST_TEST(r.inv.host == "127.0.0.1");
  BOOST_TEST(r.inv.port == "9464");
  BOOST_REQUIRE(r.inv.cmd);
  BOOST_TEST((r.inv.cmd->verb == admin_verb::status));
  BOOST_TEST(!r.inv.token_file);
  BOOST_TEST(parse({"status"}, "127.0.0.1:9465").inv.node == "127.0.0.1:9465");
  BOOST_TEST(parse({"status"}, "").inv.node == "127.0.0.1:9464");
  BOOST_TEST(parse({"--node", "[::1]:9470", "status"}, "127.0.0.1:9465").inv.host == "::1");
}

BOOST_AUTO_TEST_CASE(no_command_opens_the_console) {
  auto r = parse({"--node=127.0.0.1:9465", "--token-file", "/run/token"});
  BOOST_TEST(r.error == "");
  BOOST_TEST(!r.inv.cmd);
  BOOST_TEST(r.inv.token_file.value_or("") == "/run/token");
}

BOOST_AUTO_TEST_CASE(options_go_before_or_after_the_command) {
  auto r = parse({"minutes", "--node", "127.0.0.1:1", "30", "--timeout-ms=250"});
  BOOST_TEST(r.error == "");
  BOOST_REQUIRE(r.inv.cmd);
  BOOST_TEST(r.inv.cmd->minutes == 30);
  BOOST_TEST(r.inv.node == "127.0.0.1:1");
  BOOST_TEST(admin_timeout(r.inv, admin_verb::minutes).count() == 250);
}

BOOST_AUTO_TEST_CASE(rebuild_cache_waits_longer_unless_told) {
  BOOST_TEST(admin_timeout(parse({"rebuild-cache"}).inv, admin_verb::rebuild_cache)
             == default_rebuild_timeout);
  BOOST_TEST(admin_timeout(parse({"status"}).inv, admin_verb::status) == default_admin_timeout);
  auto r = parse({"--timeout-ms", "900", "rebuild-cache"});
  BOOST_TEST(admin_timeout(r.inv, admin_verb::rebuild_cache).count() == 900);
}

BOOST_AUTO_TEST_CASE(usage_errors) {
  BOOST_TEST(parse({"--node", "localhost", "status"}).error.find("HOST:PORT") != std::string::npos);
  BOOST_TEST(parse({"--node"}).error == "option --node needs a value");
  BOOST_TEST(parse({"--frob", "status"}).error == "unknown option '--frob'");
  BOOST_TEST(parse({"-v"}).error == "unknown option '-v'");
  BOOST_TEST(parse({"--timeout-ms", "0", "status"}).error.find("--timeout-ms") == 0);
  BOOST_TEST(parse({"--token-file=", "status"}).error == "--token-file needs a file name");
  BOOST_TEST(parse({"stauts"}).error == "unknown command 'stauts'");
  BOOST_TEST(parse({"status", "now"}).error == "status takes no arguments, got 'now'");
  BOOST_TEST(parse({"minutes", "0"}).error.find("1 to 1440") != std::string::npos);
  BOOST_TEST(parse({"minutes", "1441"}).error.find("1 to 1440") != std::string::npos);
  BOOST_TEST(parse({"minutes", "x"}).error != "");
  BOOST_TEST(parse({"log-level"}).error.find("LEVEL") != std::string::npos);
  BOOST_TEST(parse({"log-level", "debug", "info"}).error != "");
  // Console words are not commands of the command line.
  BOOST_TEST(parse({"history"}).error == "unknown command 'history'");
  BOOST_TEST(parse({"quit"}).error == "unknown command 'quit'");
}

BOOST_AUTO_TEST_CASE(help) {
  BOOST_TEST(parse({"--help"}).inv.help);
  BOOST_TEST(parse({"--node", "bad", "--help"}).error == ""); // help wins
  BOOST_TEST((parse({"help"}).inv.cmd->verb == admin_verb::help));
  BOOST_TEST(admin_usage_text().find("rebuild-cache") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(console_lines)

BOOST_AUTO_TEST_CASE(words_are_split_at_blanks) {
  BOOST_TEST((split_words("  minutes\t 30 ") == std::vector<std::string>{"minutes", "30"}));
  BOOST_TEST(split_words("   ").empty());
}

BOOST_AUTO_TEST_CASE(console_words) {
  BOOST_TEST((console("history").cmd.verb == admin_verb::history));
  BOOST_TEST((console("quit").cmd.verb == admin_verb::quit));
  BOOST_TEST((console("exit").cmd.verb == admin_verb::quit));
  BOOST_TEST((console("log-level warn").cmd.level == "warn"));
  BOOST_TEST((console("minutes").cmd.minutes == default_minutes));
  BOOST_TEST(console("").error == "missing command");
  BOOST_TEST(!is_remote(admin_verb::watch));
  BOOST_TEST(is_remote(admin_verb::rebuild_cache));
  BOOST_TEST(verb_word(admin_verb::rebuild_cache) == "rebuild-cache");
  auto words = command_words(true);
  BOOST_TEST(std::count(words.begin(), words.end(), "history") == 1);
  auto cli = command_words(false);
  BOOST_TEST(std::count(cli.begin(), cli.end(), "history") == 0);
}

BOOST_AUTO_TEST_CASE(watch_takes_a_target_and_seconds_in_any_order) {
  auto plain = console("watch");
  BOOST_TEST(plain.error == "");
  BOOST_TEST((plain.cmd.watch_target == admin_verb::actors));
  BOOST_TEST(plain.cmd.watch_interval == 1000ms);
  auto lag = console("watch lag 2");
  BOOST_TEST((lag.cmd.watch_target == admin_verb::lag));
  BOOST_TEST(lag.cmd.watch_interval == 2000ms);
  auto fast = console("watch 0.5 pipeline");
  BOOST_TEST((fast.cmd.watch_target == admin_verb::pipeline));
  BOOST_TEST(fast.cmd.watch_interval == 500ms);
  BOOST_TEST((console("watch status").cmd.watch_target == admin_verb::status));
  BOOST_TEST(console("watch flush").error != "");
  BOOST_TEST(console("watch lag actors").error != "");
  BOOST_TEST(console("watch 1 2").error != "");
  BOOST_TEST(console("watch 0.1").error.find("0.2 to 3600") != std::string::npos);
  BOOST_TEST(console("watch 4000").error != "");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(cluster_views_and_forwards_commands) {
  auto view = parse({"cluster"});
  BOOST_TEST(view.error == "");
  BOOST_REQUIRE(view.inv.cmd);
  BOOST_TEST((view.inv.cmd->verb == admin_verb::cluster));
  BOOST_TEST(!view.inv.cmd->cluster_action);
  auto pause = parse({"cluster", "pause", "10.0.0.7:9464"});
  BOOST_TEST(pause.error == "");
  BOOST_TEST((*pause.inv.cmd->cluster_action == admin_verb::pause));
  BOOST_TEST(pause.inv.cmd->cluster_node == "10.0.0.7:9464");
  auto rebuild = parse({"cluster", "rebuild-cache", "10.0.0.7:9464"});
  BOOST_TEST((admin_timeout(rebuild.inv, *rebuild.inv.cmd) == default_rebuild_timeout));
  BOOST_TEST((admin_timeout(pause.inv, *pause.inv.cmd) == default_admin_timeout));
  for (auto bad : std::vector<std::vector<std::string>>{
         {"cluster", "pause"}, {"cluster", "status", "a:1"}, {"cluster", "pause", "a:1", "b:2"}})
    BOOST_TEST(parse(bad).error
               == "cluster takes nothing, or flush|pause|resume|rebuild-cache NODE");
  auto watch = console("watch cluster 2");
  BOOST_TEST(watch.error == "");
  BOOST_TEST((watch.cmd.watch_target == admin_verb::cluster));
}

// -h everywhere, -o json on every command (issue 20).
BOOST_AUTO_TEST_SUITE(short_options_and_output)

BOOST_AUTO_TEST_CASE(admin_takes_h_and_o) {
  BOOST_TEST(parse({"-h"}).inv.help);
  BOOST_TEST(parse({"status", "-h"}).inv.help);
  auto r = parse({"-o", "json", "lag"});
  BOOST_TEST(r.error == "");
  BOOST_TEST(r.inv.json);
  BOOST_TEST(parse({"lag", "-ojson"}).inv.json);
  BOOST_TEST(parse({"--output=json", "status"}).inv.json);
  BOOST_TEST(!parse({"-o", "text", "status"}).inv.json);
  BOOST_TEST(parse({"-o", "yaml", "status"}).error == "-o needs text or json, got 'yaml'");
  BOOST_TEST(!parse({"status"}).inv.json);
}

BOOST_AUTO_TEST_CASE(the_main_command_line_takes_h_and_o) {
  auto main_parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "pingctl");
    return parse_args(static_cast<int>(args.size()), args.data(), nullptr);
  };
  BOOST_TEST(main_parse({"-h"}).opts.help);
  BOOST_TEST(main_parse({"count", "-h"}).opts.help);
  auto r = main_parse({"-o", "json", "count"});
  BOOST_TEST(r.error == "");
  BOOST_TEST(r.opts.json);
  BOOST_TEST(main_parse({"ping", "--output=json"}).opts.json);
  BOOST_TEST(main_parse({"ping", "-ojson", "--requests", "5"}).opts.json);
  BOOST_TEST(main_parse({"-o", "xml", "ping"}).error == "-o needs text or json, got 'xml'");
  BOOST_TEST(!main_parse({"ping"}).opts.json);
}

BOOST_AUTO_TEST_CASE(a_token_from_the_environment_follows_the_file_rules) {
  std::string token, error;
  BOOST_TEST(check_token("s3cret\n", token, error));
  BOOST_TEST(token == "s3cret");
  BOOST_TEST(!check_token("two tokens", token, error));
  BOOST_TEST(!check_token("  \n", token, error));
  BOOST_TEST(error == "is empty");
}

BOOST_AUTO_TEST_SUITE_END()
