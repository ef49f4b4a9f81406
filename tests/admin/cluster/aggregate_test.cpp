// admin/cluster/aggregate.*: the cluster view from hand-made answers of
// gateways and processors. No server.
#define BOOST_TEST_MODULE admin_cluster_aggregate
#include <boost/test/unit_test.hpp>

#include "admin/cluster/aggregate.hpp"

using namespace ping::admin;
using namespace ping::admin::cluster;

namespace {

void stage(v1::GetPipelineResponse& p, const std::string& name, double rate, double p50, double p99,
           int64_t backlog) {
  auto* s = p.add_stages();
  s->set_name(name);
  s->set_per_second(rate);
  s->set_latency_p50_ms(p50);
  s->set_latency_p99_ms(p99);
  s->set_backlog(backlog);
}

node_answers gateway(const std::string& address, const std::string& id, double accept_rate,
                     double accept_p50, double accept_p99) {
  node_answers n;
  n.address = address;
  n.up = true;
  n.status.set_binary("ping-gateway");
  n.status.set_instance_id(id);
  n.has_pipeline = true;
  stage(n.pipeline, "accept", accept_rate, accept_p50, accept_p99, 2);
  stage(n.pipeline, "commit", accept_rate, 1, 2, 1);
  stage(n.pipeline, "publish", accept_rate, 3, 4, 5);
  stage(n.pipeline, "count", 9, 9, 9, 9); // not a hop
  n.has_lag = true;
  return n;
}

node_answers processor(const std::string& address, const std::string& id,
                       std::vector<int32_t> parts, int64_t lag_each) {
  node_answers n;
  n.address = address;
  n.up = true;
  n.status.set_binary("ping-processor");
  n.status.set_instance_id(id);
  n.has_pipeline = true;
  stage(n.pipeline, "consume", 10, 0, 0, 999);
  stage(n.pipeline, "count", 10, 0, 0, 4);
  stage(n.pipeline, "flush", 10, 2, 8, 0);
  n.has_lag = true;
  for (auto p : parts) {
    auto* l = n.lag.add_partitions();
    l->set_partition(p);
    l->set_end_offset(100);
    l->set_position(100 - lag_each);
    l->set_lag(lag_each);
  }
  n.lag.set_total_lag(lag_each * static_cast<int64_t>(parts.size()));
  return n;
}

exactness_answer exact(std::vector<std::pair<int64_t, int64_t>> head_and_cache) {
  exactness_answer e;
  e.ok = true;
  e.source = "g1:1";
  int32_t p = 0;
  for (auto [head, cache] : head_and_cache) {
    auto* r = e.resp.add_partitions();
    r->set_partition(p++);
    r->set_head(head);
    r->set_cache_seq(cache);
    r->set_gap(cache < 0 ? -1 : head - cache);
  }
  return e;
}

const v1::Hop& hop(const v1::GetClusterResponse& v, const std::string& name) {
  for (auto& h : v.pipeline())
    if (h.name() == name)
      return h;
  BOOST_FAIL("no hop " + name);
  return v.pipeline(0);
}

} // namespace

BOOST_AUTO_TEST_CASE(hops_sum_rates_and_backlogs_and_combine_latencies) {
  auto g1 = gateway("g1:1", "a", 30, 1.0, 5.0);
  g1.self = true;
  auto g2 = gateway("g2:1", "b", 10, 3.0, 9.0);
  auto view
    = build_view({g1, g2, processor("p1:1", "c", {0, 1}, 3), processor("p2:1", "d", {2}, 4)},
                 exact({{10, 10}, {12, 9}, {5, 5}}));
  std::vector<std::string> names;
  for (auto& h : view.pipeline())
    names.push_back(h.name());
  BOOST_TEST((names
              == std::vector<std::string>{"accept", "commit", "relay", "kafka", "consume", "flush",
                                          "cache"}));
  auto& accept = hop(view, "accept");
  BOOST_TEST(accept.per_second() == 40);
  BOOST_TEST(accept.latency_p50_ms() == 1.5); // (30*1 + 10*3) / 40
  BOOST_TEST(accept.latency_p99_ms() == 9.0); // the worst node
  BOOST_TEST(accept.backlog() == 4);
  BOOST_TEST(accept.nodes() == 2);
  BOOST_TEST(hop(view, "relay").backlog() == 10);
  BOOST_TEST(hop(view, "kafka").backlog() == 10); // 2*3 + 4
  BOOST_TEST(hop(view, "kafka").per_second() == 40);
  BOOST_TEST(hop(view, "consume").per_second() == 20);
  BOOST_TEST(hop(view, "consume").backlog() == 8); // the windows, not the lag again
  BOOST_TEST(hop(view, "flush").latency_p99_ms() == 8);
  BOOST_TEST(hop(view, "cache").backlog() == 3); // 12 - 9
  BOOST_TEST(hop(view, "cache").nodes() == 1);
}

