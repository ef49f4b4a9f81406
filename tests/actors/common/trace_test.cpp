// actors/common/trace.*: W3C traceparent parsing (the spec's validation
// rules), new traces, and the text forms we echo, log and send to Kafka.
#define BOOST_TEST_MODULE trace
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "actors/common/trace.hpp"

using namespace ping;

namespace {

constexpr const char* example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool parses(std::string_view s) {
  trace::context c;
  return trace::parse(s, c);
}

} // namespace

BOOST_AUTO_TEST_CASE(the_specs_example_parses_and_formats_back) {
  trace::context c;
  BOOST_REQUIRE(trace::parse(example, c));
  BOOST_TEST(c.trace_hi == 0x4bf92f3577b34da6ull);
  BOOST_TEST(c.trace_lo == 0xa3ce929d0e0e4736ull);
  BOOST_TEST(c.span == 0x00f067aa0ba902b7ull);
  BOOST_TEST(c.flags == 0x01);
  BOOST_TEST(trace::view(trace::format(c)) == example);
  BOOST_TEST(trace::view(trace::trace_id_hex(c)) == "4bf92f3577b34da6a3ce929d0e0e4736");
  BOOST_TEST(trace::trace_id_string(c) == "4bf92f3577b34da6a3ce929d0e0e4736");
  BOOST_TEST(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
}

BOOST_AUTO_TEST_CASE(invalid_traceparents_are_refused) {
  BOOST_TEST(!parses(""));
  BOOST_TEST(!parses("garbage"));
  // uppercase hex
  BOOST_TEST(!parses("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  // all-zero trace id or parent id
  BOOST_TEST(!parses("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  // version ff is invalid; version 00 is exactly 55 characters
  BOOST_TEST(!parses("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));
  // wrong separators, short fields, non-hex characters
  BOOST_TEST(!parses("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  BOOST_TEST(!parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
}

BOOST_AUTO_TEST_CASE(a_later_version_is_read_by_its_version_00_prefix) {
  trace::context c;
  BOOST_REQUIRE(trace::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", c));
  BOOST_TEST(c.flags == trace::sampled); // unknown flags dropped
  BOOST_TEST(parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"));
  // ... but the flags must end there or be followed by '-'
  BOOST_TEST(!parses("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what"));
  // and what we send on is version 00
  BOOST_TEST(trace::view(trace::format(c)).substr(0, 3) == "00-");
}

BOOST_AUTO_TEST_CASE(start_keeps_the_callers_trace_with_a_span_of_ours) {
  auto c = trace::start(std::string_view{example}, 1728926331000);
  BOOST_TEST(!c.started);
  BOOST_TEST(c.trace_hi == 0x4bf92f3577b34da6ull);
  BOOST_TEST(c.trace_lo == 0xa3ce929d0e0e4736ull);
  BOOST_TEST(c.flags == 0x01);
  BOOST_TEST(c.span != 0u);
  BOOST_TEST(c.span != 0x00f067aa0ba902b7ull);
  auto formatted = trace::format(c); // view() refers to it: keep it alive
  auto text = trace::view(formatted);
  BOOST_TEST(text.substr(0, 36) == "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  BOOST_TEST(parses(text));
}

BOOST_AUTO_TEST_CASE(an_absent_or_invalid_traceparent_starts_a_new_trace) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto c = i % 2 ? trace::start(nullptr, 1728926331000)
                   : trace::start(std::string_view{"00-zz"}, 1728926331000);
    BOOST_REQUIRE(c.valid());
    BOOST_REQUIRE(c.started);
    BOOST_REQUIRE(c.span != 0u);
    BOOST_TEST(c.flags == trace::sampled);
    trace::context back;
    BOOST_REQUIRE(trace::parse(trace::view(trace::format(c)), back));
    back.started = true;
    BOOST_TEST((back == c));
    // a UUIDv7 of that millisecond: it serves as the ping's id
    auto uuid = trace::uuid_text(c);
    BOOST_TEST(uuid.size() == 36u);
    BOOST_TEST(uuid.substr(0, 13) == "01928c0a-3078");
    BOOST_TEST(uuid[14] == '7');
    BOOST_TEST(std::string{"89ab"}.find(uuid[19]) != std::string::npos);
    auto hex = trace::trace_id_string(c);
    std::string dashless;
    for (char ch : uuid)
      if (ch != '-')
        dashless.push_back(ch);
    BOOST_TEST(dashless == hex);
    ids.insert(trace::trace_id_string(c));
  }
  BOOST_TEST(ids.size() == 1000u);
}

BOOST_AUTO_TEST_CASE(trace_ids_read_back_from_their_stored_hex) {
  uint64_t hi = 0, lo = 0;
  BOOST_TEST(trace::parse_trace_id("4bf92f3577b34da6a3ce929d0e0e4736", hi, lo));
  BOOST_TEST(hi == 0x4bf92f3577b34da6ull);
  BOOST_TEST(lo == 0xa3ce929d0e0e4736ull);
  BOOST_TEST(trace::parse_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736", hi, lo));
  BOOST_TEST(!trace::parse_trace_id("00000000000000000000000000000000", hi, lo));
  BOOST_TEST(!trace::parse_trace_id("4bf92f3577b34da6a3ce929d0e0e473", hi, lo));
  BOOST_TEST(!trace::parse_trace_id("4bf92f3577b34da6a3ce929d0e0e473x", hi, lo));
}
