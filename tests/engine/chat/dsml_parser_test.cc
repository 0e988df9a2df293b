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

// Tool calls stream as they are written: each call's first piece names it, the pieces of its
// arguments add up to what Finish() parses, `done` comes once its invoke is closed. The text
// arrives in whole UTF-8 characters (as the decode loop sends it), `chars` at a time.
TEST(DsmlParserTest, ToolCallArgumentsStreamInPiecesThatAddUp) {
  const std::string text =
      "Plan</think>Calling.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"write\">\n"
      "<｜DSML｜parameter name=\"path\" string=\"true\">a \"中\"\n<b></｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"n\" string=\"false\">[1, {\"x\": -2.5}]</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n<｜DSML｜invoke name=\"list\">\n\n</｜DSML｜invoke>\n"
      "</｜DSML｜tool_calls><｜end▁of▁sentence｜>";
  const auto whole = ParseCompletion(text, true);
  ASSERT_TRUE(whole) << whole.error();
  ASSERT_EQ(whole->tool_calls.size(), 2u);
  for (size_t chars : {1u, 3u, 1000u}) {
    for (size_t limit : {0u, 1u}) {
      StreamingCompletionParser s(true);
      s.LimitToolCalls(limit);
      std::vector<std::string> names, arguments;
      std::vector<int> pieces, done;
      std::string content;
      size_t i = 0;
      while (i < text.size()) {
        size_t end = i;
        for (size_t c = 0; c < chars && end < text.size(); ++c) {
          ++end;
          while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
        }
        const auto d = s.Feed(std::string_view(text).substr(i, end - i));
        content += d.content;
        for (const auto& piece : d.tool_calls) {
          if (!piece.name.empty()) {
            ASSERT_EQ(piece.index, names.size()) << "a call starts once, in order";
            names.push_back(piece.name);
            arguments.emplace_back();
            pieces.push_back(0);
            done.push_back(0);
          }
          ASSERT_LT(piece.index, names.size());
          EXPECT_EQ(done[piece.index], 0) << "nothing after done";
          arguments[piece.index] += piece.arguments;
          pieces[piece.index] += 1;
          done[piece.index] += piece.done;
        }
        i = end;
      }
      EXPECT_EQ(content, "Calling.");
      const size_t expected_calls = limit == 0 ? 2 : 1;
      ASSERT_EQ(names.size(), expected_calls) << chars;
      for (size_t k = 0; k < expected_calls; ++k) {
        EXPECT_EQ(names[k], whole->tool_calls[k].name);
        EXPECT_EQ(arguments[k], whole->tool_calls[k].arguments) << "chars " << chars;
        EXPECT_EQ(done[k], 1);
      }
      if (chars == 1) {
        EXPECT_GT(pieces[0], 10) << "streamed as written, not at the end";
      }
    }
  }
}

}  // namespace
}  // namespace dsagent::engine
