#pragma once
// kafka-devbroker entry point: a development Kafka broker around librdkafka's
// mock cluster. DEV AND TEST USE ONLY — no persistence, no security, no real
// replication.

#include <string>
#include <vector>

namespace devbroker {

// Caller-supplied defaults, so another project can ship a preconfigured
// binary (e.g. `ping-devbroker`) whose main() is one line.
struct defaults {
  // Name shown in --help and log lines; empty means "kafka-devbroker".
  std::string program;
  // Topics created at start-up, each "NAME:PARTITIONS" (e.g. "ping-events:3").
  // `--topic` adds to these; `--no-default-topics` drops them.
  std::vector<std::string> topics;
};

// Runs the broker (or the `ctl` subcommand when argv[1] == "ctl").
// Blocks until SIGTERM/SIGINT. Returns the process exit code:
// 0 clean shutdown / ctl answered "ok", 1 runtime failure / ctl "error",
// 2 usage error.
int main(int argc, char** argv, const defaults& program_defaults);

} // namespace devbroker
