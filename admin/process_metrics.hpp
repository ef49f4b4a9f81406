#pragma once
// The standard process_* metrics of a Prometheus client, read from /proc
// (prometheus-cpp 1.0 in Debian 12 ships no process collector): CPU seconds,
// resident and virtual memory, open and maximum file descriptors, start
// time. Read per scrape on the admin server's I/O thread: a few small
// /proc reads and one directory listing, never blocking on an actor.

#include <optional>

namespace ping::admin {

struct process_stats {
  double cpu_seconds = 0; // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;            // the soft RLIMIT_NOFILE
  double start_time_seconds = 0; // since the Unix epoch
};

/// This process's figures; nullopt where /proc cannot be read.
std::optional<process_stats> read_process_stats();

} // namespace ping::admin
