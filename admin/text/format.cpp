#include "admin/text/format.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

namespace ping::admin::text {

using connectrpc::http_failure;

namespace {

std::string printf_string(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

// Items or messages per second: one decimal below 100.
std::string format_rate(double per_second) {
  if (per_second < 0.05)
    return "0";
  return printf_string(per_second < 100 ? "%.1f" : "%.0f", per_second);
}

// Milliseconds of latency; "-" when nothing moved (the API sends 0).
std::string format_latency(double ms) {
  if (ms <= 0)
    return "-";
  return printf_string(ms < 10 ? "%.2f" : "%.1f", ms);
}

std::string yes_no(bool value) {
  return value ? "yes" : "no";
}

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string{n == 1 ? one : many};
}

std::string lower_first(std::string text) {
  if (!text.empty())
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

// Epoch minute to "2026-11-28 03:58" (UTC).
std::string minute_text(std::int64_t epoch_minute) {
  std::time_t t = static_cast<std::time_t>(epoch_minute * 60);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

} // namespace

text_table::text_table(std::vector<column> columns) : columns_(std::move(columns)) {}

void text_table::add_row(std::vector<std::string> cells) {
  assert(cells.size() <= columns_.size());
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string text_table::render() const {
  std::vector<size_t> widths;
  for (const auto& col : columns_)
    widths.push_back(col.title.size());
  for (const auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());

  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0)
        line += "  ";
      auto pad = std::string(widths[i] - cells[i].size(), ' ');
      if (columns_[i].alignment == align::right)
        line += pad + cells[i];
      else
        line += cells[i] + pad;
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  };
  std::vector<std::string> titles;
  for (const auto& col : columns_)
    titles.push_back(col.title);
  emit(titles);
  for (const auto& row : rows_)
    emit(row);
  return out;
}

std::string format_duration_ms(std::int64_t ms) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    return std::to_string(ms) + "ms";
  if (ms < 60'000)
    // NOLINTNEXTLINE(bugprone-integer-division): truncates to tenths on purpose (1999 ms: 1.9s)
    return printf_string("%.1fs", static_cast<double>(ms / 100) / 10.0);
  auto s = ms / 1000;
  char buf[64];
  if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd %02lldh %02lldm", static_cast<long long>(s / 86400),
                  static_cast<long long>(s / 3600 % 24), static_cast<long long>(s / 60 % 60));
  return buf;
}

std::string format_status(const v1::GetStatusResponse& resp, bool with_config) {
  std::vector<std::pair<std::string, std::vector<std::string>>> fields = {
    {"binary", {resp.binary()}},
    {"version", {resp.version()}},
    {"uptime", {format_duration_ms(resp.uptime_ms())}},
    {"ready", {yes_no(resp.ready())}},
    {"paused", {yes_no(resp.paused())}},
    {"log level", {resp.log_level()}},
  };
  std::string commands;
  for (const auto& c : resp.commands())
    commands += (commands.empty() ? "" : ", ") + c;
  fields.push_back({"commands", {commands.empty() ? "-" : commands}});
  if (with_config) {
    std::vector<std::string> config(resp.config().begin(), resp.config().end());
    if (config.empty())
      config.push_back("-");
    fields.push_back({"config", std::move(config)});
  }
  size_t width = 0;
  for (const auto& [key, values] : fields)
    width = std::max(width, key.size() + 1);
  std::string out;
  for (const auto& [key, values] : fields) {
    for (size_t i = 0; i < values.size(); ++i) {
      auto label = i == 0 ? key + ":" : std::string{};
      auto line = label + std::string(width - label.size() + 1, ' ') + values[i];
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      out += line + "\n";
    }
  }
  return out;
}

std::string format_actors(const v1::ListActorsResponse& resp) {
  using col = text_table::column;
  constexpr auto right = text_table::align::right;
  text_table table{{col{"NAME"}, col{"KIND"}, col{"MAILBOX", right}, col{"MSG/S", right},
                    col{"HANDLED", right}, col{"RESTARTS", right}, col{"BACKLOG", right},
                    col{"UP"}}};
  const auto& actors = resp.actors();
  // Children of each parent name, by name; "" holds the top level.
  std::set<std::string> names;
  std::map<std::string, std::vector<int>> children;
  for (int i = 0; i < actors.size(); ++i) {
    names.insert(actors[i].name());
    children[actors[i].parent()].push_back(i);
  }
  for (auto& [parent, list] : children)
    std::stable_sort(list.begin(), list.end(),
                     [&actors](int a, int b) { return actors[a].name() < actors[b].name(); });
  // Roots: top-level actors, and the parents no actor is named after
  // (groups such as "windowing"), merged by name.
  std::map<std::string, int> roots; // name -> actor index, or -1 for a group
  for (int i : children[""])
    roots.emplace(actors[i].name(), i);
  for (const auto& [parent, list] : children)
    if (!parent.empty() && !names.count(parent))
      roots.emplace(parent, -1);

  std::vector<bool> shown(static_cast<size_t>(actors.size()), false);
  std::set<std::string> expanded; // guards against parent cycles
  std::int64_t down = 0;
  std::uint64_t restarts = 0;
  auto row = [&](int i, int depth) {
    const auto& a = actors[i];
    shown[static_cast<size_t>(i)] = true;
    down += a.up() ? 0 : 1;
    restarts += a.restarts();
    table.add_row({std::string(2 * static_cast<size_t>(depth), ' ') + a.name(), a.kind(),
                   std::to_string(a.mailbox_depth()), format_rate(a.messages_per_second()),
                   std::to_string(a.messages_handled()), std::to_string(a.restarts()),
                   std::to_string(a.backlog()), a.up() ? "yes" : "NO"});
  };
  auto walk = [&](auto& self, const std::string& name, int depth) -> void {
    if (!expanded.insert(name).second)
      return;
    auto it = children.find(name);
    if (it == children.end())
      return;
    for (int child : it->second) {
      if (shown[static_cast<size_t>(child)])
        continue;
      row(child, depth);
      self(self, actors[child].name(), depth + 1);
    }
  };
  for (const auto& [name, index] : roots) {
    if (index >= 0)
      row(index, 0);
    else
      table.add_row({name});
    walk(walk, name, 1);
  }
  for (int i = 0; i < actors.size(); ++i) // in a parent cycle: still listed
    if (!shown[static_cast<size_t>(i)])
      row(i, 0);

  if (actors.empty())
    return "no actors reported\n";
  std::string summary = plural(actors.size(), "actor", "actors");
  if (down > 0)
    summary += ", " + std::to_string(down) + " down";
  if (restarts > 0)
    summary += ", " + plural(static_cast<std::int64_t>(restarts), "restart", "restarts");
  return table.render() + summary + "\n";
}

std::string format_pipeline(const v1::GetPipelineResponse& resp) {
  if (resp.stages().empty())
    return "no pipeline stages reported\n";
  using col = text_table::column;
  constexpr auto right = text_table::align::right;
  text_table table{{col{"STAGE"}, col{"TOTAL", right}, col{"PER S", right}, col{"P50 MS", right},
                    col{"P99 MS", right}, col{"BACKLOG", right}, col{"DESCRIPTION"}}};
  for (const auto& s : resp.stages())
    table.add_row({s.name(), std::to_string(s.total()), format_rate(s.per_second()),
                   format_latency(s.latency_p50_ms()), format_latency(s.latency_p99_ms()),
                   std::to_string(s.backlog()), s.description()});
  std::string out = table.render();
  if (resp.window_seconds() > 0)
    out += "rates and latencies over the last "
           + printf_string(resp.window_seconds() < 10 ? "%.1f" : "%.0f", resp.window_seconds())
           + "s\n";
  if (!resp.repairs().empty()) {
    out += "counter repairs (resynced from PostgreSQL):";
    for (const auto& r : resp.repairs())
      out += " " + r.reason() + "=" + std::to_string(r.total());
    out += "\n";
  }
  return out;
}

std::string format_lag(const v1::GetLagResponse& resp) {
  std::string state = std::string{"consumption "} + (resp.paused() ? "paused" : "running");
  if (resp.partitions().empty())
    return "no partitions assigned; " + state + "\n";
  using col = text_table::column;
  constexpr auto right = text_table::align::right;
  text_table table{
    {col{"PARTITION"}, col{"END OFFSET", right}, col{"POSITION", right}, col{"LAG", right}}};
  std::vector<const v1::PartitionLag*> parts;
  for (const auto& p : resp.partitions())
    parts.push_back(&p);
  std::stable_sort(parts.begin(), parts.end(),
                   [](auto* a, auto* b) { return a->partition() < b->partition(); });
  for (const auto* p : parts)
    table.add_row({std::to_string(p->partition()), std::to_string(p->end_offset()),
                   std::to_string(p->position()), std::to_string(p->lag())});
  table.add_row({"TOTAL", "", "", std::to_string(resp.total_lag())});
  return table.render() + state + "\n";
}

std::string format_minutes(const v1::GetMinuteCountsResponse& resp, int bar_width) {
  if (resp.minutes().empty())
    return "no minutes reported\n";
  using col = text_table::column;
  constexpr auto right = text_table::align::right;
  text_table table{{col{"MINUTE (UTC)"}, col{"COUNT", right}, col{""}}};
  std::int64_t max = 0;
  std::int64_t total = 0;
  for (const auto& m : resp.minutes()) {
    max = std::max(max, m.count());
    total += m.count();
  }
  for (const auto& m : resp.minutes()) {
    std::string bar;
    if (max > 0 && m.count() > 0) {
      auto len
        = static_cast<size_t>(std::max<std::int64_t>(1, (m.count() * bar_width + max / 2) / max));
      bar.assign(len, '#');
    }
    table.add_row({minute_text(m.minute()), std::to_string(m.count()), bar});
  }
  std::string out = table.render();
  out += plural(resp.minutes().size(), "minute", "minutes") + ", " + plural(total, "ping", "pings");
  if (!resp.source().empty())
    out += ", from "
           + (resp.source() == "postgres" ? std::string{"PostgreSQL"}
              : resp.source() == "cache"  ? std::string{"the cache"}
                                          : resp.source());
  return out + "\n";
}

namespace {

// Epoch milliseconds to "03:58:07" (UTC).
std::string clock_text(std::int64_t epoch_ms) {
  std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

template <class Ints>
std::string int_list(const Ints& xs) {
  std::string out;
  for (auto x : xs) {
    if (!out.empty())
      out += ',';
    out += std::to_string(x);
  }
  return out.empty() ? "-" : out;
}

} // namespace

std::string format_cluster(const v1::GetClusterResponse& resp, int rebalances) {
  using col = text_table::column;
  constexpr auto right = text_table::align::right;
  std::string out;
  int up = 0;
  text_table nodes{{col{"NODE"}, col{"BINARY"}, col{"UP"}, col{"READY"}, col{"PARTITIONS"},
                    col{"LAG", right}, col{"UPTIME", right}, col{"NOTE"}}};
  for (const auto& n : resp.nodes()) {
    up += n.up() ? 1 : 0;
    auto name = n.address() + (n.self() ? " (this)" : "");
    if (!n.up()) {
      nodes.add_row({name, "?", "DOWN", "", "", "", "", n.error()});
      continue;
    }
    bool processor = n.binary() == "ping-processor";
    auto note = n.paused() ? std::string{"paused"} : std::string{};
    if (!n.error().empty()) {
      if (!note.empty())
        note += "; ";
      note += n.error();
    }
    nodes.add_row(
      {name, n.binary(), "yes", n.ready() ? "yes" : "NO", processor ? int_list(n.partitions()) : "",
       processor ? std::to_string(n.lag()) : "", format_duration_ms(n.uptime_ms()), note});
  }
  out += "nodes: " + std::to_string(up) + " of " + std::to_string(resp.nodes_size()) + " up\n";
  out += nodes.render();

  text_table hops{{col{"HOP"}, col{"PER S", right}, col{"P50 MS", right}, col{"P99 MS", right},
                   col{"BACKLOG", right}, col{"NODES", right}, col{"DESCRIPTION"}}};
  for (const auto& h : resp.pipeline())
    hops.add_row({h.name(), format_rate(h.per_second()), format_latency(h.latency_p50_ms()),
                  format_latency(h.latency_p99_ms()), std::to_string(h.backlog()),
                  std::to_string(h.nodes()), h.description()});
  out += "\npipeline (accept -> cache, summed over the nodes)\n" + hops.render();

  std::map<std::int32_t, const v1::ExactnessRow*> exact;
  for (const auto& r : resp.exactness())
    exact[r.partition()] = &r;
  text_table parts{{col{"PARTITION", right}, col{"OWNER"}, col{"LAG", right}, col{"HEAD", right},
                    col{"CACHE SEQ", right}, col{"GAP", right}, col{"RELAY ACKED", right}}};
  for (const auto& p : resp.partitions()) {
    std::string owner = p.owners_size() == 0 ? "NONE" : p.owner();
    if (p.owners_size() > 1) {
      owner.clear();
      for (const auto& o : p.owners()) {
        if (!owner.empty())
          owner += '+';
        owner += o;
      }
      owner += " OVERLAP";
    }
    std::vector<std::string> row{std::to_string(p.partition()), owner,
                                 p.owners_size() ? std::to_string(p.lag()) : "-"};
    if (auto it = exact.find(p.partition()); it != exact.end()) {
      auto* r = it->second;
      row.push_back(std::to_string(r->head()));
      row.push_back(r->cache_seq() < 0 ? "?" : std::to_string(r->cache_seq()));
      row.push_back(r->gap() < 0 ? "?" : std::to_string(r->gap()));
      row.push_back(std::to_string(r->relay_acked()));
    }
    parts.add_row(std::move(row));
  }
  out += "\npartitions";
  if (!resp.exactness_source().empty())
    out += " (exactness from " + resp.exactness_source() + ")";
  out += "\n"
         + (resp.partitions().empty() ? std::string{"no partitions reported\n"} : parts.render());
  if (!resp.exactness_error().empty())
    out += "exactness: " + resp.exactness_error() + "\n";

  if (rebalances > 0 && !resp.rebalances().empty()) {
    text_table events{{col{"TIME (UTC)"}, col{"NODE"}, col{"ASSIGNED"}, col{"REVOKED"}}};
    int shown = 0;
    for (const auto& e : resp.rebalances()) {
      if (shown++ == rebalances)
        break;
      events.add_row(
        {clock_text(e.time_ms()), e.node(), int_list(e.assigned()), int_list(e.revoked())});
    }
    out += "\nrebalances (newest first, " + std::to_string(std::min(shown, rebalances)) + " of "
           + std::to_string(resp.rebalances_size()) + ")\n" + events.render();
  }
  out += "view " + std::to_string(resp.age_ms()) + " ms old; peer deadline "
         + std::to_string(resp.peer_timeout_ms()) + " ms\n";
  return out;
}

std::string format_node_command(const v1::RunNodeCommandResponse& resp) {
  auto where = " on " + resp.node();
  auto parts = plural(resp.partitions(), "partition", "partitions");
  if (resp.method() == "Flush")
    return resp.complete() ? "flushed" + where + ": the deltas of " + parts + " are in the cache\n"
                           : "flush incomplete" + where + " (" + parts + " done)\n";
  if (resp.method() == "PauseConsumption")
    return (resp.paused() ? "consumption paused" : "consumption still running") + where + " ("
           + parts + ")\n";
  if (resp.method() == "ResumeConsumption")
    return (resp.paused() ? "consumption still paused" : "consumption resumed") + where + " ("
           + parts + ")\n";
  if (resp.method() == "RebuildCache")
    return "cache rebuilt" + where + ": " + parts + " recounted in "
           + format_duration_ms(resp.duration_ms()) + "\n";
  return resp.method() + " done" + where + "\n";
}

std::string format_flush(const v1::FlushResponse& resp) {
  if (!resp.complete())
    return "flush incomplete: the cache did not take every delta within the deadline ("
           + plural(resp.partitions(), "partition", "partitions") + " done)\n";
  return "flushed: the deltas of " + plural(resp.partitions(), "partition", "partitions")
         + " are in the cache\n";
}

std::string format_pause(const v1::PauseConsumptionResponse& resp) {
  if (!resp.paused())
    return "consumption is running (" + plural(resp.partitions(), "partition", "partitions")
           + ")\n";
  return "consumption paused on " + plural(resp.partitions(), "partition", "partitions")
         + "; lag grows until resume\n";
}

std::string format_resume(const v1::ResumeConsumptionResponse& resp) {
  if (resp.paused())
    return "consumption is still paused (" + plural(resp.partitions(), "partition", "partitions")
           + ")\n";
  return "consumption resumed on " + plural(resp.partitions(), "partition", "partitions") + "\n";
}

std::string format_rebuild(const v1::RebuildCacheResponse& resp) {
  return "cache rebuilt: " + plural(resp.partitions(), "partition", "partitions")
         + " recounted from PostgreSQL in " + format_duration_ms(resp.duration_ms()) + "\n";
}

std::string format_log_level(const v1::SetLogLevelResponse& resp) {
  return "log level is now " + resp.level() + "\n";
}

std::string describe_admin_failure(const admin_failure& f) {
  switch (f.transport) {
    case http_failure::connect_failed:
      return "cannot reach the admin endpoint at " + f.node + ": "
             + lower_first(f.transport_detail);
    case http_failure::timed_out:
      return "the admin endpoint at " + f.node + " did not answer " + f.method + " within "
             + std::to_string(f.timeout.count()) + " ms (deadline_exceeded)";
    case http_failure::io_error:
      return "lost the connection to the admin endpoint at " + f.node + ": "
             + lower_first(f.transport_detail);
    case http_failure::interrupted:
      return "interrupted: stopped waiting for " + f.method + " (the node may still carry it out)";
    case http_failure::none:
      break;
  }
  if (f.code == "unauthenticated")
    return f.token_sent ? "the node refused the token (unauthenticated)"
                        : "the node requires a token (unauthenticated): pass --token-file";
  if (f.code == "unimplemented") {
    if (f.message.empty())
      return "this node does not implement " + f.method + " (unimplemented)";
    if (f.message.rfind("HTTP ", 0) == 0) // not a Connect server
      return f.node + " does not serve " + f.method + " (" + f.message
             + "); is it a Ping admin port? (unimplemented)";
    return f.message + " (unimplemented)";
  }
  return f.method + " failed: " + (f.message.empty() ? f.code : f.message) + " (" + f.code + ")";
}

std::string watch_header(std::string_view node_label, std::string_view what,
                         std::string_view time_text, std::uint64_t refresh,
                         std::chrono::milliseconds interval) {
  auto every = interval.count() % 1000 == 0
                 ? std::to_string(interval.count() / 1000) + "s"
                 : printf_string("%gs", static_cast<double>(interval.count()) / 1000.0);
  return std::string{node_label} + "  " + std::string{what} + "  " + std::string{time_text}
         + "  refresh #" + std::to_string(refresh) + "  every " + every + ", Enter or Ctrl-C stops";
}

std::vector<std::string> fit_to_screen(const std::string& text, int rows, int cols) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (rows >= 1 && lines.size() > static_cast<size_t>(rows)) {
    auto kept = static_cast<size_t>(rows - 1);
    auto left_out = lines.size() - kept;
    lines.resize(kept);
    lines.push_back("... " + std::to_string(left_out) + " more lines (enlarge the terminal)");
  }
  if (cols >= 1)
    for (auto& line : lines)
      if (line.size() > static_cast<size_t>(cols))
        line.resize(static_cast<size_t>(cols));
  return lines;
}

} // namespace ping::admin::text
