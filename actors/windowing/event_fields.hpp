#pragma once
// The two fields of a ping.v1.PingEvent that counting needs, read straight
// from the protobuf wire format: the consumer decodes a few million events a
// second, and a full parse (which copies the id string) is most of its work.
// Unknown and other fields are skipped as the wire format allows, so the
// event can grow; tests/unit/event_fields_test.cpp checks the result against
// the generated parser.

#include <cstddef>
#include <cstdint>

namespace ping::windowing {

struct event_fields {
  int64_t timestamp_ms = 0; // field 1
  int64_t relay_seq = 0;    // field 5
};

/// False when the bytes are not a well-formed protobuf message.
bool decode_event_fields(const void* data, size_t size, event_fields& out);

} // namespace ping::windowing
