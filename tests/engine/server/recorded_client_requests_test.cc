// What Claude Code and Codex really send (tests/data/client-requests: their first turn, recorded
// from the npm clients) is accepted whole and rendered into one V4 prompt.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/server/anthropic_messages.h"
#include "engine/server/openai_responses.h"

namespace dsagent::engine::server {
namespace {

std::string Recorded(const std::string& name) {
  const std::filesystem::path path =
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/client-requests" / name;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << path;
  return text.str();
}

TEST(RecordedClientRequestsTest, ClaudeCodesFirstTurn) {
  const std::string body = Recorded("claude-code-2.1.197-messages.json");
  auto r = AnthropicMessagesFormat().Parse(body, {.max_tokens = 64, .max_tokens_limit = 64});
  ASSERT_TRUE(r) << r.error().param << ": " << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->chat.thinking);               // thinking: {type: adaptive}
  EXPECT_EQ(r->chat.generate.max_tokens, 64);  // 32000 asked, capped
  EXPECT_EQ(r->chat.tools.size(), OrderedJson::parse(body)["tools"].size());
  // The system prompt, without the per-request billing header.
  ASSERT_EQ(r->chat.messages[0]["role"], "system");
  const std::string system = r->chat.messages[0]["content"];
  EXPECT_EQ(system.find(kBillingHeaderPrefix), std::string::npos);
  EXPECT_NE(system.find("Claude Agent SDK"), std::string::npos);
  // The mid-conversation system message ("Available agent types...") joined the user's turn.
  ASSERT_EQ(r->chat.messages.size(), 2u);
  EXPECT_EQ(r->chat.messages[1]["role"], "user");
  const std::string user = r->chat.messages[1]["content"];
  EXPECT_NE(user.find("Say hi"), std::string::npos);
  EXPECT_NE(user.find("Available agent types"), std::string::npos);
  auto prompt = RenderChatPrompt(r->chat);
  ASSERT_TRUE(prompt) << prompt.error();
  EXPECT_NE(prompt->find("Workflow"), std::string::npos);  // the tools are in the prompt
}

TEST(RecordedClientRequestsTest, CodexsFirstTurn) {
  const std::string body = Recorded("codex-0.171.0-responses.json");
  auto r = OpenAIResponsesFormat().Parse(body, {.max_tokens = 64});
  ASSERT_TRUE(r) << r.error().param << ": " << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->chat.thinking);
  // Function tools only: web_search and the multi-agent namespace are dropped.
  std::vector<std::string> names;
  for (const auto& t : r->chat.tools) names.push_back(t["function"]["name"]);
  EXPECT_NE(std::find(names.begin(), names.end(), "exec_command"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "multi_agent_v1"), names.end());
  EXPECT_EQ(names.size(), 7u);
  // The developer instructions are the system prompt; context and request one user turn.
  ASSERT_EQ(r->chat.messages.size(), 2u);
  EXPECT_EQ(r->chat.messages[0]["role"], "system");
  EXPECT_NE(r->chat.messages[0]["content"].get<std::string>().find("Codex CLI"), std::string::npos);
  EXPECT_EQ(r->chat.messages[1]["role"], "user");
  const std::string user = r->chat.messages[1]["content"];
  EXPECT_NE(user.find("<environment_context>"), std::string::npos);
  EXPECT_EQ(user.substr(user.size() - 6), "Say hi");
  auto prompt = RenderChatPrompt(r->chat);
  ASSERT_TRUE(prompt) << prompt.error();
  EXPECT_EQ(r->echo["include"][0], "reasoning.encrypted_content");
}

}  // namespace
}  // namespace dsagent::engine::server
