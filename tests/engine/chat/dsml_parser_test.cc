#include "engine/chat/dsml_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/json.h"
#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {
namespace {
using ::testing::HasSubstr;

// The assistant turn of upstream vector 1, as the model would generate it after "<think>".
const std::string kToolTurn =
    "The user wants to know the weather in Beijing. I should use the get_weather tool.</think>\n\n"
    "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
    "<｜DSML｜parameter name=\"location\" string=\"true\">Beijing</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";

TEST(DsmlParserTest, ParsesReasoningAndToolCalls) {
  auto p = ParseCompletion(kToolTurn, /*thinking=*/true);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->reasoning,
            "The user wants to know the weather in Beijing. I should use the get_weather tool.");
  EXPECT_EQ(p->content, "");
  ASSERT_EQ(p->tool_calls.size(), 1u);
  EXPECT_EQ(p->tool_calls[0].name, "get_weather");
  EXPECT_EQ(Json::parse(p->tool_calls[0].arguments), (Json{{"location", "Beijing"}, {"days", 3}}));
  EXPECT_TRUE(p->ended);
}

TEST(DsmlParserTest, ChatModeContentAndCutCompletions) {
  auto p = ParseCompletion("Paris.<｜end▁of▁sentence｜>", false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->content, "Paris.");
  EXPECT_TRUE(p->ended);
  auto cut = ParseCompletion("still thinking about it", true);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->reasoning, "still thinking about it");
  EXPECT_FALSE(cut->ended);
}

TEST(DsmlParserTest, EncodedToolCallsParseBackToTheSameArguments) {
  const OrderedJson msgs = OrderedJson::parse(R"([{"role":"user","content":"q"},
    {"role":"assistant","content":"Checking.","reasoning_content":"r","tool_calls":[
      {"id":"1","type":"function","function":{"name":"f","arguments":"{\"a\": \"x\\ny\", \"b\": [1, 2], \"c\": {\"d\": null}}"}},
      {"id":"2","type":"function","function":{"name":"g","arguments":"{}"}}]}])");
  ChatEncodeOptions o;
  o.drop_thinking = false;
  const std::string prompt = *EncodeMessages(msgs, o);
  const std::string completion = prompt.substr(prompt.find("<think>") + 7);
  auto p = ParseCompletion(completion, true);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->content, "Checking.");
  ASSERT_EQ(p->tool_calls.size(), 2u);
  EXPECT_EQ(Json::parse(p->tool_calls[0].arguments),
            Json::parse(R"({"a": "x\ny", "b": [1, 2], "c": {"d": null}})"));
  EXPECT_EQ(p->tool_calls[1].name, "g");
  EXPECT_EQ(p->tool_calls[1].arguments, "{}");
}

TEST(DsmlParserTest, MalformedBlocksAreClearErrors) {
  auto no_newline = ParseCompletion(
      "</think>\n\n<｜DSML｜tool_calls><｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜"
      "tool_calls><｜end▁of▁sentence｜>",
      true);
  ASSERT_FALSE(no_newline);
  EXPECT_THAT(no_newline.error(), HasSubstr("malformed DSML at byte"));
  const std::string dup =
      "</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
      "<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"a\" string=\"true\">2</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";
  EXPECT_THAT(ParseCompletion(dup, true).error(), HasSubstr("duplicate parameter 'a'"));
  EXPECT_THAT(ParseCompletion("x<think>y<｜end▁of▁sentence｜>", false).error(),
              HasSubstr("special token"));
}

TEST(DsmlParserTest, StreamingGivesTheSameTextWhateverTheChunking) {
  const std::string text = "Let me think 中文 </thin k?</think>Answer: 42 \n\n done" +
                           kToolTurn.substr(kToolTurn.find("\n\n<｜DSML"));
  const auto whole = ParseCompletion(text, true);
  ASSERT_TRUE(whole) << whole.error();
  for (size_t chunk : {1u, 2u, 3u, 7u, 1000u}) {
    StreamingCompletionParser s(true);
    std::string reasoning, content;
    for (size_t i = 0; i < text.size(); i += chunk) {
      auto d = s.Feed(std::string_view(text).substr(i, chunk));
      reasoning += d.reasoning;
      content += d.content;
      EXPECT_EQ(content.find("<｜DSML"), std::string::npos);
    }
    EXPECT_EQ(reasoning, whole->reasoning) << "chunk " << chunk;
    EXPECT_EQ(content, whole->content) << "chunk " << chunk;
    auto fin = s.Finish();
    ASSERT_TRUE(fin);
    EXPECT_EQ(fin->tool_calls.size(), 1u);
  }
}

}  // namespace
}  // namespace dsagent::engine
