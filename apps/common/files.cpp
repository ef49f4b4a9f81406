#include "apps/common/files.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace ping::apps {

void write_file_atomically(const std::string& path, const std::vector<std::string>& lines) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    for (auto& l : lines)
      out << l << '\n';
    if (!out)
      throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

std::string read_key(const std::string& path, const std::string& key) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0)
      return line.substr(key.size() + 1);
  return "";
}

} // namespace ping::apps
