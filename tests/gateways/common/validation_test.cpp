#define BOOST_TEST_MODULE validation
#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/gateway/gateway.hpp"
#include "gateways/common/status.hpp"

using namespace ping;

BOOST_AUTO_TEST_CASE(zero_timestamp_means_now) {
  auto ts = gateway::resolve_timestamp(0, 1'700'000'000'123);
  BOOST_REQUIRE(ts);
  BOOST_TEST(*ts == 1'700'000'000'123);
}

BOOST_AUTO_TEST_CASE(timestamps_are_bounded) {
  BOOST_TEST(*gateway::resolve_timestamp(1, 5) == 1);
  BOOST_TEST(*gateway::resolve_timestamp(max_timestamp_ms, 5) == max_timestamp_ms);
  auto negative = gateway::resolve_timestamp(-1, 5);
  BOOST_REQUIRE(!negative);
  BOOST_TEST((negative.error() == ping_errc::invalid_argument));
  auto past_9999 = gateway::resolve_timestamp(max_timestamp_ms + 1, 5);
  BOOST_REQUIRE(!past_9999);
  BOOST_TEST((past_9999.error() == ping_errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(ranges_are_validated) {
  BOOST_TEST(!gateway::validate_range({}));
  BOOST_TEST(!gateway::validate_range({true, 0, 0}));
  BOOST_TEST(!gateway::validate_range({true, 10, 20}));
  BOOST_TEST((gateway::validate_range({true, 20, 10}) == ping_errc::invalid_argument));
  BOOST_TEST((gateway::validate_range({true, -1, 10}) == ping_errc::invalid_argument));
  BOOST_TEST((gateway::validate_range({true, 0, -10}) == ping_errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(uuid_v7_layout) {
  static const std::regex shape{"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"};
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_uuid_v7(1'728'926'331'000);
    BOOST_TEST(std::regex_match(id, shape), id);
    seen.insert(id);
  }
  BOOST_TEST(seen.size() == 1000u);
  // The first 48 bits are the millisecond timestamp, so ids sort by time.
  BOOST_TEST(make_uuid_v7(1'728'926'331'000).substr(0, 13) == "01928c0a-3078");
  BOOST_TEST(make_uuid_v7(1000) < make_uuid_v7(2000));
}

BOOST_AUTO_TEST_CASE(partitions_are_stable_and_spread) {
  BOOST_TEST(partition_of("01928a4d-3c78-7000-8000-000000000000", 3)
             == partition_of("01928a4d-3c78-7000-8000-000000000000", 3));
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 3000; ++i) {
    auto p = partition_of(make_uuid_v7(i), 3);
    BOOST_REQUIRE(p >= 0);
    BOOST_REQUIRE(p < 3);
    counts[p]++;
  }
  for (int c : counts)
    BOOST_TEST(c > 800); // roughly even
}

BOOST_AUTO_TEST_CASE(dsn_passwords_are_redacted) {
  BOOST_TEST(log::redact_dsn("host=db user=u password=s3cret dbname=x")
             == "host=db user=u password=*** dbname=x");
  BOOST_TEST(log::redact_dsn("password='a b' host=db") == "password=*** host=db");
  BOOST_TEST(log::redact_dsn("postgresql://u:s3cret@db:5432/x")
             == "postgresql://u:***@db:5432/x");
}

BOOST_AUTO_TEST_CASE(errors_map_to_rpc_codes) {
  using gateways::rpc_code;
  using gateways::to_rpc_status;
  auto st = to_rpc_status(caf::make_error(ping_errc::invalid_argument, "bad ts"));
  BOOST_TEST((st.code == rpc_code::invalid_argument));
  BOOST_TEST(st.message == "bad ts");
  BOOST_TEST((to_rpc_status(caf::make_error(ping_errc::unavailable)).code
              == rpc_code::unavailable));
  BOOST_TEST((to_rpc_status(caf::make_error(ping_errc::resource_exhausted)).code
              == rpc_code::resource_exhausted));
  BOOST_TEST((to_rpc_status(caf::make_error(ping_errc::shutting_down)).code
              == rpc_code::unavailable));
  BOOST_TEST((to_rpc_status(caf::make_error(caf::sec::request_timeout)).code
              == rpc_code::deadline_exceeded));
  BOOST_TEST((to_rpc_status(caf::make_error(caf::sec::request_receiver_down)).code
              == rpc_code::unavailable));
}
