#pragma once
// Test harness for integration tests on real services: child processes,
// throwaway databases, the dev broker, a gateway, gRPC and Kafka clients.
// Every wait has a deadline. Services shared by a test run (PostgreSQL,
// redis-server) come from scripts/test.sh through PING_TEST_* variables;
// each test creates its own database and, where it needs to break things,
// its own broker or PostgreSQL cluster.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <stdexcept>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "ping/v1/event.pb.h"
#include "ping/v1/ping.grpc.pb.h"

namespace RdKafka {
class Message;
} // namespace RdKafka

namespace ping::test {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

/// The value of an environment variable; throws with a hint when unset.
std::string env(const std::string& name);

/// A fresh temporary directory (removed by the destructor of `temp_dir`).
struct temp_dir {
  temp_dir();
  ~temp_dir();
  std::string path;
};

/// Polls `pred` every 20 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, clock::duration timeout);

/// A child process; output goes to `log_path`. Killed (SIGKILL) on destruction
/// if still running.
class process {
public:
  process(std::vector<std::string> argv, std::string log_path);
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  bool alive();
  void signal(int sig);
  /// Waits for the exit; returns the exit status, or nullopt on timeout.
  std::optional<int> wait(clock::duration timeout);
  std::string log() const;
  int pid() const { return pid_; }

private:
  int pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

/// Runs a shell command; returns its exit status.
int shell(const std::string& cmd);

/// Runs a shell command with a deadline; returns its standard output.
std::string shell_output(const std::string& cmd, clock::duration timeout = 30s);

/// A new, empty database on the shared test cluster (owner `ping`).
/// Returns its libpq connection string.
std::string fresh_database(const std::string& prefix);

/// Outbox log entries not yet acknowledged by Kafka, over all partitions.
inline constexpr const char* outbox_backlog
  = "SELECT coalesce(sum(h.next_seq - 1 - c.acked_seq), 0) FROM outbox_head h "
    "JOIN outbox_cursor c USING (kafka_partition)";

/// Differences between ping_seconds and the rows (migration 0019): per
/// (partition, second) of every minute whose bucket keeps seconds, and
/// seconds outside such minutes; 0 when they agree.
inline constexpr const char* seconds_mismatches
  = "SELECT count(*) FROM (SELECT p.kafka_partition, floor(date_part('epoch', p.pinged_at))::int8"
    " AS second, count(*) AS n FROM pings p JOIN ping_buckets b"
    " ON b.kafka_partition = p.kafka_partition AND b.grain = 1 AND b.seconds"
    " AND b.first_minute = floor(date_part('epoch', p.pinged_at) / 60)::int8 GROUP BY 1, 2) r"
    " FULL JOIN ping_seconds s USING (kafka_partition, second) WHERE r.n IS DISTINCT FROM s.n";

/// A single integer from a query.
int64_t query_int(const std::string& dsn, const std::string& sql);

/// A throwaway PostgreSQL cluster of the test's own, for outage tests.
class pg_cluster {
public:
  pg_cluster();
  ~pg_cluster();
  void start();
  void stop();
  std::string dsn() const;

private:
  temp_dir dir_;
  int port_;
};

/// A dev broker of the test's own (so tests can take it down).
class devbroker {
public:
  explicit devbroker(const std::string& dir);
  std::string bootstrap() const { return bootstrap_; }
  std::string info_file() const { return info_; }
  /// Sends a control command ("down all"); returns the answer line.
  std::string control(const std::string& cmd);

private:
  std::string info_;
  std::string socket_;
  std::string bootstrap_;
  std::unique_ptr<process> proc_;
};

/// A ping-gateway process on free ports.
class gateway {
public:
  gateway(const std::string& dir, const std::string& dsn, const std::string& bootstrap,
          std::vector<std::string> extra = {});
  uint16_t connect_port() const { return connect_; }
  uint16_t grpc_port() const { return grpc_; }
  uint16_t admin_port() const { return admin_; }
  process& proc() { return *proc_; }
  /// Stub on a fresh channel to the gRPC port.
  std::unique_ptr<ping::v1::PingService::Stub> stub() const;

private:
  uint16_t connect_ = 0;
  uint16_t grpc_ = 0;
  uint16_t admin_ = 0;
  std::unique_ptr<process> proc_;
};

/// A redis-server of the test's own (the Dragonfly stand-in).
class redis_server {
public:
  redis_server();
  ~redis_server();
  void start();
  void stop();
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// Its data directory (where SAVE writes dump.rdb, loaded by start()).
  const std::string& dir() const { return dir_.path; }
  /// Signals the server (SIGSTOP freezes it, SIGCONT thaws it).
  void signal(int sig);
  /// Runs redis-cli with the arguments; returns its output.
  std::string cli(const std::string& args) const;
  /// HGETALL as a map (empty when the key is missing or redis is down).
  std::map<std::string, int64_t> hgetall(const std::string& key) const;

private:
  temp_dir dir_;
  uint16_t port_;
  std::unique_ptr<process> proc_;
};

/// A ping-processor process; the constructor returns once its admin
/// endpoint listens.
class processor {
public:
  processor(const std::string& dir, const std::string& name, const std::string& dsn,
            const std::string& bootstrap, const std::string& cache_address,
            std::vector<std::string> extra = {});
  process& proc() { return *proc_; }
  uint16_t admin_port() const { return admin_; }

private:
  uint16_t admin_ = 0;
  std::unique_ptr<process> proc_;
};

/// Parses proto3 JSON into `out` (unknown fields ignored).
bool parse_json(const std::string& json, google::protobuf::Message& out);

/// One call of the admin API (Connect JSON through curl, 10 s deadline).
struct admin_reply {
  int http_status = 0; // 0: no HTTP answer at all
  std::string body;
};
admin_reply admin_call(const std::string& host_port, const std::string& method,
                       const std::string& json = "{}", const std::string& token = "");

/// An admin call that must succeed, parsed into its response type; throws
/// with the status and body otherwise.
template <class Response>
Response admin_rpc(uint16_t port, const std::string& method, const std::string& json = "{}") {
  auto r = admin_call("127.0.0.1:" + std::to_string(port), method, json);
  Response out;
  if (r.http_status != 200 || !parse_json(r.body, out))
    throw std::runtime_error(method + " failed: HTTP " + std::to_string(r.http_status) + " "
                             + r.body);
  return out;
}

/// True when the cache holds an offset for every one of `partitions`.
bool cache_complete(const redis_server& redis, int partitions = 3);

/// Pings in PostgreSQL as the cache keeps them: "minute:N", "hour:N" and
/// "day:N" -> count, plus "total".
std::map<std::string, int64_t> counts_in_postgres(const std::string& dsn);

/// One Ping over gRPC with a deadline.
grpc::Status send_ping(ping::v1::PingService::Stub& stub, int64_t timestamp_ms,
                       clock::duration timeout = 5s);

/// PingCount over gRPC (a half-open range when `start` <= `end`); -1 on error.
int64_t count_pings(ping::v1::PingService::Stub& stub, int64_t start = 0, int64_t end = -1,
                    clock::duration timeout = 5s);

/// Reads `topic` from the beginning (its 3 partitions assigned directly, no
/// group join), handing each record to `seen` until it returns true (done)
/// or `timeout` passes.
void consume_records(const std::string& bootstrap, const std::string& topic,
                     const std::function<bool(RdKafka::Message&)>& seen, clock::duration timeout);

/// Reads every record of `topic` from the beginning (all partitions) until
/// `done(records)` is true or `timeout` passes.
std::vector<ping::v1::PingEvent> consume_events(
  const std::string& bootstrap, const std::string& topic,
  const std::function<bool(const std::vector<ping::v1::PingEvent>&)>& done,
  clock::duration timeout);

} // namespace ping::test
