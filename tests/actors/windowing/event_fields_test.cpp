// The consumer's wire-format reader of PingEvent against the generated
// protobuf parser: same fields for every event, errors for broken bytes.
#define BOOST_TEST_MODULE event_fields
#include <boost/test/unit_test.hpp>

#include <limits>
#include <random>

#include "actors/windowing/event_fields.hpp"
#include "ping/v1/event.pb.h"

using ping::windowing::decode_event_fields;
using ping::windowing::event_fields;

namespace {

event_fields decoded(const std::string& bytes) {
  event_fields f;
  BOOST_REQUIRE(decode_event_fields(bytes.data(), bytes.size(), f));
  return f;
}

} // namespace

BOOST_AUTO_TEST_CASE(reads_what_the_generated_code_writes) {
  std::mt19937_64 rng{7};
  for (int i = 0; i < 10000; ++i) {
    ping::v1::PingEvent ev;
    ev.set_timestamp_ms(static_cast<int64_t>(rng() >> (rng() % 64)));
    ev.set_id("0190c6f5-8d3a-7b2c-9e4f-" + std::to_string(rng()));
    ev.set_received_at_ms(static_cast<int64_t>(rng() >> 20));
    ev.set_partition(static_cast<int32_t>(rng() % 64));
    ev.set_relay_seq(static_cast<int64_t>(rng() >> (rng() % 64)));
    auto f = decoded(ev.SerializeAsString());
    BOOST_TEST(f.timestamp_ms == ev.timestamp_ms());
    BOOST_TEST(f.relay_seq == ev.relay_seq());
  }
}

BOOST_AUTO_TEST_CASE(defaults_and_extremes) {
  BOOST_TEST(decoded("").relay_seq == 0); // all defaults: an empty message
  ping::v1::PingEvent ev;
  ev.set_timestamp_ms(std::numeric_limits<int64_t>::max());
  ev.set_relay_seq(std::numeric_limits<int64_t>::min()); // ten-byte varint
  auto f = decoded(ev.SerializeAsString());
  BOOST_TEST(f.timestamp_ms == std::numeric_limits<int64_t>::max());
  BOOST_TEST(f.relay_seq == std::numeric_limits<int64_t>::min());
}

BOOST_AUTO_TEST_CASE(skips_fields_it_does_not_know) {
  ping::v1::PingEvent ev;
  ev.set_timestamp_ms(1234);
  ev.set_relay_seq(99);
  auto bytes = ev.SerializeAsString();
  // Field 9 as fixed64, field 10 as fixed32, field 11 as bytes: a newer
  // producer's additions.
  bytes += std::string{"\x49\x01\x02\x03\x04\x05\x06\x07\x08", 9};
  bytes += std::string{"\x55\x01\x02\x03\x04", 5};
  bytes += std::string{"\x5a\x03"
                       "abc",
                       5};
  auto f = decoded(bytes);
  BOOST_TEST(f.timestamp_ms == 1234);
  BOOST_TEST(f.relay_seq == 99);
  ping::v1::PingEvent check;
  BOOST_TEST(check.ParseFromString(bytes)); // the generated code agrees
}

BOOST_AUTO_TEST_CASE(rejects_broken_bytes) {
  ping::v1::PingEvent ev;
  ev.set_timestamp_ms(1700000000000);
  ev.set_id("0190c6f5-8d3a-7b2c-9e4f-123456789abc");
  ev.set_relay_seq(42);
  auto bytes = ev.SerializeAsString();
  event_fields f;
  // Every truncation inside a field fails in both parsers alike.
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    ping::v1::PingEvent check;
    BOOST_TEST(decode_event_fields(bytes.data(), cut, f)
                 == check.ParseFromArray(bytes.data(), static_cast<int>(cut)),
               "cut at " << cut);
  }
  std::string bad_wire_type{"\x0b", 1}; // field 1, start group
  BOOST_TEST(!decode_event_fields(bad_wire_type.data(), bad_wire_type.size(), f));
  std::string field_zero{"\x00\x01", 2};
  BOOST_TEST(!decode_event_fields(field_zero.data(), field_zero.size(), f));
  std::string endless_varint = std::string{"\x08"} + std::string(11, '\xff');
  BOOST_TEST(!decode_event_fields(endless_varint.data(), endless_varint.size(), f));
}
