// actors/common/telemetry.*: registration is idempotent and typed; lookups
// by name never create anything.
#define BOOST_TEST_MODULE telemetry
#include <boost/test/unit_test.hpp>

#include <stdexcept>

#include "actors/common/telemetry.hpp"

using namespace ping::telemetry;

BOOST_AUTO_TEST_CASE(registering_again_returns_the_same_metric) {
  registry reg;
  auto& a = reg.add_counter("x_total", "help");
  a += 3;
  auto& b = reg.add_counter("x_total", "help");
  BOOST_TEST(&a == &b);
  BOOST_TEST(reg.counter_at("x_total").load() == 3u);
  BOOST_TEST(&reg.add_latency("x_seconds", "help") == &reg.add_latency("x_seconds", "help"));
  BOOST_TEST(reg.actor("a", "pool") == reg.actor("a", "pool"));
}

BOOST_AUTO_TEST_CASE(a_name_has_one_kind) {
  registry reg;
  reg.add_counter("x", "help");
  BOOST_CHECK_THROW(reg.add_gauge("x", "help"), std::logic_error);
  BOOST_CHECK_THROW(reg.add_latency("x", "help"), std::logic_error);
  reg.add_latency("h", "help");
  BOOST_CHECK_THROW(reg.add_sizes("h", "help"), std::logic_error); // other buckets
  reg.add_family("f", "help", "partition");
  BOOST_CHECK_THROW(reg.add_family("f", "help", "topic"), std::logic_error);
  BOOST_CHECK_THROW(reg.add_counter("f", "help"), std::logic_error);
}

BOOST_AUTO_TEST_CASE(unknown_names_on_lookup_are_errors_and_create_nothing) {
  registry reg;
  reg.add_gauge("g", "help");
  BOOST_CHECK_THROW(reg.counter_at("nope"), std::logic_error);
  BOOST_CHECK_THROW(reg.counter_at("g"), std::logic_error); // a gauge, not a counter
  BOOST_CHECK_THROW(reg.gauge_at("nope"), std::logic_error);
  BOOST_CHECK_THROW(reg.histogram_at("nope"), std::logic_error);
  BOOST_CHECK_THROW(reg.family_at("nope"), std::logic_error);
  BOOST_CHECK_THROW(reg.actor_at("nope"), std::logic_error);
  BOOST_TEST(reg.counters().empty());
  BOOST_TEST(reg.gauges().size() == 1u);
  BOOST_TEST(reg.actors().empty());
}

BOOST_AUTO_TEST_CASE(a_family_is_replaced_whole) {
  registry reg;
  auto& f = reg.add_family("lag", "help", "partition");
  f.set({{"0", 1}, {"1", 2}});
  f.set({{"1", 5}});
  auto values = reg.family_at("lag").values();
  BOOST_TEST(values.size() == 1u);
  BOOST_TEST(values[0].first == "1");
  BOOST_TEST(values[0].second == 5);
  auto all = reg.families();
  BOOST_TEST(all.size() == 1u);
  BOOST_TEST(all[0].second.label == "partition");
}

BOOST_AUTO_TEST_CASE(one_name_holds_series_told_apart_by_labels) {
  registry reg;
  auto& gap = reg.add_counter("repairs_total", "Repairs by reason.", {{"reason", "gap"}});
  auto& lost = reg.add_counter("repairs_total", "ignored: the first text wins",
                               {{"reason", "lost"}});
  BOOST_TEST(&gap != &lost);
  BOOST_TEST(&reg.add_counter("repairs_total", "x", {{"reason", "gap"}}) == &gap);
  gap += 2;
  BOOST_TEST(reg.counter_at("repairs_total", {{"reason", "gap"}}).load() == 2u);
  BOOST_TEST(reg.counter_at("repairs_total", {{"reason", "lost"}}).load() == 0u);
  BOOST_CHECK_THROW(reg.counter_at("repairs_total"), std::logic_error); // no unlabelled series
  BOOST_CHECK_THROW(reg.add_gauge("repairs_total", "x", {{"reason", "new"}}), std::logic_error);
  BOOST_TEST(reg.help("repairs_total") == "Repairs by reason.");
  BOOST_TEST(reg.counters().size() == 2u);
  reg.add_latency("h_seconds", "x", {{"code", "ok"}});
  BOOST_CHECK_THROW(reg.add_sizes("h_seconds", "x", {{"code", "internal"}}), std::logic_error);
}
