#include "admin/metrics_text.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace ping::admin {

std::string render_metrics(const telemetry::registry& reg) {
  // A fresh prometheus-cpp registry per scrape, filled from the snapshot:
  // the actors own plain atomics; formatting is prometheus-cpp's.
  prometheus::Registry out;
  for (auto& [name, value] : reg.counters()) {
    auto& family = prometheus::BuildCounter().Name("ping_" + name).Help(name).Register(out);
    family.Add({}).Increment(static_cast<double>(value));
  }
  for (auto& [name, value] : reg.gauges()) {
    auto& family = prometheus::BuildGauge().Name("ping_" + name).Help(name).Register(out);
    family.Add({}).Set(static_cast<double>(value));
  }
  for (auto& [name, f] : reg.families()) {
    auto& family = prometheus::BuildGauge().Name("ping_" + name).Help(name).Register(out);
    for (auto& [label, value] : f.values)
      family.Add({{f.label, label}}).Set(static_cast<double>(value));
  }
  for (auto& [name, h] : reg.histograms()) {
    auto snap = h->snapshot();
    std::vector<double> increments;
    uint64_t prev = 0;
    for (auto c : snap.cumulative) {
      increments.push_back(static_cast<double>(c - prev));
      prev = c;
    }
    auto& family = prometheus::BuildHistogram().Name("ping_" + name).Help(name).Register(out);
    family.Add({}, h->bounds()).ObserveMultiple(increments, snap.sum);
  }
  auto& handled = prometheus::BuildCounter()
                    .Name("ping_actor_messages_handled_total")
                    .Help("messages handled per actor")
                    .Register(out);
  auto& restarts = prometheus::BuildCounter()
                     .Name("ping_actor_restarts_total")
                     .Help("restarts per actor by its supervisor")
                     .Register(out);
  auto& mailbox = prometheus::BuildGauge()
                    .Name("ping_actor_mailbox_depth")
                    .Help("mailbox depth seen at the actor's last message")
                    .Register(out);
  auto& backlog = prometheus::BuildGauge()
                    .Name("ping_actor_backlog")
                    .Help("work the actor holds (pending requests, unflushed records)")
                    .Register(out);
  auto& up = prometheus::BuildGauge()
               .Name("ping_actor_up")
               .Help("1 when the actor's dependency is reachable")
               .Register(out);
  for (auto& a : reg.actors()) {
    prometheus::Labels labels{{"actor", a->name}, {"kind", a->kind}};
    handled.Add(labels).Increment(static_cast<double>(a->handled.load()));
    restarts.Add(labels).Increment(static_cast<double>(a->restarts.load()));
    mailbox.Add(labels).Set(static_cast<double>(a->mailbox.load()));
    backlog.Add(labels).Set(static_cast<double>(a->backlog.load()));
    up.Add(labels).Set(a->up.load() ? 1 : 0);
  }
  return prometheus::TextSerializer{}.Serialize(out.Collect());
}

} // namespace ping::admin
