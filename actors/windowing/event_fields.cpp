#include "actors/windowing/event_fields.hpp"

namespace ping::windowing {

namespace {

bool varint(const uint8_t*& p, const uint8_t* end, uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    auto byte = *p++;
    out |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0)
      return true;
  }
  return false; // truncated, or longer than ten bytes
}

} // namespace

bool decode_event_fields(const void* data, size_t size, event_fields& out) {
  auto p = static_cast<const uint8_t*>(data);
  auto end = p + size;
  out = {};
  while (p < end) {
    uint64_t key = 0;
    if (!varint(p, end, key) || (key >> 3) == 0)
      return false;
    uint64_t value = 0;
    switch (key & 7) {
      case 0: // varint
        if (!varint(p, end, value))
          return false;
        if ((key >> 3) == 1)
          out.timestamp_ms = static_cast<int64_t>(value);
        else if ((key >> 3) == 5)
          out.relay_seq = static_cast<int64_t>(value);
        break;
      case 1: // 64-bit
        if (end - p < 8)
          return false;
        p += 8;
        break;
      case 2: // length-delimited
        if (!varint(p, end, value) || value > static_cast<uint64_t>(end - p))
          return false;
        p += value;
        break;
      case 5: // 32-bit
        if (end - p < 4)
          return false;
        p += 4;
        break;
      default: // groups (3, 4) are not used by proto3; 6, 7 do not exist
        return false;
    }
  }
  return true;
}

} // namespace ping::windowing
