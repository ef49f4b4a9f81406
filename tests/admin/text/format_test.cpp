// admin/text/format.*: the admin API's answers as a terminal shows them.
#define BOOST_TEST_MODULE admin_text_format
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "admin/text/format.hpp"

using namespace ping::admin::text;
using connectrpc::http_failure;
using namespace std::chrono_literals;
namespace admin_v1 = ping::admin::v1;

namespace {

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

BOOST_AUTO_TEST_SUITE(formatting)

BOOST_AUTO_TEST_CASE(tables_align_and_trim) {
  text_table t{{{"NAME"}, {"N", text_table::align::right}, {"NOTE"}}};
  t.add_row({"a", "1", ""});
  t.add_row({"bbb", "100", "x"});
  BOOST_TEST(t.render()
             == "NAME    N  NOTE\n"
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
  BOOST_TEST((names
              == std::vector<std::string>{"NAME", "cache", "publisher", "  publisher.relay",
                                          "windowing", "  windowing.consumer", "  windowing.window",
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
  BOOST_TEST(format_lag(resp)
             == "PARTITION  END OFFSET  POSITION  LAG\n"
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
  BOOST_TEST(text
             == "STAGE    TOTAL  PER S  P50 MS  P99 MS  BACKLOG  DESCRIPTION\n"
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
  BOOST_TEST(text
             == "MINUTE (UTC)      COUNT\n"
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
  BOOST_TEST(
    (lines == std::vector<std::string>{"a", "b", "... 2 more lines (enlarge the terminal)"}));
  BOOST_TEST((fit_to_screen("abcdef\n", 5, 3) == std::vector<std::string>{"abc"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(cluster_view_lists_nodes_hops_partitions_and_rebalances) {
  ping::admin::v1::GetClusterResponse r;
  auto* self = r.add_nodes();
  self->set_address("10.0.0.1:9464");
  self->set_self(true);
  self->set_up(true);
  self->set_binary("ping-gateway");
  self->set_ready(true);
  self->set_uptime_ms(65000);
  auto* proc = r.add_nodes();
  proc->set_address("10.0.0.2:9464");
  proc->set_up(true);
  proc->set_binary("ping-processor");
  proc->set_ready(true);
  proc->set_paused(true);
  proc->add_partitions(0);
  proc->add_partitions(1);
  proc->set_lag(7);
  auto* down = r.add_nodes();
  down->set_address("10.0.0.3:9464");
  down->set_error("no answer within 1000 ms");
  auto* hop = r.add_pipeline();
  hop->set_name("accept");
  hop->set_per_second(12.5);
  hop->set_latency_p50_ms(1.5);
  hop->set_nodes(1);
  auto* p0 = r.add_partitions();
  p0->set_partition(0);
  p0->set_owner("10.0.0.2:9464");
  p0->add_owners("10.0.0.2:9464");
  p0->set_lag(7);
  auto* p2 = r.add_partitions();
  p2->set_partition(2);
  auto* e0 = r.add_exactness();
  e0->set_partition(0);
  e0->set_head(10);
  e0->set_cache_seq(8);
  e0->set_gap(2);
  e0->set_relay_acked(10);
  auto* e2 = r.add_exactness();
  e2->set_partition(2);
  e2->set_head(3);
  e2->set_cache_seq(-1);
  e2->set_gap(-1);
  r.set_exactness_source("10.0.0.1:9464");
  auto* ev = r.add_rebalances();
  ev->set_time_ms(3723000); // 01:02:03 UTC
  ev->set_node("10.0.0.2:9464");
  ev->add_assigned(0);
  ev->add_assigned(1);
  r.set_peer_timeout_ms(1000);
  auto text = format_cluster(r);
  BOOST_TEST(text.find("nodes: 2 of 3 up\n") == 0u, text);
  BOOST_TEST(text.find("10.0.0.1:9464 (this)  ping-gateway    yes   yes") != std::string::npos,
             text);
  BOOST_TEST(text.find("0,1") != std::string::npos, text);
  BOOST_TEST(text.find("paused") != std::string::npos, text);
  BOOST_TEST(text.find("DOWN") != std::string::npos, text);
  BOOST_TEST(text.find("no answer within 1000 ms") != std::string::npos, text);
  BOOST_TEST(text.find("accept   12.5    1.50") != std::string::npos, text);
  BOOST_TEST(text.find("partitions (exactness from 10.0.0.1:9464)") != std::string::npos, text);
  BOOST_TEST(text.find("0  10.0.0.2:9464    7    10          8    2           10")
               != std::string::npos,
             text);
  BOOST_TEST(text.find("2  NONE             -     3          ?    ?            0")
               != std::string::npos,
             text);
  BOOST_TEST(text.find("01:02:03    10.0.0.2:9464  0,1       -") != std::string::npos, text);
  BOOST_TEST(text.find("peer deadline 1000 ms") != std::string::npos, text);

  ping::admin::v1::RunNodeCommandResponse c;
  c.set_node("10.0.0.2:9464");
  c.set_method("PauseConsumption");
  c.set_paused(true);
  c.set_partitions(2);
  BOOST_TEST(format_node_command(c) == "consumption paused on 10.0.0.2:9464 (2 partitions)\n");
}
