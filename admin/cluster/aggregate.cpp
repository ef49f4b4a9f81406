#include "admin/cluster/aggregate.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace ping::admin::cluster {

namespace {

constexpr const char* gateway_binary = "ping-gateway";
constexpr const char* processor_binary = "ping-processor";

const v1::Stage* find_stage(const node_answers& n, const std::string& name) {
  if (!n.up || !n.has_pipeline)
    return nullptr;
  for (auto& s : n.pipeline.stages())
    if (s.name() == name)
      return &s;
  return nullptr;
}

} // namespace

bool loopback_label(const std::string& label) {
  return label.rfind("127.", 0) == 0 || label.rfind("[::1]:", 0) == 0
         || label.rfind("localhost:", 0) == 0;
}

std::vector<node_answers> merge_duplicates(std::vector<node_answers> nodes) {
  std::vector<node_answers> out;
  std::map<std::string, size_t> by_instance;
  for (auto& n : nodes) {
    auto id = n.up ? n.status.instance_id() : std::string{};
    if (!id.empty()) {
      if (auto it = by_instance.find(id); it != by_instance.end()) {
        auto& kept = out[it->second];
        if (kept.self && loopback_label(kept.address) && !loopback_label(n.address))
          kept.address = n.address;
        continue;
      }
      by_instance[id] = out.size();
    }
    out.push_back(std::move(n));
  }
  return out;
}

v1::Hop combine_stage(const std::vector<node_answers>& nodes, const std::string& binary,
                      const std::string& stage, const std::string& name,
                      const std::string& description) {
  v1::Hop hop;
  hop.set_name(name);
  hop.set_description(description);
  double rate = 0, weighted_p50 = 0, plain_p50 = 0, p99 = 0;
  int64_t backlog = 0;
  int contributing = 0;
  for (auto& n : nodes) {
    if (n.status.binary() != binary)
      continue;
    auto* s = find_stage(n, stage);
    if (!s)
      continue;
    ++contributing;
    rate += s->per_second();
    weighted_p50 += s->per_second() * s->latency_p50_ms();
    plain_p50 = std::max(plain_p50, s->latency_p50_ms());
    p99 = std::max(p99, s->latency_p99_ms());
    backlog += s->backlog();
  }
  hop.set_per_second(rate);
  // Nothing moved: the highest p50 seen (0 when none).
  hop.set_latency_p50_ms(rate > 0 ? weighted_p50 / rate : plain_p50);
  hop.set_latency_p99_ms(p99);
  hop.set_backlog(backlog);
  hop.set_nodes(contributing);
  return hop;
}

v1::GetClusterResponse build_view(std::vector<node_answers> nodes,
                                  const exactness_answer& exactness) {
  nodes = merge_duplicates(std::move(nodes));
  std::stable_sort(nodes.begin(), nodes.end(), [](const node_answers& a, const node_answers& b) {
    if (a.self != b.self)
      return a.self;
    return a.address < b.address;
  });
  v1::GetClusterResponse out;

  // Nodes.
  for (auto& n : nodes) {
    auto* o = out.add_nodes();
    o->set_address(n.address);
    o->set_self(n.self);
    o->set_up(n.up);
    o->set_error(n.error);
    o->set_call_ms(n.call_ms);
    if (!n.up)
      continue;
    o->set_binary(n.status.binary());
    o->set_version(n.status.version());
    o->set_uptime_ms(n.status.uptime_ms());
    o->set_ready(n.status.ready());
    o->set_paused(n.status.paused());
    for (auto& c : n.status.commands())
      o->add_commands(c);
    if (n.has_lag) {
      for (auto& p : n.lag.partitions())
        o->add_partitions(p.partition());
      o->set_lag(n.lag.total_lag());
    }
  }

  // Partitions: the processors holding each.
  struct holding {
    std::vector<std::string> owners;
    const v1::PartitionLag* first = nullptr;
  };
  std::map<int32_t, holding> parts;
  int64_t total_lag = 0;
  int lag_nodes = 0;
  for (auto& n : nodes) {
    if (!n.up || !n.has_lag || n.status.binary() != processor_binary)
      continue;
    ++lag_nodes;
    total_lag += n.lag.total_lag();
    for (auto& p : n.lag.partitions()) {
      auto& h = parts[p.partition()];
      h.owners.push_back(n.address);
      if (!h.first)
        h.first = &p;
    }
  }
  if (exactness.ok)
    for (auto& row : exactness.resp.partitions())
      parts[row.partition()]; // known to PostgreSQL: listed, owned or not
  for (auto& [partition, h] : parts) {
    auto* o = out.add_partitions();
    o->set_partition(partition);
    if (!h.owners.empty())
      o->set_owner(h.owners.front());
    for (auto& a : h.owners)
      o->add_owners(a);
    if (h.first) {
      o->set_end_offset(h.first->end_offset());
      o->set_position(h.first->position());
      o->set_lag(h.first->lag());
    }
  }

  // Rebalances, newest first.
  std::vector<v1::RebalanceEvent> events;
  for (auto& n : nodes) {
    if (!n.up || !n.has_lag)
      continue;
    for (auto e : n.lag.rebalances()) {
      e.set_node(n.address);
      events.push_back(std::move(e));
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](auto& a, auto& b) { return a.time_ms() > b.time_ms(); });
  if (events.size() > max_rebalances)
    events.resize(max_rebalances);
  for (auto& e : events)
    *out.add_rebalances() = std::move(e);

  // Exactness.
  int64_t gaps = 0;
  if (exactness.ok) {
    out.set_exactness_source(exactness.source);
    for (auto& row : exactness.resp.partitions()) {
      *out.add_exactness() = row;
      if (row.gap() > 0)
        gaps += row.gap();
    }
    if (!exactness.resp.cache_note().empty())
      out.set_exactness_error("cache: " + exactness.resp.cache_note());
  } else {
    out.set_exactness_error(exactness.error);
  }

  // The pipeline, end to end.
  auto gw = std::string{gateway_binary};
  auto proc = std::string{processor_binary};
  *out.add_pipeline() = combine_stage(nodes, gw, "accept", "accept",
                                      "pings validated and handed to persistence (gateways)");
  *out.add_pipeline() = combine_stage(nodes, gw, "commit", "commit",
                                      "pings committed to PostgreSQL by group commit (gateways)");
  auto relay = combine_stage(nodes, gw, "publish", "relay",
                             "outbox events relayed to Kafka and acknowledged (gateways)");
  *out.add_pipeline() = relay;
  v1::Hop kafka;
  kafka.set_name("kafka");
  kafka.set_description("ping-events: what the relays publish; backlog: total consumer lag");
  kafka.set_per_second(relay.per_second());
  kafka.set_backlog(total_lag);
  kafka.set_nodes(lag_nodes);
  *out.add_pipeline() = kafka;
  auto consume
    = combine_stage(nodes, proc, "consume", "consume",
                    "records fetched by the processors; backlog: records held in the windows");
  auto window = combine_stage(nodes, proc, "count", "count", "");
  consume.set_backlog(window.backlog());
  *out.add_pipeline() = consume;
  auto flush = combine_stage(nodes, proc, "flush", "flush",
                             "deltas written to the cache with their sequences (processors)");
  *out.add_pipeline() = flush;
  v1::Hop cache;
  cache.set_name("cache");
  cache.set_description("counted in the cache; backlog: committed pings not in it yet (gaps)");
  cache.set_per_second(flush.per_second());
  cache.set_backlog(gaps);
  cache.set_nodes(exactness.ok ? 1 : 0);
  *out.add_pipeline() = cache;
  return out;
}

} // namespace ping::admin::cluster
