#include "tools/shown_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent {
namespace {

TEST(ShownNameTest, PlainNamesAreShownAsTheyAre) {
  EXPECT_EQ(ShownName("src/main.cc"), "src/main.cc");
  EXPECT_EQ(ShownName("dir with space/é.txt"), "dir with space/é.txt");
  EXPECT_EQ(ShownName("a\\b\"c"), "a\\b\"c");  // quotes and backslashes inside are fine
  EXPECT_FALSE(NeedsQuoting("x.py"));
}

TEST(ShownNameTest, ControlCharactersAndALeadingQuoteGiveAJsonString) {
  EXPECT_EQ(ShownName("new\nline.py"), "\"new\\nline.py\"");
  EXPECT_EQ(ShownName("a\tb\rc"), "\"a\\tb\\rc\"");
  EXPECT_EQ(ShownName("esc\x1b[2J\x7f"), "\"esc\\u001b[2J\\u007f\"");
  EXPECT_EQ(ShownName("\"quoted\".txt"), "\"\\\"quoted\\\".txt\"");
  EXPECT_EQ(ShownName("x\n\\y"), "\"x\\n\\\\y\"");
  // What is shown parses back, as JSON, to the name itself: the model can pass it unchanged.
  const std::vector<std::string> names = {"new\nline.py", "a\tb\rc", "esc\x1b[2J\x7f",
                                          "\"q\".txt",    "x\n\\y",  std::string("nul\0byte", 8)};
  for (const std::string& name : names) {
    EXPECT_TRUE(NeedsQuoting(name)) << name;
    EXPECT_EQ(Json::parse(ShownName(name)).get<std::string>(), name);
  }
}

TEST(ShownNameTest, BytesThatAreNotUtf8AreSpelledAsEscapesThatDecodeBack) {
  const std::string name = "bad\xff\xfe.py";
  EXPECT_TRUE(NeedsQuoting(name));
  const std::string shown = ShownName(name);
  EXPECT_EQ(shown, "\"bad\\\\xff\\\\xfe.py\"");
  const std::string spelled = Json::parse(shown).get<std::string>();  // what the model passes
  EXPECT_EQ(spelled, "bad\\xff\\xfe.py");
  EXPECT_EQ(DecodeShownByteEscapes(spelled), name);
  // Valid multi-byte text stays as it is next to a bad byte; a truncated sequence is escaped.
  EXPECT_EQ(ShownName("\xc3\xa9\xc3"), "\"\xc3\xa9\\\\xc3\"");
  EXPECT_FALSE(NeedsQuoting("\xc3\xa9t\xc3\xa9.txt"));
  // Only bytes 80..ff are escapes; a backslash before anything else is an ordinary character.
  EXPECT_EQ(DecodeShownByteEscapes("a\\x41\\xg0"), std::nullopt);
  EXPECT_EQ(DecodeShownByteEscapes("a\\x8"), std::nullopt);
}

}  // namespace
}  // namespace dsagent
