#include "devbroker/mock_cluster.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "devbroker/fixed_ports.hpp"
#include "devbroker/log.hpp"

namespace devbroker {
namespace {

constexpr int max_partitions = 10'000;
constexpr std::size_t max_topic_name = 249; // Kafka's limit

bool legal_topic_name(std::string_view name) {
  if (name.empty() || name.size() > max_topic_name || name == "." || name == "..")
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
           || c == '_' || c == '-';
  });
}

// librdkafka log callback: called from librdkafka's internal threads.
void on_rdkafka_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // Our handle deliberately has no bootstrap.servers (it only hosts the mock);
  // librdkafka's warning about that would mislead whoever reads the log.
  const std::string_view facility = fac ? fac : "";
  if (facility == "CONFWARN"
      && std::string_view(buf).find("bootstrap.servers") != std::string_view::npos)
    return;
  log::write(log::from_syslog(level), "rdkafka", buf,
             {{"fac", fac ? fac : ""}, {"client", rk ? rd_kafka_name(rk) : ""}});
}

void set_conf(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[256];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("librdkafka config ") + key + ": " + err);
  }
}

} // namespace

std::optional<topic_spec> parse_topic_spec(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  const auto name = text.substr(0, colon);
  const auto count = text.substr(colon + 1);
  int partitions = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), partitions);
  if (ec != std::errc{} || end != count.data() + count.size())
    return std::nullopt;
  if (partitions < 1 || partitions > max_partitions || !legal_topic_name(name))
    return std::nullopt;
  return topic_spec{std::string(name), partitions};
}

void mock_cluster::handle_deleter::operator()(rd_kafka_t* rk) const {
  rd_kafka_destroy(rk);
}

void mock_cluster::cluster_deleter::operator()(rd_kafka_mock_cluster_t* mc) const {
  rd_kafka_mock_cluster_destroy(mc);
}

mock_cluster::mock_cluster(const cluster_settings& settings)
  : settings_([&] {
      cluster_settings s = settings;
      if (s.brokers < 1 || s.brokers > 64)
        throw std::invalid_argument("brokers must be 1..64");
      if (s.replication_factor <= 0)
        s.replication_factor = std::min(s.brokers, 3);
      s.replication_factor = std::min(s.replication_factor, s.brokers);
      return s;
    }()),
    up_(static_cast<std::size_t>(settings_.brokers), true),
    rtt_(static_cast<std::size_t>(settings_.brokers), 0) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
  set_conf(conf, "client.id", "devbroker-mock");
  set_conf(conf, "log_level", std::to_string(settings_.log_level));
  if (!settings_.debug.empty())
    set_conf(conf, "debug", settings_.debug);

  char err[512];
  // The handle owns the mock's bookkeeping; it is a producer that never
  // produces and has no bootstrap.servers of its own.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  handle_.reset(rk);

  if (!settings_.ports.empty()) {
    if (static_cast<int>(settings_.ports.size()) != settings_.brokers)
      throw std::invalid_argument("one port per broker expected");
    fixed_ports::arm(settings_.ports);
  }
  cluster_.reset(rd_kafka_mock_cluster_new(rk, settings_.brokers));
  const auto taken = settings_.ports.empty() ? 0 : fixed_ports::disarm();
  if (!cluster_)
    throw std::runtime_error("rd_kafka_mock_cluster_new failed (ports in use?)");
  if (taken != settings_.ports.size())
    throw std::runtime_error("the mock cluster did not bind the chosen ports");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
}

mock_cluster::~mock_cluster() {
  // Order matters: the mock cluster lives on the handle.
  log::write(log::level::debug, "devbroker", "destroying mock cluster");
  cluster_.reset();
  log::write(log::level::debug, "devbroker", "destroying handle");
  handle_.reset();
  log::write(log::level::debug, "devbroker", "handle destroyed");
}

bool mock_cluster::valid_broker(std::optional<int32_t> broker) const {
  return !broker || (*broker >= 1 && *broker <= settings_.brokers);
}

template <class Fn>
rd_kafka_resp_err_t mock_cluster::for_brokers(std::optional<int32_t> broker, Fn fn) {
  if (!valid_broker(broker))
    return RD_KAFKA_RESP_ERR__UNKNOWN_BROKER;
  // Explicit loop instead of broker id -1: keeps our bookkeeping exact.
  const int32_t first = broker ? *broker : 1;
  const int32_t last = broker ? *broker : settings_.brokers;
  for (int32_t id = first; id <= last; ++id) {
    if (const auto err = fn(id); err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return err;
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t mock_cluster::create_topic(const std::string& name, int partitions) {
  if (!legal_topic_name(name) || partitions < 1 || partitions > max_partitions)
    return RD_KAFKA_RESP_ERR__INVALID_ARG;
  std::lock_guard lock(mutex_);
  if (topics_.count(name))
    return RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
  const auto err = rd_kafka_mock_topic_create(cluster_.get(), name.c_str(), partitions,
                                              settings_.replication_factor);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    topics_[name] = partitions;
  return err;
}

rd_kafka_resp_err_t mock_cluster::set_down(std::optional<int32_t> broker) {
  std::lock_guard lock(mutex_);
  return for_brokers(broker, [&](int32_t id) {
    const auto err = rd_kafka_mock_broker_set_down(cluster_.get(), id);
    if (!err)
      up_[static_cast<std::size_t>(id - 1)] = false;
    return err;
  });
}

rd_kafka_resp_err_t mock_cluster::set_up(std::optional<int32_t> broker) {
  std::lock_guard lock(mutex_);
  return for_brokers(broker, [&](int32_t id) {
    const auto err = rd_kafka_mock_broker_set_up(cluster_.get(), id);
    if (!err)
      up_[static_cast<std::size_t>(id - 1)] = true;
    return err;
  });
}

rd_kafka_resp_err_t mock_cluster::set_rtt(std::optional<int32_t> broker, int rtt_ms) {
  if (rtt_ms < 0)
    return RD_KAFKA_RESP_ERR__INVALID_ARG;
  std::lock_guard lock(mutex_);
  return for_brokers(broker, [&](int32_t id) {
    const auto err = rd_kafka_mock_broker_set_rtt(cluster_.get(), id, rtt_ms);
    if (!err)
      rtt_[static_cast<std::size_t>(id - 1)] = rtt_ms;
    return err;
  });
}

rd_kafka_resp_err_t mock_cluster::push_request_errors(int16_t api_key, rd_kafka_resp_err_t err,
                                                      size_t count) {
  if (api_key < 0 || count == 0 || count > 1000)
    return RD_KAFKA_RESP_ERR__INVALID_ARG;
  const std::vector<rd_kafka_resp_err_t> errors(count, err);
  std::lock_guard lock(mutex_);
  rd_kafka_mock_push_request_errors_array(cluster_.get(), api_key, count, errors.data());
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void mock_cluster::clear_request_errors(int16_t api_key) {
  std::lock_guard lock(mutex_);
  rd_kafka_mock_clear_request_errors(cluster_.get(), api_key);
}

cluster_status mock_cluster::status() const {
  std::lock_guard lock(mutex_);
  cluster_status s;
  s.bootstrap = bootstrap_;
  for (int32_t id = 1; id <= settings_.brokers; ++id) {
    const auto i = static_cast<std::size_t>(id - 1);
    s.brokers.emplace_back(id, up_[i]);
    if (rtt_[i] != 0)
      s.rtt_ms.emplace_back(id, rtt_[i]);
  }
  s.topics = topics_;
  return s;
}

} // namespace devbroker
