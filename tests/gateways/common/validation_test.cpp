#define BOOST_TEST_MODULE validation
#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/log.hpp"
#include "actors/gateway/gateway.hpp"
#include "actors/persistence/sql.hpp"
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
  static const std::regex shape{
    "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"};
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
  BOOST_TEST(log::redact_dsn("postgresql://u:s3cret@db:5432/x") == "postgresql://u:***@db:5432/x");
}

BOOST_AUTO_TEST_CASE(errors_map_to_rpc_codes) {
  using gateways::rpc_code;
  using gateways::to_rpc_status;
  auto st = to_rpc_status(caf::make_error(ping_errc::invalid_argument, "bad ts"));
  BOOST_TEST((st.code == rpc_code::invalid_argument));
  BOOST_TEST(st.message == "bad ts");
  BOOST_TEST(
    (to_rpc_status(caf::make_error(ping_errc::unavailable)).code == rpc_code::unavailable));
  BOOST_TEST((to_rpc_status(caf::make_error(ping_errc::resource_exhausted)).code
              == rpc_code::resource_exhausted));
  BOOST_TEST(
    (to_rpc_status(caf::make_error(ping_errc::shutting_down)).code == rpc_code::unavailable));
  BOOST_TEST((to_rpc_status(caf::make_error(caf::sec::request_timeout)).code
              == rpc_code::deadline_exceeded));
  BOOST_TEST((to_rpc_status(caf::make_error(caf::sec::request_receiver_down)).code
              == rpc_code::unavailable));
}

// Issue 19 item 10: infrastructure faults reach clients as retryable codes.
// An actor that stopped while a call waited on it (its exit reason is the
// error: a restart, a crash, a shutdown) or whose handler threw is
// `unavailable`, not `internal`; `internal` stays for broken invariants.
BOOST_AUTO_TEST_CASE(infrastructure_faults_are_retryable_codes) {
  using gateways::rpc_code;
  using gateways::to_rpc_status;
  for (auto reason : {caf::exit_reason::user_shutdown, caf::exit_reason::kill,
                      caf::exit_reason::unhandled_exception, caf::exit_reason::unknown}) {
    auto st = to_rpc_status(caf::make_error(reason));
    BOOST_TEST((st.code == rpc_code::unavailable), caf::to_string(caf::make_error(reason)));
  }
  for (auto sec : {caf::sec::request_receiver_down, caf::sec::runtime_error,
                   caf::sec::cannot_forward_to_invalid_actor}) {
    auto st = to_rpc_status(caf::make_error(sec));
    BOOST_TEST((st.code == rpc_code::unavailable), caf::to_string(caf::make_error(sec)));
  }
  // A PostgreSQL error that is not a fault of the infrastructure (a bug in
  // a statement, a broken constraint) is still internal.
  BOOST_TEST((to_rpc_status(caf::make_error(ping_errc::internal, "database error 42883")).code
              == rpc_code::internal));
  // A message nobody handles is a bug, not a fault.
  BOOST_TEST(
    (to_rpc_status(caf::make_error(caf::sec::unexpected_message)).code == rpc_code::internal));
}

// Issue 19 item 10: which PostgreSQL errors are faults of the database
// (answered unavailable) and which are bugs of a statement (internal).
BOOST_AUTO_TEST_CASE(transient_postgres_errors_are_retryable) {
  using persistence::sql::retryable_sqlstate;
  for (auto s : {"40001", "40P01", "53300", "53100", "55P03", "25006", "58030"})
    BOOST_TEST(retryable_sqlstate(s), s);
  for (auto s : {"42883", "42P01", "23505", "22008", "XX000", ""})
    BOOST_TEST(!retryable_sqlstate(s), s);
}
