// GetPipeline: the node's stages (items, items/s, recent p50/p99 latency,
// backlog) and the processor's counter repairs.
#include "admin/rpc/rpc.hpp"

#include <map>
#include <string_view>

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

namespace {

template <class Map>
auto value_or(const Map& m, const typename Map::key_type& key, typename Map::mapped_type fallback) {
  auto it = m.find(key);
  return it == m.end() ? fallback : it->second;
}

} // namespace

connectrpc::handler get_pipeline(context_ptr ctx) {
  namespace v1 = ping::admin::v1;
  return connectrpc::typed_handler<v1::GetPipelineRequest>(
    [ctx](std::unique_ptr<v1::GetPipelineRequest>, connectrpc::call_context,
          connectrpc::responder done) {
      auto& reg = ctx->reg;
      auto [older, newer] = ctx->samples->window();
      auto secs = seconds_between(older, newer);
      std::map<std::string, const telemetry::histogram*> histograms;
      for (auto& [name, h] : reg.histograms())
        histograms[name] = h;
      std::map<std::string, int64_t> backlogs;
      for (auto& a : reg.actors())
        backlogs["actor:" + a->name] = a->backlog.load();
      for (auto& [name, value] : reg.gauges())
        backlogs[name] = value;
      v1::GetPipelineResponse resp;
      resp.set_window_seconds(secs);
      for (auto& spec : ctx->hooks.stages) {
        auto* out = resp.add_stages();
        out->set_name(spec.name);
        out->set_description(spec.description);
        auto total = value_or(newer.counters, spec.counter, uint64_t{0});
        out->set_total(total);
        out->set_per_second(
          rate(value_or(older.counters, spec.counter, uint64_t{0}), total, secs));
        auto h = histograms.find(spec.latency);
        auto o = older.histograms.find(spec.latency);
        auto n = newer.histograms.find(spec.latency);
        if (h != histograms.end() && n != newer.histograms.end()) {
          auto before = o != older.histograms.end()
                          ? o->second
                          : telemetry::histogram::snapshot_t{
                            std::vector<uint64_t>(n->second.cumulative.size(), 0), 0, 0};
          out->set_latency_p50_ms(1000 * h->second->quantile(0.5, before, n->second));
          out->set_latency_p99_ms(1000 * h->second->quantile(0.99, before, n->second));
        }
        if (!spec.backlog.empty())
          out->set_backlog(value_or(backlogs, spec.backlog, int64_t{0}));
      }
      // processor_repairs_<reason>_total, registered by the window.
      constexpr std::string_view prefix = "processor_repairs_", suffix = "_total";
      for (auto& [name, value] : newer.counters) {
        std::string_view n{name};
        if (n.size() > prefix.size() + suffix.size() && n.substr(0, prefix.size()) == prefix
            && n.substr(n.size() - suffix.size()) == suffix) {
          auto* r = resp.add_repairs();
          r->set_reason(std::string{n.substr(prefix.size(),
                                             n.size() - prefix.size() - suffix.size())});
          r->set_total(value);
        }
      }
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
