#pragma once
// /metrics: the Prometheus text exposition (format 0.0.4) of a telemetry
// registry. Every counter, gauge, gauge family and histogram is exported
// under its name with the prefix `ping_`; every actor's stats as
// ping_actor_{messages_handled_total,restarts_total,mailbox_depth,backlog,up}
// labelled by actor and kind.
//
// Reads the registry's atomics only (never waits on an actor); called on
// the admin server's I/O thread per scrape. Formatting is prometheus-cpp's.

#include <string>

#include "actors/common/telemetry.hpp"

namespace ping::admin {

std::string render_metrics(const telemetry::registry& reg);

} // namespace ping::admin
