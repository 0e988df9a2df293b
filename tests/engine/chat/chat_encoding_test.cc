#include "engine/chat/chat_encoding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_io.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kVectors = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-encoding";

// The upstream vectors: input JSON (a message list, or {tools, messages} where the tools belong to
// the system message) and the exact prompt text. Vectors 1-3 use thinking mode, 4 chat mode (its
// `action` task renders "</think><｜action｜>").
std::string Encode(int n, bool thinking) {
  OrderedJson input = OrderedJson::parse(
      *ReadFileToString(kVectors / ("test_input_" + std::to_string(n) + ".json")));
  OrderedJson messages = input;
  if (input.is_object()) {
    messages = input["messages"];
    messages[0]["tools"] = input["tools"];
  }
  ChatEncodeOptions options;
  options.thinking = thinking;
  auto out = EncodeMessages(messages, options);
  EXPECT_TRUE(out) << out.error();
  return out ? *out : "";
}

std::string ExpectedPrompt(int n) {
  return *ReadFileToString(kVectors / ("test_output_" + std::to_string(n) + ".txt"));
}

TEST(ChatEncodingTest, ToolCallsAndToolResultsMatchUpstreamVector1) {
  EXPECT_EQ(Encode(1, true), ExpectedPrompt(1));
}
TEST(ChatEncodingTest, MultiTurnThinkingMatchesUpstreamVector2) {
  EXPECT_EQ(Encode(2, true), ExpectedPrompt(2));
}
TEST(ChatEncodingTest, DeveloperToolsAndReminderMatchUpstreamVector3) {
  EXPECT_EQ(Encode(3, true), ExpectedPrompt(3));
}
TEST(ChatEncodingTest, ChatModeWithActionTaskMatchesUpstreamVector4) {
  EXPECT_EQ(Encode(4, false), ExpectedPrompt(4));
}

TEST(ChatEncodingTest, MaxEffortAddsThePreambleOnlyInThinkingMode) {
  const OrderedJson msgs = OrderedJson::parse(R"([{"role":"user","content":"hi"}])");
  ChatEncodeOptions o;
  o.reasoning_effort = "max";
  EXPECT_THAT(*EncodeMessages(msgs, o), HasSubstr("Reasoning Effort: Absolute maximum"));
  EXPECT_EQ(
      *EncodeMessages(msgs, o),
      std::string(tokens::kBos) +
          "Reasoning Effort: Absolute maximum with no shortcuts permitted.\nYou MUST be very "
          "thorough in your thinking and comprehensively decompose the problem to resolve the "
          "root cause, rigorously stress-testing your logic against all potential paths, edge "
          "cases, and adversarial scenarios.\nExplicitly write out your entire deliberation "
          "process, documenting every intermediate step, considered alternative, and rejected "
          "hypothesis to ensure absolutely no assumption is left unchecked.\n\n<｜User｜>hi<｜"
          "Assistant｜><think>");
  o.thinking = false;
  EXPECT_EQ(*EncodeMessages(msgs, o),
            std::string(tokens::kBos) + "<｜User｜>hi<｜Assistant｜></think>");
}

TEST(ChatEncodingTest, ToolResultsAreReorderedToTheCallOrderAndNonStringArgsAreJson) {
  const OrderedJson msgs = OrderedJson::parse(R"([
    {"role":"user","content":"go"},
    {"role":"assistant","content":"","reasoning_content":"r","tool_calls":[
      {"id":"a","type":"function","function":{"name":"f","arguments":"{\"n\": 1.5, \"ok\": true, \"s\": \"x\"}"}},
      {"id":"b","type":"function","function":{"name":"g","arguments":"not json"}}]},
    {"role":"tool","tool_call_id":"b","content":"B"},
    {"role":"tool","tool_call_id":"a","content":"A"}
  ])");
  ChatEncodeOptions o;
  const std::string out = *EncodeMessages(msgs, o);
  EXPECT_THAT(out,
              HasSubstr("<｜User｜><tool_result>A</tool_result>\n\n<tool_result>B</tool_result>"
                        "<｜Assistant｜><think>"));
  EXPECT_THAT(out,
              HasSubstr("<｜DSML｜parameter name=\"n\" string=\"false\">1.5</｜DSML｜parameter>"));
  EXPECT_THAT(
      out, HasSubstr("<｜DSML｜parameter name=\"ok\" string=\"false\">true</｜DSML｜parameter>"));
  EXPECT_THAT(out, HasSubstr("<｜DSML｜parameter name=\"arguments\" string=\"true\">not json<"));
}

TEST(ChatEncodingTest, UnknownRoleIsNamed) {
  auto r = EncodeMessages(OrderedJson::parse(R"([{"role":"robot","content":"x"}])"), {});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("message 0: unknown role 'robot'"));
}

TEST(PythonJsonTest, MatchesPythonJsonDumps) {
  EXPECT_EQ(PythonJsonDumps(OrderedJson::parse(R"({"b": 1, "a": [true, null, "é\n"]})")),
            "{\"b\": 1, \"a\": [true, null, \"é\\n\"]}");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(1.0)), "1.0");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(0.1)), "0.1");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(1e-06)), "1e-06");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(1e16)), "1e+16");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(123456.75)), "123456.75");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(-0.00012)), "-0.00012");
  EXPECT_EQ(PythonJsonDumps(OrderedJson(std::string("\x01"))), "\"\\u0001\"");
}

}  // namespace
}  // namespace dsagent::engine
