#pragma once
// Pure Connect wire helpers (no I/O, no Beast/Asio): header parsing, GET
// query decoding, error JSON, gzip. Used by the server and exposed so they
// can be unit-tested and reused by other gateways.

#include <connectrpc/status.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connectrpc::protocol {

/// Message codec chosen by the request Content-Type (or GET `encoding`).
enum class codec { proto, json };

/// Content-Type sent for a successful response in `c`.
std::string_view content_type(codec c) noexcept;

/// Parses a unary Connect Content-Type: "application/proto" or
/// "application/json" (optionally "; charset=utf-8"), case-insensitive,
/// whitespace-tolerant. Anything else (incl. application/connect+*) -> nullopt.
std::optional<codec> parse_content_type(std::string_view value) noexcept;

/// Parses a GET `encoding` parameter: "proto" or "json" (exact).
std::optional<codec> parse_encoding_param(std::string_view value) noexcept;

/// Parses Connect-Timeout-Ms: 1..10 ASCII digits, nothing else (no sign,
/// no whitespace). Returns milliseconds or nullopt when malformed.
std::optional<std::int64_t> parse_timeout_ms(std::string_view value) noexcept;

/// Content/accept codings the server supports.
enum class coding { identity, gzip };

/// "identity", "gzip" (case-insensitive) or empty (= identity); else nullopt.
std::optional<coding> parse_coding(std::string_view value) noexcept;

/// Comma-separated supported codings, for error messages and Accept-Encoding.
inline constexpr std::string_view supported_codings = "gzip, identity";

/// True if a comma-separated Accept-Encoding list names gzip (q-values are
/// ignored except an explicit q=0, which excludes it).
bool accepts_gzip(std::string_view accept_encoding) noexcept;

/// Percent-decodes a URL query component; '+' becomes a space (form
/// encoding, as Go's url.ParseQuery). nullopt on a malformed %-escape.
std::optional<std::string> percent_decode(std::string_view in);

/// Splits and percent-decodes a query string ("a=1&b=2", without '?').
/// Keys without '=' get an empty value. nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

/// Decodes base64, accepting both the standard and the URL-safe alphabet,
/// with or without padding. nullopt on invalid input.
std::optional<std::string> base64_decode(std::string_view in);

/// Encodes base64: URL-safe alphabet when `url`, '=' padding when `pad`.
std::string base64_encode(std::string_view in, bool url, bool pad);

/// JSON string escaping (without the surrounding quotes): quotes, backslash
/// and control characters are escaped, valid UTF-8 passes through, invalid
/// UTF-8 bytes become U+FFFD.
std::string json_escape(std::string_view in);

/// Connect error body: {"code":"...","message":"..."} (message omitted if
/// empty). For s.c == ok the code "unknown" is used ({} is invalid).
std::string error_json(const status& s);

/// gzip-compresses `in` (RFC 1952).
std::string gzip_compress(std::string_view in);

enum class inflate_result { ok, too_large, corrupt };

/// Decompresses a gzip stream into `out`, stopping with too_large as soon as
/// the output would exceed `max_out` bytes (decompression-bomb guard).
inflate_result gzip_decompress(std::string_view in, std::size_t max_out, std::string& out);

/// Lower-cases ASCII.
std::string to_lower(std::string_view in);

/// Case-insensitive ASCII equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Trims spaces and tabs.
std::string_view trim(std::string_view in) noexcept;

} // namespace connectrpc::protocol
