// actors/common/telemetry.*: registration is idempotent and typed; lookups
// by name never create anything.
#define BOOST_TEST_MODULE telemetry
#include <boost/test/unit_test.hpp>

#include <stdexcept>

#include "actors/common/telemetry.hpp"

using namespace ping::telemetry;

BOOST_AUTO_TEST_CASE(registering_again_returns_the_same_metric) {
  registry reg;
  auto& a = reg.add_counter("x_total");
  a += 3;
  auto& b = reg.add_counter("x_total");
  BOOST_TEST(&a == &b);
  BOOST_TEST(reg.counter_at("x_total").load() == 3u);
  BOOST_TEST(&reg.add_latency("x_seconds") == &reg.add_latency("x_seconds"));
  BOOST_TEST(reg.actor("a", "pool") == reg.actor("a", "pool"));
}

BOOST_AUTO_TEST_CASE(a_name_has_one_kind) {
  registry reg;
  reg.add_counter("x");
  BOOST_CHECK_THROW(reg.add_gauge("x"), std::logic_error);
  BOOST_CHECK_THROW(reg.add_latency("x"), std::logic_error);
  reg.add_latency("h");
  BOOST_CHECK_THROW(reg.add_sizes("h"), std::logic_error); // other buckets
  reg.add_family("f", "partition");
  BOOST_CHECK_THROW(reg.add_family("f", "topic"), std::logic_error);
  BOOST_CHECK_THROW(reg.add_counter("f"), std::logic_error);
}

BOOST_AUTO_TEST_CASE(unknown_names_on_lookup_are_errors_and_create_nothing) {
  registry reg;
  reg.add_gauge("g");
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
  auto& f = reg.add_family("lag", "partition");
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
