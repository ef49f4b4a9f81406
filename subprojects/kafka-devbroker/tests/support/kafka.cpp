#include "kafka.hpp"

#include <stdexcept>

namespace devbroker::test {
namespace {

using clock = std::chrono::steady_clock;

std::unique_ptr<RdKafka::Conf> make_conf(const config_map& values) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [k, v] : values)
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error(
        std::string{"conf "}.append(k).append("=").append(v).append(": ").append(err));
  return conf;
}

int ms_left(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

} // namespace

// Stores the error of each report under the index passed as msg_opaque.
class producer::report_cb : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& m) override {
    const auto index = reinterpret_cast<std::uintptr_t>(m.msg_opaque());
    if (index < results.size()) {
      results[index] = m.err();
      ++received;
    }
  }
  std::vector<RdKafka::ErrorCode> results;
  std::size_t received = 0;
};

producer::producer(const std::string& bootstrap, const config_map& overrides)
  : cb_(std::make_unique<report_cb>()) {
  config_map values{{"bootstrap.servers", bootstrap},
                    {"enable.idempotence", "true"},
                    {"acks", "all"},
                    {"linger.ms", "5"},
                    {"reconnect.backoff.max.ms", "500"}};
  for (const auto& [k, v] : overrides)
    values[k] = v;
  auto conf = make_conf(values);
  std::string err;
  if (conf->set("dr_cb", cb_.get(), err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error(err);
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_)
    throw std::runtime_error("producer: " + err);
}

producer::~producer() {
  // Bounded: anything not delivered by now is dropped.
  producer_->flush(2000);
  producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  producer_->poll(0);
}

std::vector<RdKafka::ErrorCode> producer::produce_all(const std::string& topic,
                                                      const std::vector<record>& records,
                                                      std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  cb_->results.assign(records.size(), RdKafka::ERR__TIMED_OUT);
  cb_->received = 0;
  std::size_t enqueued = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& [key, value] = records[i];
    // librdkafka's opaque is a void*: the index travels in it, never dereferenced.
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a token, not an address
    auto* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(i));
    const auto err = producer_->produce(topic, RdKafka::Topic::PARTITION_UA,
                                        RdKafka::Producer::RK_MSG_COPY,
                                        const_cast<char*>(value.data()), value.size(), key.data(),
                                        key.size(), 0, opaque);
    if (err != RdKafka::ERR_NO_ERROR) {
      cb_->results[i] = err;
    } else {
      ++enqueued;
    }
  }
  while (cb_->received < enqueued && ms_left(deadline) > 0)
    producer_->poll(std::min(ms_left(deadline), 50));
  return cb_->results;
}

std::vector<record> consume_group(const std::string& bootstrap, const std::string& topic,
                                  const std::string& group, std::size_t expected,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  auto conf = make_conf({{"bootstrap.servers", bootstrap},
                         {"group.id", group},
                         {"auto.offset.reset", "earliest"},
                         {"enable.auto.commit", "false"},
                         {"fetch.wait.max.ms", "50"}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer)
    throw std::runtime_error("consumer: " + err);
  if (consumer->subscribe({topic}) != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("subscribe");
  std::vector<record> got;
  while (got.size() < expected && ms_left(deadline) > 0) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(std::min(ms_left(deadline), 100)));
    if (m && m->err() == RdKafka::ERR_NO_ERROR)
      got.emplace_back(m->key() ? *m->key() : std::string(),
                       std::string(static_cast<const char*>(m->payload()), m->len()));
  }
  consumer->close();
  return got;
}

int64_t count_messages(const std::string& bootstrap, const std::string& topic,
                       std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  auto conf = make_conf({{"bootstrap.servers", bootstrap}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> client(RdKafka::Producer::create(conf.get(), err));
  if (!client)
    return -1;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(client.get(), topic, nullptr, err));
  RdKafka::Metadata* raw = nullptr;
  if (client->metadata(false, t.get(), &raw, ms_left(deadline)) != RdKafka::ERR_NO_ERROR)
    return -1;
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (md->topics()->empty() || md->topics()->at(0)->err() != RdKafka::ERR_NO_ERROR)
    return -1;
  int64_t total = 0;
  for (const auto* p : *md->topics()->at(0)->partitions()) {
    int64_t low = 0, high = 0;
    if (client->query_watermark_offsets(topic, p->id(), &low, &high, ms_left(deadline))
        != RdKafka::ERR_NO_ERROR)
      return -1;
    total += high - low;
  }
  return total;
}

std::vector<record> make_records(const std::string& prefix, std::size_t n) {
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i)
    out.emplace_back(prefix + "-key-" + std::to_string(i), prefix + "-value-" + std::to_string(i));
  return out;
}

} // namespace devbroker::test
