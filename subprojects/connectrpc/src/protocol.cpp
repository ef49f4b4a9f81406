#include "connectrpc/protocol.hpp"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <new>

namespace connectrpc::protocol {

std::string to_lower(std::string_view in) {
  std::string out(in);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z')
      ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z')
      x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = static_cast<char>(y - 'A' + 'a');
    if (x != y)
      return false;
  }
  return true;
}

std::string_view trim(std::string_view in) noexcept {
  while (!in.empty() && (in.front() == ' ' || in.front() == '\t'))
    in.remove_prefix(1);
  while (!in.empty() && (in.back() == ' ' || in.back() == '\t'))
    in.remove_suffix(1);
  return in;
}

std::string_view content_type(codec c) noexcept {
  return c == codec::proto ? "application/proto" : "application/json";
}

std::optional<codec> parse_content_type(std::string_view value) noexcept {
  std::string_view media = value;
  std::string_view params;
  if (const auto semi = value.find(';'); semi != std::string_view::npos) {
    media = value.substr(0, semi);
    params = value.substr(semi + 1);
  }
  media = trim(media);
  if (iequals(media, "application/proto")) {
    if (!trim(params).empty())
      return std::nullopt;
    return codec::proto;
  }
  if (!iequals(media, "application/json"))
    return std::nullopt;
  // Only "charset=utf-8" is allowed as a parameter.
  params = trim(params);
  if (params.empty())
    return codec::json;
  const auto eq = params.find('=');
  if (eq == std::string_view::npos)
    return std::nullopt;
  std::string_view val = trim(params.substr(eq + 1));
  if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
    val = val.substr(1, val.size() - 2);
  if (iequals(trim(params.substr(0, eq)), "charset") && iequals(val, "utf-8"))
    return codec::json;
  return std::nullopt;
}

std::optional<codec> parse_encoding_param(std::string_view value) noexcept {
  if (value == "proto")
    return codec::proto;
  if (value == "json")
    return codec::json;
  return std::nullopt;
}

std::optional<std::int64_t> parse_timeout_ms(std::string_view value) noexcept {
  if (value.empty() || value.size() > 10)
    return std::nullopt;
  std::int64_t ms = 0;
  for (char ch : value) {
    if (ch < '0' || ch > '9')
      return std::nullopt;
    ms = ms * 10 + (ch - '0');
  }
  return ms;
}

std::optional<coding> parse_coding(std::string_view value) noexcept {
  value = trim(value);
  if (value.empty() || iequals(value, "identity"))
    return coding::identity;
  if (iequals(value, "gzip"))
    return coding::gzip;
  return std::nullopt;
}

bool accepts_gzip(std::string_view list) noexcept {
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    std::string_view name = item;
    std::string_view params;
    if (const auto semi = item.find(';'); semi != std::string_view::npos) {
      name = item.substr(0, semi);
      params = trim(item.substr(semi + 1));
    }
    if (!iequals(trim(name), "gzip"))
      continue;
    // "q=0", "q=0.0", "q=0.000" exclude the coding.
    if (params.size() >= 3 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
      std::string_view q = params.substr(2);
      bool zero = !q.empty() && q[0] == '0';
      for (char ch : q.substr(1))
        zero = zero && (ch == '0' || ch == '.');
      if (zero)
        return false;
    }
    return true;
  }
  return false;
}

namespace {

int hex_value(char ch) noexcept {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

} // namespace

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char ch = in[i];
    if (ch == '+') {
      out.push_back(' ');
    } else if (ch == '%') {
      if (i + 2 >= in.size())
        return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(
  std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty())
      continue;
    const auto eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq));
    auto val = percent_decode(eq == std::string_view::npos ? std::string_view{}
                                                           : item.substr(eq + 1));
    if (!key || !val)
      return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*val));
  }
  return out;
}

namespace {

constexpr std::string_view b64_std
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view b64_url
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_value(char ch) noexcept {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+' || ch == '-')
    return 62;
  if (ch == '/' || ch == '_')
    return 63;
  return -1;
}

} // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  // Strip up to two '=' of padding; if present the total must be a multiple of 4.
  const std::size_t padded_size = in.size();
  std::size_t pads = 0;
  while (!in.empty() && in.back() == '=' && pads < 2) {
    in.remove_suffix(1);
    ++pads;
  }
  if (pads > 0 && padded_size % 4 != 0)
    return std::nullopt;
  if (in.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    const int v = b64_value(ch);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view in, bool url, bool pad) {
  const std::string_view alphabet = url ? b64_url : b64_std;
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(in[i]) << 16)
                            | (static_cast<unsigned char>(in[i + 1]) << 8)
                            | static_cast<unsigned char>(in[i + 2]);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2)
      n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    if (rest == 2)
      out.push_back(alphabet[(n >> 6) & 63]);
    if (pad)
      out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at in[i], or 0 if invalid.
std::size_t utf8_sequence(std::string_view in, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  const unsigned char c = b(i);
  std::size_t len;
  std::uint32_t cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > in.size())
    return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
      || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

} // namespace

std::string json_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 8);
  for (std::size_t i = 0; i < in.size();) {
    const char ch = in[i];
    switch (ch) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      default:
        break;
    }
    const auto uc = static_cast<unsigned char>(ch);
    if (uc < 0x20 || uc == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", uc);
      out += buf;
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence(in, i);
    if (len == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(in.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string error_json(const status& s) {
  const code c = s.c == code::ok ? code::unknown : s.c;
  std::string out = "{\"code\":\"";
  out += to_string(c);
  out += '"';
  if (!s.message.empty()) {
    out += ",\"message\":\"";
    out += json_escape(s.message);
    out += '"';
  }
  out += '}';
  return out;
}

std::string gzip_compress(std::string_view in) {
  z_stream zs{};
  // 15 window bits + 16 = gzip wrapper.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
      != Z_OK) {
    throw std::bad_alloc();
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const std::size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END)
    throw std::bad_alloc();
  out.resize(produced);
  return out;
}

inflate_result gzip_decompress(std::string_view in, std::size_t max_out, std::string& out) {
  out.clear();
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK)
    return inflate_result::corrupt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::array<char, 16384> chunk;
  inflate_result result = inflate_result::corrupt;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t n = chunk.size() - zs.avail_out;
    if (out.size() + n > max_out) {
      result = inflate_result::too_large;
      break;
    }
    out.append(chunk.data(), n);
    if (rc == Z_STREAM_END) {
      // Trailing garbage after the gzip member is rejected.
      result = zs.avail_in == 0 ? inflate_result::ok : inflate_result::corrupt;
      break;
    }
    if (rc != Z_OK)
      break; // data error, or truncated input (Z_BUF_ERROR)
  }
  inflateEnd(&zs);
  if (result != inflate_result::ok)
    out.clear();
  return result;
}

} // namespace connectrpc::protocol
