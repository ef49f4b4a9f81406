// admin/metrics_text.*: the Prometheus text of a registry. No server.
#define BOOST_TEST_MODULE admin_metrics_text
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>

#include "admin/metrics_text.hpp"

using namespace ping;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_empty_registry_exports_no_samples) {
  telemetry::registry reg;
  auto text = admin::render_metrics(reg);
  BOOST_TEST(text.find("ping_actor_up{") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(counters_and_gauges_carry_the_prefix_and_their_values) {
  telemetry::registry reg;
  reg.add_counter("gateway_pings_accepted_total", "help") += 42;
  reg.add_gauge("publisher_outbox_backlog", "help") = -3;
  auto text = admin::render_metrics(reg);
  BOOST_TEST(has_line(text, "# TYPE ping_gateway_pings_accepted_total counter"));
  BOOST_TEST(has_line(text, "ping_gateway_pings_accepted_total 42"));
  BOOST_TEST(has_line(text, "# TYPE ping_publisher_outbox_backlog gauge"));
  BOOST_TEST(has_line(text, "ping_publisher_outbox_backlog -3"));
}

BOOST_AUTO_TEST_CASE(families_are_labelled_gauges) {
  telemetry::registry reg;
  reg.add_family("processor_consumer_lag", "help", "partition").set({{"0", 5}, {"3", 7}});
  auto text = admin::render_metrics(reg);
  BOOST_TEST(has_line(text, "ping_processor_consumer_lag{partition=\"0\"} 5"));
  BOOST_TEST(has_line(text, "ping_processor_consumer_lag{partition=\"3\"} 7"));
}

BOOST_AUTO_TEST_CASE(histograms_export_cumulative_buckets_sum_and_count) {
  telemetry::registry reg;
  auto& h = reg.add_latency("persistence_commit_seconds", "help");
  h.observe(0.0004); // first bucket (0.0005)
  h.observe(0.003);  // 0.005
  h.observe(20);     // +Inf
  auto text = admin::render_metrics(reg);
  BOOST_TEST(has_line(text, "# TYPE ping_persistence_commit_seconds histogram"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_bucket{le=\"0.0005\"} 1"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_bucket{le=\"0.002\"} 1"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_bucket{le=\"0.005\"} 2"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_bucket{le=\"10\"} 2"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_bucket{le=\"+Inf\"} 3"));
  BOOST_TEST(has_line(text, "ping_persistence_commit_seconds_count 3"));
}

BOOST_AUTO_TEST_CASE(actor_stats_are_labelled_by_actor_and_kind) {
  telemetry::registry reg;
  auto a = reg.actor("persistence.writer-1", "detached", "persistence");
  a->handled = 9;
  a->restarts = 2;
  a->mailbox = 4;
  a->backlog = 11;
  a->up = false;
  auto text = admin::render_metrics(reg);
  auto labels = std::string{"{actor=\"persistence.writer-1\",kind=\"detached\"}"};
  BOOST_TEST(has_line(text, "ping_actor_messages_handled_total" + labels + " 9"));
  BOOST_TEST(has_line(text, "ping_actor_restarts_total" + labels + " 2"));
  BOOST_TEST(has_line(text, "ping_actor_mailbox_depth" + labels + " 4"));
  BOOST_TEST(has_line(text, "ping_actor_backlog" + labels + " 11"));
  BOOST_TEST(has_line(text, "ping_actor_up" + labels + " 0"));
}

BOOST_AUTO_TEST_CASE(series_of_one_name_form_one_family_with_its_help) {
  telemetry::registry reg;
  reg.add_counter("processor_repairs_total", "Counter repairs, by reason.", {{"reason", "gap"}})
    += 2;
  reg.add_counter("processor_repairs_total", "Counter repairs, by reason.", {{"reason", "lost"}});
  reg
    .add_latency("rpc_request_duration_seconds", "Seconds per call.",
                 {{"protocol", "grpc"}, {"method", "Ping"}, {"code", "ok"}})
    .observe(0.001);
  auto text = admin::render_metrics(reg);
  BOOST_TEST(has_line(text, "# HELP ping_processor_repairs_total Counter repairs, by reason."));
  BOOST_TEST(text.find("# TYPE ping_processor_repairs_total counter")
             == text.rfind("# TYPE ping_processor_repairs_total counter"));
  BOOST_TEST(has_line(text, "ping_processor_repairs_total{reason=\"gap\"} 2"));
  BOOST_TEST(has_line(text, "ping_processor_repairs_total{reason=\"lost\"} 0"));
  BOOST_TEST(has_line(text, "ping_rpc_request_duration_seconds_count{code=\"ok\",method=\"Ping\","
                            "protocol=\"grpc\"} 1"));
}

BOOST_AUTO_TEST_CASE(build_info_and_process_metrics_are_always_there) {
  telemetry::registry reg;
  auto text = admin::render_metrics(reg);
  BOOST_TEST(text.find("\nping_build_info{revision=\"") != std::string::npos, text);
  for (auto* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                     "process_virtual_memory_bytes ", "process_open_fds ", "process_max_fds ",
                     "process_start_time_seconds "})
    BOOST_TEST(text.find(std::string{"\n"} + name) != std::string::npos, name);
  BOOST_TEST(text.find("\nprocess_resident_memory_bytes 0\n") == std::string::npos);
}
