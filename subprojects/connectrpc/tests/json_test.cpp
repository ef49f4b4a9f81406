// The plain-JSON fast path against protobuf's own parser: whatever it
// accepts, JsonStringToMessage (as the server calls it) accepts and parses
// to the same message; what it gives up on is left to protobuf.
#define BOOST_TEST_MODULE connectrpc_json
#include <boost/test/unit_test.hpp>

#include <connectrpc/json.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

namespace pb = google::protobuf;

namespace {

// Every kind of field: those the fast path sets (integers of each width and
// sign, bool, a nested message, a proto3 optional) and those it leaves to
// protobuf (string, repeated, enum, double, a oneof, a well-known type).
constexpr const char* schema = R"pb(
  name: "plain.proto"
  package: "plain.v1"
  syntax: "proto3"
  dependency: "google/protobuf/timestamp.proto"
  message_type {
    name: "Inner"
    field { name: "a" number: 1 type: TYPE_INT64 label: LABEL_OPTIONAL }
    field { name: "flag" number: 2 type: TYPE_BOOL label: LABEL_OPTIONAL }
  }
  message_type {
    name: "Outer"
    field { name: "small" number: 1 type: TYPE_INT32 label: LABEL_OPTIONAL }
    field { name: "big_count" number: 2 type: TYPE_INT64 label: LABEL_OPTIONAL }
    field { name: "u32" number: 3 type: TYPE_UINT32 label: LABEL_OPTIONAL }
    field { name: "u64" number: 4 type: TYPE_FIXED64 label: LABEL_OPTIONAL }
    field { name: "s32" number: 5 type: TYPE_SFIXED32 label: LABEL_OPTIONAL }
    field {
      name: "inner"
      number: 6
      type: TYPE_MESSAGE
      type_name: ".plain.v1.Inner"
      label: LABEL_OPTIONAL
    }
    field {
      name: "maybe"
      number: 7
      type: TYPE_SINT64
      label: LABEL_OPTIONAL
      oneof_index: 1
      proto3_optional: true
    }
    field { name: "text" number: 8 type: TYPE_STRING label: LABEL_OPTIONAL }
    field { name: "list" number: 9 type: TYPE_INT64 label: LABEL_REPEATED }
    field { name: "ratio" number: 10 type: TYPE_DOUBLE label: LABEL_OPTIONAL }
    field {
      name: "color"
      number: 11
      type: TYPE_ENUM
      type_name: ".plain.v1.Color"
      label: LABEL_OPTIONAL
    }
    field {
      name: "either"
      number: 12
      type: TYPE_INT32
      label: LABEL_OPTIONAL
      oneof_index: 0
    }
    field {
      name: "when"
      number: 13
      type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
      label: LABEL_OPTIONAL
    }
    oneof_decl { name: "choice" }
    oneof_decl { name: "_maybe" }
  }
  enum_type {
    name: "Color"
    value { name: "COLOR_UNSPECIFIED" number: 0 }
    value { name: "COLOR_RED" number: 1 }
  }
)pb";

struct fixture {
  fixture() {
    pb::FileDescriptorProto wkt;
    pb::Timestamp::descriptor()->file()->CopyTo(&wkt);
    BOOST_REQUIRE(pool.BuildFile(wkt) != nullptr);
    pb::FileDescriptorProto file;
    BOOST_REQUIRE(pb::TextFormat::ParseFromString(schema, &file));
    BOOST_REQUIRE(pool.BuildFile(file) != nullptr);
    prototype = factory.GetPrototype(pool.FindMessageTypeByName("plain.v1.Outer"));
    BOOST_REQUIRE(prototype != nullptr);
  }

  // What the server's fallback gives: the message, or null on an error.
  std::unique_ptr<pb::Message> protobuf(const std::string& in) const {
    std::unique_ptr<pb::Message> m(prototype->New());
    pb::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (!pb::util::JsonStringToMessage(in, m.get(), opts).ok())
      return nullptr;
    return m;
  }

  // The fast path's verdict; when it accepts, protobuf must agree.
  bool plain(const std::string& in) const {
    std::unique_ptr<pb::Message> m(prototype->New());
    if (!connectrpc::json::parse_plain(in, *m))
      return false;
    auto want = protobuf(in);
    BOOST_TEST_REQUIRE(want != nullptr, "protobuf refuses what the fast path took: " << in);
    BOOST_TEST(pb::util::MessageDifferencer::Equals(*m, *want),
               in << ": " << m->ShortDebugString() << " vs " << want->ShortDebugString());
    return true;
  }

