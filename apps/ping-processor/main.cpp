// ping-processor: the windowing service. Until the windowing actors land
// (issue "Windowing actor system"), it only parses its configuration, reports
// itself as started, and waits for SIGTERM, so the local stack and
// deployments can already run it.

#include "actors/common/log.hpp"
#include "apps/common/options.hpp"
#include "apps/common/signals.hpp"

namespace {

struct processor_config : ping::apps::options {
  std::string kafka_bootstrap = "127.0.0.1:9092";
  std::string bootstrap_file;
  std::string redis = "127.0.0.1:6379";

  processor_config()
    : options("ping-processor",
              "Ping's windowing service (counting not implemented yet: it "
              "starts and waits for SIGTERM).") {
    add("kafka", kafka_bootstrap, "bootstrap", "Kafka bootstrap servers");
    add("kafka", bootstrap_file, "bootstrap-file", "read the bootstrap servers from this file");
    add("cache", redis, "address", "Dragonfly/Redis address host:port");
  }
};

} // namespace

int main(int argc, char** argv) {
  ping::apps::block_shutdown_signals();
  processor_config cfg;
  if (auto code = cfg.load(argc, argv))
    return *code;
  ping::log::info("processor", "started; windowing not implemented yet");
  auto sig = ping::apps::wait_for_shutdown_signal();
  ping::log::info("processor", "stopped", {{"signal", std::to_string(sig)}});
  return 0;
}
