#pragma once

#include <string>
#include <vector>

namespace ping::apps {

/// Writes `lines` to `path` atomically (temporary file, then rename).
void write_file_atomically(const std::string& path, const std::vector<std::string>& lines);

/// The value of `key=value` in a line-based file, or "" when absent.
std::string read_key(const std::string& path, const std::string& key);

} // namespace ping::apps
