#include "admin/metrics_text.hpp"

#include <map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "actors/common/build_info.hpp"
#include "admin/process_metrics.hpp"

namespace ping::admin {

namespace {

prometheus::Labels to_labels(const telemetry::labels& lbls) {
  prometheus::Labels out;
  for (auto& [k, v] : lbls)
    out.emplace(k, v);
  return out;
}

// One family per name, however many series the name has.
template <class Builder, class Family>
Family& family_of(std::map<std::string, Family*>& seen, const std::string& name,
                  const telemetry::registry& reg, prometheus::Registry& out, Builder build) {
  auto i = seen.find(name);
  if (i != seen.end())
    return *i->second;
  auto& f = build.Name("ping_" + name).Help(reg.help(name)).Register(out);
  seen.emplace(name, &f);
  return f;
}

void add_process_metrics(prometheus::Registry& out) {
  auto s = read_process_stats();
  if (!s)
    return;
  prometheus::BuildCounter()
    .Name("process_cpu_seconds_total")
    .Help("Total user and system CPU time spent in seconds.")
    .Register(out)
    .Add({})
    .Increment(s->cpu_seconds);
  auto gauge = [&](const char* name, const char* help, double value) {
    prometheus::BuildGauge().Name(name).Help(help).Register(out).Add({}).Set(value);
  };
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s->resident_bytes);
  gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", s->virtual_bytes);
  gauge("process_open_fds", "Number of open file descriptors.", s->open_fds);
  gauge("process_max_fds", "Maximum number of open file descriptors.", s->max_fds);
  gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        s->start_time_seconds);
}

} // namespace

std::string render_metrics(const telemetry::registry& reg, std::optional<bool> ready) {
  // A fresh prometheus-cpp registry per scrape, filled from the snapshot:
  // the actors own plain atomics; formatting is prometheus-cpp's.
  prometheus::Registry out;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters;
  for (auto& s : reg.counters())
    family_of(counters, s.name, reg, out, prometheus::BuildCounter())
      .Add(to_labels(s.labels))
      .Increment(static_cast<double>(s.value));
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> gauges;
  for (auto& s : reg.gauges())
    family_of(gauges, s.name, reg, out, prometheus::BuildGauge())
      .Add(to_labels(s.labels))
      .Set(static_cast<double>(s.value));
  for (auto& [name, f] : reg.families()) {
    auto& family = family_of(gauges, name, reg, out, prometheus::BuildGauge());
    for (auto& [label, value] : f.values)
      family.Add({{f.label, label}}).Set(static_cast<double>(value));
  }
  std::map<std::string, prometheus::Family<prometheus::Histogram>*> histograms;
  for (auto& s : reg.histograms()) {
    auto snap = s.value->snapshot();
    std::vector<double> increments;
    uint64_t prev = 0;
    for (auto c : snap.cumulative) {
      increments.push_back(static_cast<double>(c - prev));
      prev = c;
    }
    family_of(histograms, s.name, reg, out, prometheus::BuildHistogram())
      .Add(to_labels(s.labels), s.value->bounds())
      .ObserveMultiple(increments, snap.sum);
  }
  auto& handled = prometheus::BuildCounter()
                    .Name("ping_actor_messages_handled_total")
                    .Help("Messages handled, per actor.")
                    .Register(out);
  auto& restarts = prometheus::BuildCounter()
                     .Name("ping_actor_restarts_total")
                     .Help("Restarts of an actor by its supervisor, per actor.")
                     .Register(out);
  auto& mailbox = prometheus::BuildGauge()
                    .Name("ping_actor_mailbox_depth")
                    .Help("Mailbox depth seen at the actor's last message, per actor.")
                    .Register(out);
  auto& backlog = prometheus::BuildGauge()
                    .Name("ping_actor_backlog")
                    .Help("Work the actor holds (pending requests, unflushed records), per actor.")
                    .Register(out);
  auto& up = prometheus::BuildGauge()
               .Name("ping_actor_up")
               .Help("1 when the actor's dependency is reachable, else 0, per actor.")
               .Register(out);
  for (auto& a : reg.actors()) {
    prometheus::Labels labels{{"actor", a->name}, {"kind", a->kind}};
    handled.Add(labels).Increment(static_cast<double>(a->handled.load()));
    restarts.Add(labels).Increment(static_cast<double>(a->restarts.load()));
    mailbox.Add(labels).Set(static_cast<double>(a->mailbox.load()));
    backlog.Add(labels).Set(static_cast<double>(a->backlog.load()));
    up.Add(labels).Set(a->up.load() ? 1 : 0);
  }
  prometheus::BuildGauge()
    .Name("ping_build_info")
    .Help("Always 1; the build's version and git commit as labels.")
    .Register(out)
    .Add({{"version", build::version()}, {"revision", build::revision()}})
    .Set(1);
  if (ready)
    prometheus::BuildGauge()
      .Name("ping_ready")
      .Help("1 while the node is ready (what /readyz answers: dependencies reachable, "
            "not draining), else 0.")
      .Register(out)
      .Add({})
      .Set(*ready ? 1 : 0);
  add_process_metrics(out);
  return prometheus::TextSerializer{}.Serialize(out.Collect());
}

} // namespace ping::admin