BOOST_AUTO_TEST_CASE(down_nodes_are_listed_and_contribute_nothing) {
  auto g1 = gateway("g1:1", "a", 30, 1, 1);
  g1.self = true;
  node_answers gone;
  gone.address = "p9:1";
  gone.error = "unreachable: Connection refused";
  auto view = build_view({gone, processor("p1:1", "c", {0, 1, 2}, 0), g1}, exact({{1, 1}}));
  BOOST_REQUIRE(view.nodes_size() == 3);
  BOOST_TEST(view.nodes(0).address() == "g1:1"); // self first, then by address
  BOOST_TEST(view.nodes(0).self());
  BOOST_TEST(view.nodes(1).address() == "p1:1");
  BOOST_TEST(view.nodes(2).address() == "p9:1");
  BOOST_TEST(!view.nodes(2).up());
  BOOST_TEST(view.nodes(2).error() == "unreachable: Connection refused");
  BOOST_TEST(hop(view, "consume").nodes() == 1);
  BOOST_TEST(view.nodes(1).partitions_size() == 3);
}

BOOST_AUTO_TEST_CASE(partitions_show_owners_overlaps_and_unowned_ones) {
  auto view = build_view({processor("p1:1", "c", {0, 1}, 1), processor("p2:1", "d", {1}, 2)},
                         exact({{1, 1}, {1, 1}, {1, 1}}));
  BOOST_REQUIRE(view.partitions_size() == 3);
  BOOST_TEST(view.partitions(0).owner() == "p1:1");
  BOOST_TEST(view.partitions(0).owners_size() == 1);
  BOOST_TEST(view.partitions(1).owners_size() == 2); // an overlap
  BOOST_TEST(view.partitions(2).owner() == "");      // known to PostgreSQL, held by nobody
  BOOST_TEST(view.partitions(2).owners_size() == 0);
  BOOST_TEST(view.partitions(0).lag() == 1);
}

BOOST_AUTO_TEST_CASE(rebalances_are_tagged_newest_first_and_bounded) {
  auto p1 = processor("p1:1", "c", {0}, 0);
  auto p2 = processor("p2:1", "d", {1}, 0);
  for (int i = 0; i < 60; ++i) {
    auto* e = (i % 2 ? p1 : p2).lag.add_rebalances();
    e->set_time_ms(1000 + i);
    e->add_assigned(i % 3);
  }
  auto view = build_view({p1, p2}, exact({}));
  BOOST_TEST(view.rebalances_size() == 60);
  BOOST_TEST(view.rebalances(0).time_ms() == 1059);
  BOOST_TEST(view.rebalances(0).node() == "p1:1");
  BOOST_TEST(view.rebalances(1).node() == "p2:1");
  for (int i = 0; i < 60; ++i)
    (i % 2 ? p1 : p2).lag.add_rebalances()->set_time_ms(i);
  BOOST_TEST(build_view({p1, p2}, exact({})).rebalances_size() == static_cast<int>(max_rebalances));
}

BOOST_AUTO_TEST_CASE(a_node_under_two_addresses_is_listed_once_under_the_discovered_one) {
  auto self = gateway("127.0.0.1:9464", "same", 1, 1, 1);
  self.self = true;
  auto again = gateway("10.0.0.5:9464", "same", 1, 1, 1);
  auto view = build_view({self, again, gateway("10.0.0.6:9464", "other", 1, 1, 1)}, exact({}));
  BOOST_REQUIRE(view.nodes_size() == 2);
  BOOST_TEST(view.nodes(0).address() == "10.0.0.5:9464");
  BOOST_TEST(view.nodes(0).self());
  BOOST_TEST(hop(view, "accept").nodes() == 2);
}

BOOST_AUTO_TEST_CASE(without_exactness_the_view_says_why) {
  exactness_answer none;
  none.error = "no ping-gateway answered";
  auto view = build_view({processor("p1:1", "c", {0}, 0)}, none);
  BOOST_TEST(view.exactness_size() == 0);
  BOOST_TEST(view.exactness_error() == "no ping-gateway answered");
  BOOST_TEST(hop(view, "cache").nodes() == 0);
  auto cold = exact({{3, -1}});
  cold.resp.set_cache_note("partition 0 has no state (cold or rebuilding)");
  auto v2 = build_view({}, cold);
  BOOST_TEST(v2.exactness(0).gap() == -1);
  BOOST_TEST(hop(v2, "cache").backlog() == 0); // unknown gaps are not counted
  BOOST_TEST(v2.exactness_error() == "cache: partition 0 has no state (cold or rebuilding)");
}
