#include "actors/common/ids.hpp"

#include <chrono>
#include <random>

namespace ping {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string make_uuid_v7(int64_t unix_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint8_t b[16];
  auto ts = static_cast<uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<uint8_t>(ts >> (8 * (5 - i)));
  auto r1 = rng();
  auto r2 = rng();
  for (int i = 0; i < 8; ++i)
    b[6 + i] = static_cast<uint8_t>(r1 >> (8 * i));
  b[14] = static_cast<uint8_t>(r2);
  b[15] = static_cast<uint8_t>(r2 >> 8);
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0F)); // version 7
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F)); // variant 10
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0F]);
  }
  return out;
}

int32_t partition_of(std::string_view id, int32_t partitions) {
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  uint32_t h = 2166136261u;
  for (unsigned char c : id) {
    h ^= c;
    h *= 16777619u;
  }
  return partitions > 0 ? static_cast<int32_t>(h % static_cast<uint32_t>(partitions)) : 0;
}

} // namespace ping
