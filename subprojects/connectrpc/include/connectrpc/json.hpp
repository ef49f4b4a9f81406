#pragma once
// A fast path for the JSON of small messages. protobuf's JSON parser
// (JsonStringToMessage) goes through a stream converter and costs
// microseconds even for {"a":{"b":"1"}}; most request messages are a few
// integers, possibly nested. This parser handles exactly those, and gives
// up on anything else, so the caller can run protobuf's parser, which
// also words the errors.

#include <string_view>

namespace google::protobuf {
class Message;
}

namespace connectrpc::json {

/// Parses `in` into `m` (cleared first) when every key of it names a
/// singular integer, bool or message field of `m`'s type (proto or JSON
/// name; messages nested at most 16 deep; no oneof member, map, enum,
/// string, floating-point or well-known type) and every value is written
/// plainly: an integer as a JSON number or string of decimal digits
/// ("-" allowed for signed fields; no leading zero, "+", fraction or
/// exponent), a bool as `true`/`false`, a message as an object, keys
/// without escapes, each key at most once per object. Then `m` holds what
/// JsonStringToMessage would give, and it returns true. Otherwise it
/// returns false and `m` is unspecified: unknown keys, `null`, values out
/// of their field's range and invalid JSON all land there.
bool parse_plain(std::string_view in, google::protobuf::Message& m);

} // namespace connectrpc::json
