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

}  // namespace
}  // namespace dsagent
