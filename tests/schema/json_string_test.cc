// schema/json_string.h: the JSON string escaper the GraphQL request and the engine's output
// share, held to RapidJSON's Writer byte for byte.

#include "schema/json_string.h"

#include <random>
#include <string>

#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::schema {
namespace {

// Every byte value at every position of texts up to 20 bytes long (the 8-byte steps, the tail,
// and a special byte after another): the first byte that is '"', '\\' or below 0x20 is found.
TEST(JsonStringTest, FindJsonSpecialFindsTheFirstSpecialByte) {
  const auto special = [](unsigned char c) { return c == '"' || c == '\\' || c < 0x20; };
  for (size_t length = 0; length <= 20; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(b);
        if (at + 2 < length) text[at + 2] = '\x01';  // a later special byte never wins
        const char* found = FindJsonSpecial(text.data(), text.data() + text.size());
        size_t expected = at;
        if (!special(static_cast<unsigned char>(b))) {
          expected = at + 2 < length ? at + 2 : length;
        }
        ASSERT_EQ(static_cast<size_t>(found - text.data()), expected)
            << "length " << length << " byte " << b << " at " << at;
      }
    }
  }
  const std::string none = "\x7f\x80\xff plain text of 30 bytes...";
  EXPECT_EQ(FindJsonSpecial(none.data(), none.data() + none.size()), none.data() + none.size());
}

// Random texts of every byte value (quotes, backslashes, control characters, DEL, bytes
// above 0x7f, valid or not as UTF-8), 0 to 40 bytes long: the same bytes as RapidJSON's
// Writer::String with its default flags.
TEST(JsonStringTest, AppendJsonStringIsTheWritersOutput) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string text(rng() % 41, '\0');
    for (char& c : text) {
      const unsigned r = rng() % 8;
      c = static_cast<char>(r == 0 ? rng() % 0x20 : r == 1 ? "\"\\/"[rng() % 3] : rng() % 256);
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    std::string ours = "prefix";
    AppendJsonString(ours, text);
    ASSERT_EQ(ours, "prefix" + std::string(buf.GetString(), buf.GetSize())) << round;
  }
}

TEST(JsonStringTest, EscapesByName) {
  std::string out;
  AppendJsonEscaped(out, "a\"b\\c\b\f\n\r\t\x01\x1f/\x7f\xff");
  EXPECT_EQ(out, "a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001F/\x7f\xff");
}

}  // namespace
}  // namespace enrich::schema
