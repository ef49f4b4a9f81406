#pragma once
// Owner of librdkafka's mock cluster.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h> // after rdkafka.h, by its own rule

namespace devbroker {

// "NAME:PARTITIONS" as given on the command line / in defaults.
struct topic_spec {
  std::string name;
  int partitions = 1;
};

// Parses "NAME:PARTITIONS" (PARTITIONS 1..10000, NAME a legal Kafka topic
// name); nullopt when malformed.
std::optional<topic_spec> parse_topic_spec(std::string_view text);

// Settings for mock_cluster, fixed at construction.
struct cluster_settings {
  int brokers = 1;             // broker ids are 1..brokers
  int replication_factor = 0;  // 0: min(brokers, 3)
  std::string debug;           // librdkafka `debug` contexts, e.g. "mock,broker"
  int log_level = 6;           // librdkafka syslog level for its own logs
  std::vector<uint16_t> ports; // listener port of broker 1, 2, ...; empty: random
};

// Snapshot of the cluster as reported by `status`.
struct cluster_status {
  std::string bootstrap;
  std::vector<std::pair<int32_t, bool>> brokers; // (id, up)
  std::vector<std::pair<int32_t, int>> rtt_ms;   // (id, rtt) where rtt != 0
  std::map<std::string, int> topics;             // name -> partitions
};

// mock_cluster owns a dedicated rd_kafka_t (a producer handle that never
// produces; librdkafka needs it for bookkeeping and logging) and the
// rd_kafka_mock_cluster_t created on it. librdkafka runs the mock brokers on
// its own internal thread; every public method here is thread-safe (one mutex
// serialises calls into the mock API and guards the bookkeeping below, which
// the mock API itself cannot report: up/down state, rtt, topics created
// through us). Topics auto-created by clients are not listed.
//
// Lifecycle: the constructor creates and binds everything (throws
// std::runtime_error on failure); the destructor destroys the mock cluster,
// then the handle. Addresses stay the same for the object's lifetime, also
// across down/up.
class mock_cluster {
public:
  explicit mock_cluster(const cluster_settings& settings);
  ~mock_cluster();
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  // Comma-separated 127.0.0.1:PORT list.
  const std::string& bootstrap() const { return bootstrap_; }
  int broker_count() const { return settings_.brokers; }

  // All of the following return RD_KAFKA_RESP_ERR_NO_ERROR on success.
  // `broker` is an id in 1..broker_count(), or nullopt for all brokers.
  rd_kafka_resp_err_t create_topic(const std::string& name, int partitions);
  rd_kafka_resp_err_t set_down(std::optional<int32_t> broker);
  rd_kafka_resp_err_t set_up(std::optional<int32_t> broker);
  rd_kafka_resp_err_t set_rtt(std::optional<int32_t> broker, int rtt_ms);
  // The next `count` requests of `api_key` (cluster-wide) fail with `err`.
  rd_kafka_resp_err_t push_request_errors(int16_t api_key, rd_kafka_resp_err_t err, size_t count);
  void clear_request_errors(int16_t api_key);

  cluster_status status() const;

private:
  struct handle_deleter {
    void operator()(rd_kafka_t* rk) const;
  };
  struct cluster_deleter {
    void operator()(rd_kafka_mock_cluster_t* mc) const;
  };

  bool valid_broker(std::optional<int32_t> broker) const;
  // Applies `fn(id)` to one broker or all; stops at the first error.
  template <class Fn>
  rd_kafka_resp_err_t for_brokers(std::optional<int32_t> broker, Fn fn);

  const cluster_settings settings_;
  std::unique_ptr<rd_kafka_t, handle_deleter> handle_;
  std::unique_ptr<rd_kafka_mock_cluster_t, cluster_deleter> cluster_;
  std::string bootstrap_;

  mutable std::mutex mutex_;
  std::vector<bool> up_; // index id-1
  std::vector<int> rtt_; // index id-1
  std::map<std::string, int> topics_;
};

} // namespace devbroker
