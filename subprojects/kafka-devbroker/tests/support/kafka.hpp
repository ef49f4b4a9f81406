#pragma once
// Small librdkafka (C++ API) clients for the tests. All calls are bounded.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

namespace devbroker::test {

using config_map = std::map<std::string, std::string>;
using record = std::pair<std::string, std::string>; // key, value

// Producer with delivery reports collected per produce_all() call.
// Defaults: idempotent, acks=all; `overrides` win.
class producer {
public:
  explicit producer(const std::string& bootstrap, const config_map& overrides = {});
  ~producer();

  // Produces all records (partitioner picks by key) and polls until every
  // delivery report arrived or the deadline passed. Returns one error code per
  // record (ERR__TIMED_OUT for "no report before the deadline").
  std::vector<RdKafka::ErrorCode> produce_all(const std::string& topic,
                                              const std::vector<record>& records,
                                              std::chrono::milliseconds timeout);

private:
  class report_cb;
  std::unique_ptr<report_cb> cb_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

// Joins `group`, subscribes to `topic` and consumes until `expected` records
// arrived or the deadline passed (fetch.wait.max.ms=50 for the mock).
std::vector<record> consume_group(const std::string& bootstrap, const std::string& topic,
                                  const std::string& group, std::size_t expected,
                                  std::chrono::milliseconds timeout);

// Sum over partitions of (high - low) watermarks; -1 on error.
int64_t count_messages(const std::string& bootstrap, const std::string& topic,
                       std::chrono::milliseconds timeout);

// records key-0..key-(n-1) / `prefix`-0..
std::vector<record> make_records(const std::string& prefix, std::size_t n);

} // namespace devbroker::test
