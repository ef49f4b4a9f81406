// Unit tests for the pure Connect wire helpers and the status table.
#define BOOST_TEST_MODULE connectrpc_protocol
#include <boost/test/unit_test.hpp>

#include <connectrpc/protocol.hpp>
#include <connectrpc/status.hpp>

using namespace connectrpc;
using namespace connectrpc::protocol;

BOOST_AUTO_TEST_CASE(status_table) {
  BOOST_TEST(to_string(code::invalid_argument) == "invalid_argument");
  BOOST_TEST(to_string(code::canceled) == "canceled");
  BOOST_TEST(static_cast<int>(code::unauthenticated) == 16);
  const std::pair<code, int> expected[] = {{code::canceled, 499},
                                           {code::unknown, 500},
                                           {code::invalid_argument, 400},
                                           {code::deadline_exceeded, 504},
                                           {code::not_found, 404},
                                           {code::already_exists, 409},
                                           {code::permission_denied, 403},
                                           {code::resource_exhausted, 429},
                                           {code::failed_precondition, 400},
                                           {code::aborted, 409},
                                           {code::out_of_range, 400},
                                           {code::unimplemented, 501},
                                           {code::internal, 500},
                                           {code::unavailable, 503},
                                           {code::data_loss, 500},
                                           {code::unauthenticated, 401},
                                           {code::ok, 200}};
  for (auto [c, http] : expected) {
    BOOST_TEST(http_status(c) == http, to_string(c));
    BOOST_TEST((code_from_string(to_string(c)) == c));
  }
  BOOST_TEST(!code_from_string("cancelled").has_value());
  BOOST_TEST((code_from_http_status(404) == code::unimplemented));
  BOOST_TEST((code_from_http_status(503) == code::unavailable));
  BOOST_TEST((code_from_http_status(418) == code::unknown));
}

BOOST_AUTO_TEST_CASE(timeout_header) {
  BOOST_TEST(parse_timeout_ms("200").value() == 200);
  BOOST_TEST(parse_timeout_ms("0").value() == 0);
  BOOST_TEST(parse_timeout_ms("9999999999").value() == 9999999999LL);
  BOOST_TEST(!parse_timeout_ms("12345678901").has_value()); // 11 digits
  BOOST_TEST(!parse_timeout_ms("").has_value());
  BOOST_TEST(!parse_timeout_ms("-1").has_value());
  BOOST_TEST(!parse_timeout_ms("+1").has_value());
  BOOST_TEST(!parse_timeout_ms(" 1").has_value());
  BOOST_TEST(!parse_timeout_ms("1.5").has_value());
  BOOST_TEST(!parse_timeout_ms("abc").has_value());
}

BOOST_AUTO_TEST_CASE(content_type_parsing) {
  BOOST_TEST((parse_content_type("application/proto") == codec::proto));
  BOOST_TEST((parse_content_type("application/json") == codec::json));
  BOOST_TEST((parse_content_type("Application/JSON; Charset=UTF-8") == codec::json));
  BOOST_TEST((parse_content_type("application/json;charset=\"utf-8\"") == codec::json));
  BOOST_TEST(!parse_content_type("application/json; charset=latin1").has_value());
  BOOST_TEST(!parse_content_type("application/connect+json").has_value());
  BOOST_TEST(!parse_content_type("application/connect+proto").has_value());
  BOOST_TEST(!parse_content_type("image/jpeg").has_value());
  BOOST_TEST(!parse_content_type("").has_value());
  BOOST_TEST((parse_encoding_param("proto") == codec::proto));
  BOOST_TEST(!parse_encoding_param("xml").has_value());
  BOOST_TEST(content_type(codec::proto) == "application/proto");
}

BOOST_AUTO_TEST_CASE(codings) {
  BOOST_TEST((parse_coding("gzip") == coding::gzip));
  BOOST_TEST((parse_coding("GZIP") == coding::gzip));
  BOOST_TEST((parse_coding("identity") == coding::identity));
  BOOST_TEST((parse_coding("") == coding::identity));
  BOOST_TEST(!parse_coding("br").has_value());
  BOOST_TEST(accepts_gzip("gzip"));
  BOOST_TEST(accepts_gzip("br, gzip;q=0.5"));
  BOOST_TEST(!accepts_gzip("gzip;q=0"));
  BOOST_TEST(!accepts_gzip("identity"));
  BOOST_TEST(!accepts_gzip(""));
}

