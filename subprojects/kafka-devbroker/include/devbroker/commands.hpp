#pragma once
// The control protocol's command interpreter (server side).
//
// One command per line, answered by one line starting with "ok" or "error":
//   ping                               -> ok pong
//   help                               -> ok commands: ...
//   status                             -> ok bootstrap=... brokers=1:up,2:down
//                                         topics=NAME:PARTS,... rtt=ID:MS,...
//   down [ID|all]  / up [ID|all]       -> ok brokers=...   (default: all)
//   errors API ERR COUNT               -> ok api=0 err=6 count=1
//   clear-errors API                   -> ok api=0
//   rtt ID|all MS                      -> ok rtt=...
//   create-topic NAME PARTITIONS       -> ok topic=NAME partitions=N

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <librdkafka/rdkafka.h>

namespace devbroker {

class mock_cluster;

// Kafka API key by number ("0") or name ("Produce", case-insensitive).
std::optional<int16_t> parse_api_key(std::string_view text);

// Error code by number ("6", "-195") or librdkafka name
// ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT", optionally prefixed with
// "RD_KAFKA_RESP_ERR_"; case-insensitive).
std::optional<rd_kafka_resp_err_t> parse_error_code(std::string_view text);

// Stateless apart from the cluster reference; called from the control
// server thread. Never throws for bad input: answers "error ...".
class command_handler {
public:
  explicit command_handler(mock_cluster& cluster) : cluster_(cluster) {}

  // `line` without the newline; returns the answer without the newline.
  std::string handle(std::string_view line);

private:
  mock_cluster& cluster_;
};

} // namespace devbroker
