#pragma once
// /metrics: the Prometheus text exposition (format 0.0.4) of a telemetry
// registry. Every counter, gauge, gauge family and histogram is exported
// under its name with the prefix `ping_`, one family per name with its HELP
// text and its series' labels; every actor's stats as
// ping_actor_{messages_handled_total,restarts_total,mailbox_depth,backlog,up}
// labelled by actor and kind; `ping_build_info{version,revision}`;
// `ping_ready` (1 while /readyz answers 200); and the
// standard process_* family (admin/process_metrics.hpp).
//
// Reads the registry's atomics only (never waits on an actor); called on
// the admin server's I/O thread per scrape. Formatting is prometheus-cpp's.

#include <optional>
#include <string>

#include "actors/common/telemetry.hpp"

namespace ping::admin {

/// `ready`, when given, is exported as `ping_ready` (what /readyz answers).
std::string render_metrics(const telemetry::registry& reg,
                           std::optional<bool> ready = std::nullopt);

} // namespace ping::admin
