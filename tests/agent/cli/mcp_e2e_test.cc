// End-to-end: the real dsagent binary with an MCP server no one here wrote (the filesystem
// reference server from npm, over stdio), against the scripted DeepSeek test server; and the
// `dsagent mcp` command. Skipped when the reference server is not installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"
#include "tests/tools/mcp/mcp_reference_servers.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kMcpKey = "test-key-0123456789abcdef";

class McpE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = ReferenceServerScript("server-filesystem");
    DSAGENT_SKIP_WITHOUT_SERVER(script_, "server-filesystem");
    server_.SetApiKey(kMcpKey);
    box_.WriteRepoFile("notes.txt", "the answer is 42\n");
    box_.WriteRepoFile(".dsagent/config.yaml",
                       "mcp_servers:\n"
                       "  fs:\n"
                       "    command: node\n"
                       "    args: [\"" + script_.string() + "\", \"" + box_.repo().string() +
                           "\"]\n"
                       "permissions:\n"
                       "  rules: [\"deny mcp__fs__write_file\"]\n");
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args) {
    return RunDsagent(
        args, box_.Env({{"DEEPSEEK_API_KEY", kMcpKey}, {"DEEPSEEK_BASE_URL", server_.BaseUrl()}}),
        box_.repo(), "");
  }

  std::filesystem::path script_;
  Sandbox box_;
  DeepSeekTestServer server_;
};

TEST_F(McpE2ETest, TheModelCallsAnMcpToolAndGetsItsResult) {
  const std::string notes = (box_.repo() / "notes.txt").string();
  server_.Enqueue(ScriptedReply::Calls(
      {{"call_1", "mcp__fs__read_text_file", CanonicalJson(Json{{"path", notes}})},
       {"call_2", "mcp__fs__write_file",
        CanonicalJson(Json{{"path", notes}, {"content", "overwritten"}})}},
      "Read the notes through the MCP server."));
  server_.Enqueue(ScriptedReply::Text("The answer is 42."));

  auto r = Run({"run", "--json", "What is the answer in notes.txt?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);

  // MCP tools come after every built-in tool, and the list is the same in both requests.
  const Json& tools = requests[0].json["tools"];
  std::vector<std::string> names;
  for (const Json& t : tools) names.push_back(t["function"]["name"].get<std::string>());
  const auto first_mcp = std::find_if(names.begin(), names.end(), [](const std::string& n) {
    return n.rfind("mcp__fs__", 0) == 0;
  });
  ASSERT_NE(first_mcp, names.end());
  EXPECT_EQ(*(first_mcp - 1), "write_file");  // the last built-in
  EXPECT_TRUE(std::all_of(first_mcp, names.end(),
                          [](const std::string& n) { return n.rfind("mcp__fs__", 0) == 0; }));
  EXPECT_NE(std::find(names.begin(), names.end(), "mcp__fs__read_text_file"), names.end());
  EXPECT_EQ(requests[1].json["tools"], tools);

  // The tool result came back into the next request; the denied write did not run.
  const std::string second = requests[1].json["messages"].dump();
  EXPECT_THAT(second, HasSubstr("the answer is 42"));
  EXPECT_THAT(second, HasSubstr("Permission denied"));
  EXPECT_EQ(box_.ReadRepoFile("notes.txt"), "the answer is 42\n");
}

TEST_F(McpE2ETest, McpCommandListsAddsAndRemovesServers) {
  auto list = Run({"mcp", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("fs  (stdio: node "));
  EXPECT_THAT(list.out, HasSubstr("connected: secure-filesystem-server"));

  auto get = Run({"mcp", "get", "fs"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("mcp__fs__read_text_file"));

  auto add = Run({"mcp", "add", "web", "--scope", "repo", "--url", "http://127.0.0.1:1/mcp"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto with_web = Run({"mcp", "list"});
  EXPECT_EQ(with_web.exit_code, 1);  // a configured server is unreachable
  EXPECT_THAT(with_web.out, HasSubstr("web  (http: http://127.0.0.1:1/mcp)\n  failed: "));

  auto removed = Run({"mcp", "remove", "web", "--scope", "repo"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_THAT(box_.ReadRepoFile(".dsagent/config.yaml"), Not(HasSubstr("web")));
  EXPECT_THAT(box_.ReadRepoFile(".dsagent/config.yaml"), HasSubstr("deny mcp__fs__write_file"));
}

}  // namespace
}  // namespace dsagent::testing
