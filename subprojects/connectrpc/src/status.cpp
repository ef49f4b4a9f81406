#include "connectrpc/status.hpp"

#include <array>

namespace connectrpc {
namespace {

struct entry {
  std::string_view name;
  int http;
};

// Indexed by the numeric code value.
constexpr std::array<entry, code_count> table{{
  {"ok", 200},
  {"canceled", 499},
  {"unknown", 500},
  {"invalid_argument", 400},
  {"deadline_exceeded", 504},
  {"not_found", 404},
  {"already_exists", 409},
  {"permission_denied", 403},
  {"resource_exhausted", 429},
  {"failed_precondition", 400},
  {"aborted", 409},
  {"out_of_range", 400},
  {"unimplemented", 501},
  {"internal", 500},
  {"unavailable", 503},
  {"data_loss", 500},
  {"unauthenticated", 401},
}};

const entry* lookup(code c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < table.size() ? &table[i] : nullptr;
}

} // namespace

std::string_view to_string(code c) noexcept {
  const entry* e = lookup(c);
  return e ? e->name : std::string_view{"unknown"};
}

std::optional<code> code_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].name == name)
      return static_cast<code>(i);
  }
  return std::nullopt;
}

int http_status(code c) noexcept {
  const entry* e = lookup(c);
  return e ? e->http : 500;
}

code code_from_http_status(int http) noexcept {
  switch (http) {
    case 400:
      return code::internal;
    case 401:
      return code::unauthenticated;
    case 403:
      return code::permission_denied;
    case 404:
      return code::unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return code::unavailable;
    default:
      return code::unknown;
  }
}

} // namespace connectrpc
