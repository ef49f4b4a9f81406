// admin/cluster/peers.* and discovery's merge: the peer lists operators
// write, and how listed peers and resolved names become targets. No
// server, no DNS (numeric hosts and "localhost" only).
#define BOOST_TEST_MODULE admin_cluster_peers
#include <boost/test/unit_test.hpp>

#include "admin/cluster/discovery.hpp"
#include "admin/cluster/peers.hpp"

using namespace ping::admin::cluster;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(endpoints_parse_with_their_errors) {
  auto ok = parse_endpoint("gw-1.ping.svc:9464");
  BOOST_TEST(ok.error == "");
  BOOST_TEST(ok.value.host == "gw-1.ping.svc");
  BOOST_TEST(ok.value.port == 9464);
  auto v6 = parse_endpoint("[fd00::5]:9464");
  BOOST_TEST(v6.error == "");
  BOOST_TEST(v6.value.host == "fd00::5");
  BOOST_TEST(format_endpoint(v6.value) == "[fd00::5]:9464");
  BOOST_TEST(format_endpoint(ok.value) == "gw-1.ping.svc:9464");
  for (auto bad : {"9464", "host", ":9464", "host:0", "host:65536", "host:94x", "fd00::5:9464",
                   "[fd00::5]9464", "[not-v6]:1", "a b:1", "host:"})
    BOOST_TEST(!parse_endpoint(bad).error.empty(), bad);
  BOOST_TEST(parse_endpoint("host:0").error == "'host:0': port must be 1..65535");
}

BOOST_AUTO_TEST_CASE(peer_lists_trim_skip_empties_and_drop_duplicates) {
  auto p = parse_peers(" 10.0.0.1:9464, ,10.0.0.2:9464,10.0.0.1:9464 ,", 64);
  BOOST_TEST(p.error == "");
  BOOST_REQUIRE(p.peers.size() == 2u);
  BOOST_TEST(format_endpoint(p.peers[0]) == "10.0.0.1:9464");
  BOOST_TEST(format_endpoint(p.peers[1]) == "10.0.0.2:9464");
  BOOST_TEST(parse_peers("", 64).peers.empty());
  BOOST_TEST(parse_peers("", 64).error == "");
}

BOOST_AUTO_TEST_CASE(peer_lists_are_bounded_and_fail_on_the_first_bad_entry) {
  BOOST_TEST(parse_peers("a:1,b:2,c:3", 2).error == "more than 2 peers");
  BOOST_TEST(parse_peers("a:1,b:2,c:3", 2).peers.empty());
  BOOST_TEST(parse_peers("a:1,b:2,a:1", 2).error == ""); // a duplicate is no extra peer
  auto bad = parse_peers("a:1,b,c:3", 64);
  BOOST_TEST(bad.error == "'b': expected HOST:PORT");
  BOOST_TEST(bad.peers.empty());
}

BOOST_AUTO_TEST_CASE(targets_merge_listed_first_without_duplicates_up_to_the_bound) {
  std::vector<target> listed{{"10.0.0.1:9464", "10.0.0.1", "9464", ""},
                             {"gw:9464", "", "9464", "cannot resolve gw"}};
  std::vector<std::vector<target>> named{{{"10.0.0.1:9464", "10.0.0.1", "9464", ""},
                                          {"10.0.0.7:9464", "10.0.0.7", "9464", ""}},
                                         {{"10.0.0.8:9464", "10.0.0.8", "9464", ""}}};
  bool truncated = true;
  auto all = merge_targets(listed, named, 64, &truncated);
  BOOST_TEST(!truncated);
  BOOST_REQUIRE(all.size() == 4u);
  BOOST_TEST(all[0].label == "10.0.0.1:9464");
  BOOST_TEST(all[1].error == "cannot resolve gw");
  BOOST_TEST(all[2].label == "10.0.0.7:9464");
  BOOST_TEST(all[3].label == "10.0.0.8:9464");
  auto cut = merge_targets(listed, named, 3, &truncated);
  BOOST_TEST(truncated);
  BOOST_TEST(cut.size() == 3u);
}

BOOST_AUTO_TEST_CASE(numeric_hosts_resolve_without_a_lookup) {
  resolver r;
  auto v4 = r.resolve("10.1.2.3", 1ms);
  BOOST_TEST(v4.error == "");
  BOOST_REQUIRE(v4.addresses.size() == 1u);
  BOOST_TEST(v4.addresses[0] == "10.1.2.3");
  auto local = r.resolve("localhost", 2000ms);
  BOOST_TEST(local.error == "");
  BOOST_TEST(!local.addresses.empty());
}

BOOST_AUTO_TEST_CASE(discovery_lists_numeric_peers_before_its_first_lookup) {
  discovery_settings ds;
  ds.peers = parse_peers("127.0.0.1:1,localhost:2", 64).peers;
  discovery d{ds};
  auto t = d.targets();
  BOOST_REQUIRE(t.size() == 2u);
  BOOST_TEST(t[0].host == "127.0.0.1");
  BOOST_TEST(t[1].host == "");
  BOOST_TEST(t[1].error == "not resolved yet");
}
