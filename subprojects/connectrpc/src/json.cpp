#include "connectrpc/json.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

namespace connectrpc::json {

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr int max_depth = 16;

// -?(0|[1-9][0-9]*), without "-0": the integers every JSON parser reads the
// same way.
bool integer_text(std::string_view s) noexcept {
  std::size_t i = s.empty() || s[0] != '-' ? 0 : 1;
  if (i == s.size())
    return false;
  if (s[i] == '0')
    return s.size() == 1;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

template <class T>
bool to_integer(std::string_view s, T& v) noexcept {
  if (!integer_text(s))
    return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && end == s.data() + s.size();
}

// A field this parser may set: singular, not in a oneof (proto3 `optional`
// is allowed), an integer, a bool or a plain message (no map entry, group
// or well-known type, whose JSON forms differ).
bool plain_field(const FieldDescriptor& f) {
  if (f.is_repeated() || f.real_containing_oneof() != nullptr || f.is_extension())
    return false;
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_BOOL:
      return true;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return f.type() == FieldDescriptor::TYPE_MESSAGE && !f.is_map()
             && f.message_type()->file()->package() != "google.protobuf";
    default:
      return false;
  }
}

// The field whose JSON name (lowerCamelCase unless `json_name` says
// otherwise) or proto name is `key`, as protobuf's parser looks them up.
const FieldDescriptor* field_named(const Descriptor& d, std::string_view key) {
  for (int i = 0; i < d.field_count(); ++i)
    if (d.field(i)->json_name() == key)
      return d.field(i);
  for (int i = 0; i < d.field_count(); ++i)
    if (d.field(i)->name() == key)
      return d.field(i);
  return nullptr;
}

class parser {
public:
  explicit parser(std::string_view in) noexcept : in_(in) {}

  bool document(Message& m) {
    if (!object(m, 0))
      return false;
    skip_space();
    return pos_ == in_.size();
  }

private:
  void skip_space() noexcept {
    while (pos_ < in_.size()
           && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
      ++pos_;
  }

  bool next_is(char c) noexcept {
    skip_space();
    return pos_ < in_.size() && in_[pos_] == c;
  }

  bool take(char c) noexcept {
    if (!next_is(c))
      return false;
    ++pos_;
    return true;
  }

  bool take(std::string_view word) noexcept {
    skip_space();
    if (in_.substr(pos_, word.size()) != word)
      return false;
    pos_ += word.size();
    return true;
  }

  // A string without escapes or control characters: its contents.
  bool plain_string(std::string_view& out) noexcept {
    if (!take('"'))
      return false;
    const auto start = pos_;
    for (; pos_ < in_.size(); ++pos_) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        out = in_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c == '\\' || c < 0x20)
        return false;
    }
    return false;
  }

  // An integer's text: a quoted string, or a JSON number with no fraction
  // or exponent (the characters that could continue it end the fast path).
  bool integer_token(std::string_view& out) noexcept {
    if (next_is('"'))
      return plain_string(out);
    const auto start = pos_;
    while (pos_ < in_.size() && (in_[pos_] == '-' || (in_[pos_] >= '0' && in_[pos_] <= '9')))
      ++pos_;
    out = in_.substr(start, pos_ - start);
    if (pos_ < in_.size()
        && (in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E' || in_[pos_] == '+'))
      return false;
    return true;
  }

  // An integer of T's range, stored in `f` by `set` (a Reflection setter).
  template <class T>
  bool integer(Message& m, const FieldDescriptor& f,
               void (Reflection::*set)(Message*, const FieldDescriptor*, T) const) {
    std::string_view text;
    T v = 0;
    if (!integer_token(text) || !to_integer(text, v))
      return false;
    (m.GetReflection()->*set)(&m, &f, v);
    return true;
  }

  bool value(Message& m, const FieldDescriptor& f, int depth) {
    const auto* r = m.GetReflection();
    switch (f.cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return integer<std::int32_t>(m, f, &Reflection::SetInt32);
      case FieldDescriptor::CPPTYPE_INT64:
        return integer<std::int64_t>(m, f, &Reflection::SetInt64);
      case FieldDescriptor::CPPTYPE_UINT32:
        return integer<std::uint32_t>(m, f, &Reflection::SetUInt32);
      case FieldDescriptor::CPPTYPE_UINT64:
        return integer<std::uint64_t>(m, f, &Reflection::SetUInt64);
      case FieldDescriptor::CPPTYPE_BOOL:
        if (take("true"))
          r->SetBool(&m, &f, true);
        else if (take("false"))
          r->SetBool(&m, &f, false);
        else
          return false;
        return true;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        return object(*r->MutableMessage(&m, &f), depth + 1);
      default:
        return false;
    }
  }

  bool object(Message& m, int depth) {
    if (depth > max_depth || !take('{'))
      return false;
    if (take('}'))
      return true;
    const Descriptor* d = m.GetDescriptor();
    std::vector<int> seen;
    do {
      std::string_view key;
      if (!plain_string(key) || !take(':'))
        return false;
      const FieldDescriptor* f = field_named(*d, key);
      if (f == nullptr || !plain_field(*f)
          || std::find(seen.begin(), seen.end(), f->number()) != seen.end())
        return false;
      seen.push_back(f->number());
      if (!value(m, *f, depth))
        return false;
    } while (take(','));
    return take('}');
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

} // namespace

bool parse_plain(std::string_view in, google::protobuf::Message& m) {
  m.Clear();
  return parser{in}.document(m) && m.IsInitialized();
}

} // namespace connectrpc::json