BOOST_AUTO_TEST_CASE(base64_round_trips) {
  BOOST_TEST(base64_encode("", true, false) == "");
  BOOST_TEST(base64_encode("f", false, true) == "Zg==");
  BOOST_TEST(base64_encode("fo", false, false) == "Zm8");
  BOOST_TEST(base64_encode("\xfb\xff", true, false) == "-_8");
  BOOST_TEST(base64_encode("\xfb\xff", false, true) == "+/8=");
  BOOST_TEST(base64_decode("Zm9vYmFy").value() == "foobar");
  BOOST_TEST(base64_decode("Zg").value() == "f");
  BOOST_TEST(base64_decode("Zg==").value() == "f");
  BOOST_TEST(base64_decode("-_8").value() == "\xfb\xff");
  BOOST_TEST(base64_decode("+/8=").value() == "\xfb\xff");
  BOOST_TEST(base64_decode("").value() == "");
  BOOST_TEST(!base64_decode("Z").has_value());
  BOOST_TEST(!base64_decode("Zg=").has_value()); // bad padding
  BOOST_TEST(!base64_decode("Zm9v!").has_value());
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  BOOST_TEST(base64_decode(base64_encode(all, true, false)).value() == all);
  BOOST_TEST(base64_decode(base64_encode(all, false, true)).value() == all);
}

BOOST_AUTO_TEST_CASE(percent_decoding) {
  BOOST_TEST(percent_decode("a%20b+c").value() == "a b c");
  BOOST_TEST(percent_decode("%7B%22x%22%3a1%7D").value() == "{\"x\":1}");
  BOOST_TEST(!percent_decode("%").has_value());
  BOOST_TEST(!percent_decode("%4").has_value());
  BOOST_TEST(!percent_decode("%zz").has_value());
  auto q = parse_query("message=%7B%7D&encoding=json&flag&&x=1").value();
  BOOST_TEST(q.size() == 4u);
  BOOST_TEST(q[0].first == "message");
  BOOST_TEST(q[0].second == "{}");
  BOOST_TEST(q[2].first == "flag");
  BOOST_TEST(q[2].second == "");
  BOOST_TEST(!parse_query("a=%g0").has_value());
}

BOOST_AUTO_TEST_CASE(json_error_escaping) {
  BOOST_TEST(error_json(status{code::not_found, ""}) == R"({"code":"not_found"})");
  BOOST_TEST(error_json(status{code::ok, "x"}) == R"({"code":"unknown","message":"x"})");
  BOOST_TEST(error_json(status{code::internal, "a\"b\\c\r\nd\te\x01"})
             == R"({"code":"internal","message":"a\"b\\c\r\nd\te\u0001"})");
  // Emoji and other UTF-8 pass through unchanged.
  const std::string emoji = "h\xf0\x9f\x98\x80 \xc3\xa9";
  BOOST_TEST(json_escape(emoji) == emoji);
  // Invalid UTF-8 becomes U+FFFD.
  BOOST_TEST(json_escape("a\xff"
                         "b")
             == "a\\ufffdb");
  BOOST_TEST(json_escape("\xf0\x9f") == "\\ufffd\\ufffd"); // truncated sequence
}

BOOST_AUTO_TEST_CASE(gzip_round_trip_and_limits) {
  std::string text(100000, 'x');
  const std::string packed = gzip_compress(text);
  BOOST_TEST(packed.size() < 1000u);
  std::string out;
  BOOST_TEST((gzip_decompress(packed, text.size(), out) == inflate_result::ok));
  BOOST_TEST(out == text);
  BOOST_TEST((gzip_decompress(packed, text.size() - 1, out) == inflate_result::too_large));
  BOOST_TEST((gzip_decompress("not gzip", 100, out) == inflate_result::corrupt));
  BOOST_TEST((gzip_decompress(packed.substr(0, packed.size() / 2), text.size(), out)
              == inflate_result::corrupt));
  BOOST_TEST((gzip_decompress(packed + "junk", text.size(), out) == inflate_result::corrupt));
  BOOST_TEST((gzip_decompress(gzip_compress(""), 0, out) == inflate_result::ok));
  BOOST_TEST(out.empty());
}
