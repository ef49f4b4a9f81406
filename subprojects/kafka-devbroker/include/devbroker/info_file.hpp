#pragma once
// The info file tells scripts and tests where a running broker is. Format,
// one `key=value` per line:
//   bootstrap=127.0.0.1:PORT[,127.0.0.1:PORT...]
//   control=/path/to/control.sock
//   pid=12345

#include <optional>
#include <string>

namespace devbroker {

struct broker_info {
  std::string bootstrap;
  std::string control;
  long pid = 0;
};

// Writes `info` to `path` atomically (temp file in the same directory,
// fsync, rename). Throws std::system_error on failure.
void write_info_file(const std::string& path, const broker_info& info);

// Reads an info file; nullopt if it is missing or lacks bootstrap/control.
std::optional<broker_info> read_info_file(const std::string& path);

} // namespace devbroker
