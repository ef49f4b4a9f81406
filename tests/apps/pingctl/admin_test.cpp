#define BOOST_TEST_MODULE pingctl_admin
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "apps/pingctl/admin_command.hpp"
#include "apps/pingctl/admin_format.hpp"

using namespace ping::pingctl;
using namespace std::chrono_literals;

namespace {

admin_parse_result parse(std::vector<std::string> args, const char* env = nullptr) {
  return parse_admin_args(args, env);
}

command_parse console(const std::string& line) {
  return parse_admin_command(split_words(line), true);
}

admin_v1::Actor* add_actor(admin_v1::ListActorsResponse& resp, const std::string& name,
                           const std::string& parent, bool up = true) {
  auto* a = resp.add_actors();
  a->set_name(name);
  a->set_parent(parent);
  a->set_kind(parent.empty() ? "pool" : "detached");
  a->set_up(up);
  return a;
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

BOOST_AUTO_TEST_SUITE(formatting)

BOOST_AUTO_TEST_CASE(tables_align_and_trim) {
  text_table t{{{"NAME"}, {"N", text_table::align::right}, {"NOTE"}}};
  t.add_row({"a", "1", ""});
  t.add_row({"bbb", "100", "x"});
  BOOST_TEST(t.render() == "NAME    N  NOTE\n"
                           "a       1\n"
                           "bbb   100  x\n");
}

BOOST_AUTO_TEST_CASE(durations) {
  BOOST_TEST(format_duration_ms(950) == "950ms");
  BOOST_TEST(format_duration_ms(6250) == "6.2s");
  BOOST_TEST(format_duration_ms(306'000) == "5m 06s");
  BOOST_TEST(format_duration_ms(3'723'000) == "1h 02m 03s");
  BOOST_TEST(format_duration_ms(93'784'000) == "1d 02h 03m");
  BOOST_TEST(format_duration_ms(-5) == "0ms");
}

BOOST_AUTO_TEST_CASE(status_is_key_value_lines) {
  admin_v1::GetStatusResponse resp;
  resp.set_binary("ping-processor");
  resp.set_version("0.1.0");
  resp.set_uptime_ms(65'000);
  resp.set_log_level("info");
  resp.set_ready(true);
  resp.add_commands("Flush");
  resp.add_commands("SetLogLevel");
  resp.add_config("a.b=1");
  resp.add_config("postgres.dsn=***");
  auto full = format_status(resp, true);
  BOOST_TEST(full.find("binary:    ping-processor\n") == 0, full);
  BOOST_TEST(full.find("uptime:    1m 05s\n") != std::string::npos, full);
  BOOST_TEST(full.find("ready:     yes\n") != std::string::npos, full);
  BOOST_TEST(full.find("commands:  Flush, SetLogLevel\n") != std::string::npos, full);
  BOOST_TEST(full.find("config:    a.b=1\n           postgres.dsn=***\n") != std::string::npos,
             full);
  BOOST_TEST(format_status(resp, false).find("config") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(actors_are_grouped_under_their_parents) {
  admin_v1::ListActorsResponse resp;
  add_actor(resp, "windowing.window", "windowing")->set_messages_per_second(12.34);
  add_actor(resp, "publisher.relay", "publisher");
  add_actor(resp, "publisher", "");
  add_actor(resp, "windowing.consumer", "windowing", false)->set_restarts(2);
  add_actor(resp, "cache", "");
  auto text = format_actors(resp);
  std::vector<std::string> names;
  for (auto& line : fit_to_screen(text, 0, 0))
    names.push_back(line.substr(0, line.find("  ", line.find_first_not_of(' '))));
  BOOST_TEST((names == std::vector<std::string>{"NAME", "cache", "publisher",
                                                "  publisher.relay", "windowing",
                                                "  windowing.consumer", "  windowing.window",
                                                "5 actors, 1 down, 2 restarts"}),
             text);
  BOOST_TEST(text.find("12.3") != std::string::npos, text);
  BOOST_TEST(text.find(" NO\n") != std::string::npos, text);
  BOOST_TEST(format_actors({}) == "no actors reported\n");
}

BOOST_AUTO_TEST_CASE(parent_cycles_still_list_every_actor) {
  admin_v1::ListActorsResponse resp;
  add_actor(resp, "a", "b");
  add_actor(resp, "b", "a");
  auto text = format_actors(resp);
  BOOST_TEST(text.find("\na ") != std::string::npos, text);
  BOOST_TEST(text.find("b ") != std::string::npos, text);
  BOOST_TEST(text.find("2 actors") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(lag_is_sorted_with_a_total) {
  admin_v1::GetLagResponse resp;
  for (int p : {2, 0, 1}) {
    auto* part = resp.add_partitions();
    part->set_partition(p);
    part->set_end_offset(100 + p);
    part->set_position(90);
    part->set_lag(10 + p);
  }
  resp.set_total_lag(33);
  resp.set_paused(true);
  BOOST_TEST(format_lag(resp) == "PARTITION  END OFFSET  POSITION  LAG\n"
                                 "0                 100        90   10\n"
                                 "1                 101        90   11\n"
                                 "2                 102        90   12\n"
                                 "TOTAL                             33\n"
                                 "consumption paused\n");
  BOOST_TEST(format_lag({}) == "no partitions assigned; consumption running\n");
}

BOOST_AUTO_TEST_CASE(pipeline_shows_rates_and_latencies) {
  admin_v1::GetPipelineResponse resp;
  auto* s = resp.add_stages();
  s->set_name("consume");
  s->set_description("records fetched");
  s->set_total(1000);
  s->set_per_second(250.5);
  s->set_latency_p50_ms(0.42);
  s->set_latency_p99_ms(31.25);
  resp.add_stages()->set_name("count");
  resp.set_window_seconds(10);
  auto text = format_pipeline(resp);
  BOOST_TEST(text == "STAGE    TOTAL  PER S  P50 MS  P99 MS  BACKLOG  DESCRIPTION\n"
                     "consume   1000    250    0.42    31.2        0  records fetched\n"
                     "count        0      0       -       -        0\n"
                     "rates and latencies over the last 10s\n");
}

BOOST_AUTO_TEST_CASE(minutes_draw_bars_scaled_to_the_busiest) {
  admin_v1::GetMinuteCountsResponse resp;
  for (auto [minute, count] : {std::pair{29'000'000, 0}, {29'000'001, 10}, {29'000'002, 1}}) {
    auto* m = resp.add_minutes();
    m->set_minute(minute);
    m->set_count(count);
  }
  resp.set_source("postgres");
  auto text = format_minutes(resp, 10);
  BOOST_TEST(text == "MINUTE (UTC)      COUNT\n"
                     "2025-02-19 21:20      0\n"
                     "2025-02-19 21:21     10  ##########\n"
                     "2025-02-19 21:22      1  #\n"
                     "3 minutes, 11 pings, from PostgreSQL\n");
}

BOOST_AUTO_TEST_CASE(command_results_are_one_line) {
  admin_v1::FlushResponse flush;
  flush.set_partitions(4);
  flush.set_complete(true);
  BOOST_TEST(format_flush(flush) == "flushed: the deltas of 4 partitions are in the cache\n");
  flush.set_complete(false);
  BOOST_TEST(format_flush(flush).find("flush incomplete") == 0);
  admin_v1::PauseConsumptionResponse pause;
  pause.set_paused(true);
  pause.set_partitions(1);
  BOOST_TEST(format_pause(pause) == "consumption paused on 1 partition; lag grows until resume\n");
  admin_v1::RebuildCacheResponse rebuild;
  rebuild.set_partitions(2);
  rebuild.set_duration_ms(1500);
  BOOST_TEST(format_rebuild(rebuild)
             == "cache rebuilt: 2 partitions recounted from PostgreSQL in 1.5s\n");
  admin_v1::SetLogLevelResponse level;
  level.set_level("debug");
  BOOST_TEST(format_log_level(level) == "log level is now debug\n");
}

BOOST_AUTO_TEST_CASE(failures_read_as_the_operator_needs_them) {
  admin_failure f;
  f.method = "GetStatus";
  f.node = "127.0.0.1:1";
  f.code = "unavailable";
  f.transport = http_failure::connect_failed;
  f.transport_detail = "Connection refused";
  BOOST_TEST(describe_admin_failure(f)
             == "cannot reach the admin endpoint at 127.0.0.1:1: connection refused");
  f.transport = http_failure::timed_out;
  f.timeout = 300ms;
  BOOST_TEST(describe_admin_failure(f)
             == "the admin endpoint at 127.0.0.1:1 did not answer GetStatus within 300 ms"
                " (deadline_exceeded)");
  f.transport = http_failure::interrupted;
  BOOST_TEST(describe_admin_failure(f).find("interrupted: stopped waiting for GetStatus") == 0);
  f.transport = http_failure::none;
  f.code = "unauthenticated";
  f.token_sent = true;
  BOOST_TEST(describe_admin_failure(f) == "the node refused the token (unauthenticated)");
  f.token_sent = false;
  BOOST_TEST(describe_admin_failure(f).find("--token-file") != std::string::npos);
  f.method = "Flush";
  f.code = "unimplemented";
  f.message = "Flush is served by ping-processor";
  BOOST_TEST(describe_admin_failure(f) == "Flush is served by ping-processor (unimplemented)");
  f.code = "invalid_argument";
  f.method = "SetLogLevel";
  f.message = "level must be debug, info, warn or error";
  BOOST_TEST(describe_admin_failure(f)
             == "SetLogLevel failed: level must be debug, info, warn or error (invalid_argument)");
}

BOOST_AUTO_TEST_CASE(watch_frames_fit_the_screen) {
  auto header = watch_header("ping-processor@127.0.0.1:9464", "actors", "12:00:03", 3, 1000ms);
  BOOST_TEST(header.find("ping-processor@127.0.0.1:9464  actors  12:00:03  refresh #3") == 0,
             header);
  BOOST_TEST(watch_header("n", "lag", "t", 1, 500ms).find("every 0.5s") != std::string::npos);
  auto lines = fit_to_screen("a\nb\nc\nd\n", 3, 80);
  BOOST_TEST((lines == std::vector<std::string>{"a", "b", "... 2 more lines (enlarge the terminal)"}));
  BOOST_TEST((fit_to_screen("abcdef\n", 5, 3) == std::vector<std::string>{"abc"}));
}

BOOST_AUTO_TEST_SUITE_END()
