#pragma once
// Every setting of ping-processor, in one place, with its default.

#include <chrono>
#include <string>

#include "actors/cache/cache_reader.hpp"
#include "actors/cache/cache_writer.hpp"
#include "actors/windowing/consumer.hpp"
#include "actors/windowing/rebuilder.hpp"
#include "actors/windowing/window.hpp"
#include "apps/common/options.hpp"

namespace ping::apps {

struct processor_config : options {
  windowing::consumer_settings kafka;
  windowing::window_settings window;
  cache::writer_settings cache;
  std::string dsn = "host=127.0.0.1 port=5432 dbname=ping user=ping";
  std::string ports_file;
  caf::timespan drain_timeout = std::chrono::seconds(8);

  processor_config();

  int32_t partitions = 3; // of the topic: completeness of the console's minute counts

  windowing::rebuild_settings rebuild() const;
  cache::settings reader() const;
};

} // namespace ping::apps