  pb::DescriptorPool pool;
  pb::DynamicMessageFactory factory{&pool};
  const pb::Message* prototype = nullptr;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(plain_messages_parse_as_protobuf_parses_them, fixture) {
  for (const char* in : {
         R"({"small": 5, "bigCount": "1796664619285", "u32": 7, "u64": "18446744073709551615",
             "s32": -2147483648, "inner": {"a": "-3", "flag": true}})",
         R"({"big_count": 12, "inner": {}})",                       // proto names, an empty message
         R"( { "small" : "-12" , "inner" : { "flag" : false } } )", // JSON whitespace
         R"({"small": 0, "bigCount": 0, "u64": 0})",                // zeros
         R"({"maybe": "0"})",                                       // presence of an explicit 0
         R"({"bigCount": 9223372036854775807, "s32": 2147483647})",
         R"({})",
       })
    BOOST_TEST(plain(in), in);
  // An explicit 0 in a proto3 optional field is present.
  std::unique_ptr<pb::Message> m(prototype->New());
  BOOST_REQUIRE(connectrpc::json::parse_plain(R"({"maybe": 0})", *m));
  const auto* maybe = m->GetDescriptor()->FindFieldByName("maybe");
  BOOST_TEST(m->GetReflection()->HasField(*m, maybe));
}

BOOST_FIXTURE_TEST_CASE(anything_else_is_left_to_protobuf, fixture) {
  for (const char* in : {
         R"({"text": "x"})",                    // string field
         R"({"list": [1]})",                    // repeated
         R"({"ratio": 1})",                     // double
         R"({"color": "COLOR_RED"})",           // enum
         R"({"either": 1})",                    // oneof member
         R"({"when": "2026-12-07T00:00:00Z"})", // well-known type
         R"({"small": 1.0})",                   // fraction
         R"({"small": 1e2})",                   // exponent
         R"({"small": "01"})",                  // leading zero
         R"({"small": -0})",                    // negative zero
         R"({"small": +1})",                    // plus sign (not JSON)
         R"({"small": 2147483648})",            // out of range
         R"({"u32": -1})",                      // negative unsigned
         R"({"u64": "18446744073709551616"})",
         R"({"small": null})",             // null
         R"({"small": true})",             // bool for an integer
         R"({"inner": {"flag": "true"}})", // string for a bool
         R"({"inner": 1})",                // integer for a message
         R"({"unknown": 1})",              // unknown name (protobuf ignores it)
         R"({"sm\u0061ll": 1})",           // escape in a key
         R"({"small": 1, "small": 2})",    // duplicate key
         R"({"small": 1} x)",              // trailing text
         R"({"small": 1,})",               // trailing comma
         R"({"inner": {"a": 1})",          // unterminated
         R"({"small": 12abc})",            // not a number
         R"([])",
         R"()",
         R"("x")",
       })
    BOOST_TEST(!plain(in), in);
}

// Random documents built from valid and invalid pieces: every one the fast
// path takes parses the same in protobuf, and it takes a fair share.
BOOST_FIXTURE_TEST_CASE(random_documents_agree_with_protobuf, fixture) {
  const std::vector<std::string> keys{"small", "bigCount", "big_count", "u32",  "u64",   "s32",
                                      "maybe", "inner",    "text",      "nope", "either"};
  const std::vector<std::string> numbers{"0",
                                         "1",
                                         "-1",
                                         "42",
                                         "007",
                                         "2147483647",
                                         "-2147483648",
                                         "4294967295",
                                         "1.5",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "18446744073709551615",
                                         "1e3",
                                         "-0",
                                         "true",
                                         "null",
                                         "\"x\""};
  std::mt19937 rng{17};
  auto pick = [&](const std::vector<std::string>& xs) { return xs[rng() % xs.size()]; };
  auto scalar = [&] {
    auto n = pick(numbers);
    return rng() % 3 == 0 && n.front() != '"' ? '"' + n + '"' : n;
  };
  int taken = 0;
  constexpr int documents = 3000;
  for (int i = 0; i < documents; ++i) {
    std::string doc = "{";
    const int fields = static_cast<int>(rng() % 4);
    for (int k = 0; k < fields; ++k) {
      if (k > 0)
        doc += rng() % 2 ? ", " : ",";
      auto key = pick(keys);
      doc += '"' + key + "\":";
      if (key == "inner")
        doc += rng() % 2 ? "{\"a\": " + scalar() + "}"
                         : "{\"flag\": true, \"a\": " + scalar() + "}";
      else
        doc += scalar();
    }
    doc += "}";
    taken += plain(doc) ? 1 : 0;
  }
  BOOST_TEST_MESSAGE(taken << " of " << documents << " documents taken by the fast path");
  BOOST_TEST(taken > documents / 10);
}
