#include "devbroker/info_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

namespace devbroker {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

void write_info_file(const std::string& path, const broker_info& info) {
  const std::string content = "bootstrap=" + info.bootstrap + "\ncontrol=" + info.control
                              + "\npid=" + std::to_string(info.pid) + "\n";
  // Temp file next to the target so rename() stays within one filesystem.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw_errno("open " + tmp);
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::system_error(saved, std::generic_category(), "write " + tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(saved, std::generic_category(), "fsync/close " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(saved, std::generic_category(), "rename to " + path);
  }
}

std::optional<broker_info> read_info_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  broker_info info;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (key == "bootstrap") {
      info.bootstrap = value;
    } else if (key == "control") {
      info.control = value;
    } else if (key == "pid") {
      try {
        info.pid = std::stol(value);
      } catch (const std::exception&) {
        info.pid = 0;
      }
    }
  }
  if (info.bootstrap.empty() || info.control.empty())
    return std::nullopt;
  return info;
}

} // namespace devbroker
