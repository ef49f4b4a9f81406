#include "actors/common/trace.hpp"

#include <random>

namespace ping::trace {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Value of a lowercase hex digit, or -1.
int lower_hex(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int any_hex(char c) noexcept {
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return lower_hex(c);
}

// `n` (<= 16) lowercase hex digits at `p` into `out`.
bool hex_field(const char* p, size_t n, uint64_t& out) noexcept {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    auto d = lower_hex(p[i]);
    if (d < 0)
      return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

void put_hex(char* p, uint64_t v, size_t n) noexcept {
  for (size_t i = n; i-- > 0;) {
    p[i] = hex_digits[v & 0xf];
    v >>= 4;
  }
}

uint64_t splitmix64(uint64_t& s) noexcept {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

} // namespace

bool parse(std::string_view t, context& out) noexcept {
  // version "-" trace-id "-" parent-id "-" flags
  if (t.size() < traceparent_length)
    return false;
  uint64_t version = 0;
  if (!hex_field(t.data(), 2, version) || version == 0xff)
    return false;
  if (version == 0 && t.size() != traceparent_length)
    return false;
  if (version != 0 && t.size() > traceparent_length && t[traceparent_length] != '-')
    return false;
  if (t[2] != '-' || t[35] != '-' || t[52] != '-')
    return false;
  context c;
  uint64_t flags = 0;
  if (!hex_field(t.data() + 3, 16, c.trace_hi) || !hex_field(t.data() + 19, 16, c.trace_lo)
      || !hex_field(t.data() + 36, 16, c.span) || !hex_field(t.data() + 53, 2, flags))
    return false;
  if (!c.valid() || c.span == 0)
    return false;
  // A later version's other flags mean nothing to us: keep only "sampled".
  c.flags = static_cast<uint8_t>(version == 0 ? flags : (flags & sampled));
  out = c;
  return true;
}

uint64_t random_id() noexcept {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    try {
      std::random_device rd;
      seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
    }
    int local = 0;
    return seed ^ reinterpret_cast<uintptr_t>(&local);
  }();
  uint64_t v;
  do
    v = splitmix64(state);
  while (v == 0);
  return v;
}

context start(std::string_view header, int64_t unix_ms) noexcept {
  context c;
  if (!parse(header, c)) {
    // UUIDv7 (RFC 9562): unix_ts_ms(48) ver(4)=7 rand_a(12), var(2)=10 rand_b(62).
    auto a = random_id(), b = random_id();
    c.trace_hi = (static_cast<uint64_t>(unix_ms) << 16) | 0x7000 | (a & 0x0fff);
    c.trace_lo = 0x8000000000000000ull | (b >> 2);
    c.flags = sampled;
    c.started = true;
  }
  c.span = random_id();
  return c;
}

context start(const std::string* header, int64_t unix_ms) noexcept {
  return start(header ? std::string_view{*header} : std::string_view{}, unix_ms);
}

std::string uuid_text(const context& c) {
  std::string s(36, '-');
  put_hex(s.data(), c.trace_hi >> 32, 8);
  put_hex(s.data() + 9, (c.trace_hi >> 16) & 0xffff, 4);
  put_hex(s.data() + 14, c.trace_hi & 0xffff, 4);
  put_hex(s.data() + 19, c.trace_lo >> 48, 4);
  put_hex(s.data() + 24, c.trace_lo & 0xffffffffffffull, 12);
  return s;
}

trace_id_text trace_id_hex(const context& c) noexcept {
  trace_id_text out;
  put_hex(out.data(), c.trace_hi, 16);
  put_hex(out.data() + 16, c.trace_lo, 16);
  return out;
}

std::string trace_id_string(const context& c) {
  auto t = trace_id_hex(c);
  return std::string{t.data(), t.size()};
}

std::string trace_id_of(uint64_t hi, uint64_t lo, std::string_view uuid) {
  if ((hi | lo) != 0) {
    context c;
    c.trace_hi = hi;
    c.trace_lo = lo;
    return trace_id_string(c);
  }
  std::string out;
  out.reserve(32);
  for (char ch : uuid)
    if (ch != '-')
      out.push_back(ch);
  return out;
}

bool parse_trace_id(std::string_view hex, uint64_t& hi, uint64_t& lo) noexcept {
  if (hex.size() != 32)
    return false;
  uint64_t v[2] = {0, 0};
  for (size_t i = 0; i < 32; ++i) {
    auto d = any_hex(hex[i]);
    if (d < 0)
      return false;
    v[i / 16] = (v[i / 16] << 4) | static_cast<uint64_t>(d);
  }
  if ((v[0] | v[1]) == 0)
    return false;
  hi = v[0];
  lo = v[1];
  return true;
}

traceparent_text format(const context& c) noexcept {
  traceparent_text out;
  char* p = out.data();
  p[0] = '0';
  p[1] = '0';
  p[2] = '-';
  put_hex(p + 3, c.trace_hi, 16);
  put_hex(p + 19, c.trace_lo, 16);
  p[35] = '-';
  put_hex(p + 36, c.span, 16);
  p[52] = '-';
  put_hex(p + 53, c.flags, 2);
  return out;
}

} // namespace ping::trace
