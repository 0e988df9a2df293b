// End-to-end: the real dsagent binary with an MCP server no one here wrote (the filesystem
// reference server from npm, over stdio), against the scripted DeepSeek test server; and the
// `dsagent mcp` command. Skipped when the reference server is not installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"
#include "tests/tools/mcp/loopback_mcp_server.h"
#include "tests/tools/mcp/mcp_reference_servers.h"

namespace dsagent::testing {
namespace {
using ::testing::ContainsRegex;
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
                       "    args: [\"" +
                           script_.string() + "\", \"" + box_.repo().string() +
                           "\"]\n"
                           "permissions:\n"
                           "  rules: [\"deny mcp__fs__write_file\"]\n");
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    return RunDsagent(
        args, box_.Env({{"DEEPSEEK_API_KEY", kMcpKey}, {"DEEPSEEK_BASE_URL", server_.BaseUrl()}}),
        box_.repo(), stdin_text);
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

  // The server comes from the repository's config: headless runs start it only when told to.
  auto r = Run({"run", "--json", "--trust-repo-mcp", "What is the answer in notes.txt?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("was not started")));
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

std::vector<std::string> ToolNames(const Json& request) {
  std::vector<std::string> names;
  for (const Json& t : request["tools"]) names.push_back(t["function"]["name"].get<std::string>());
  return names;
}

bool OffersMcpTools(const Json& request) {
  const auto names = ToolNames(request);
  return std::any_of(names.begin(), names.end(),
                     [](const std::string& n) { return n.rfind("mcp__", 0) == 0; });
}

TEST_F(McpE2ETest, AHeadlessRunSkipsRepositoryServersAndSaysHowToAllowThem) {
  server_.Enqueue(ScriptedReply::Text("No MCP tools here."));
  auto r = Run({"run", "--json", "Anything?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(server_.Requests().size(), 1u);
  EXPECT_FALSE(OffersMcpTools(server_.Requests()[0].json));
  EXPECT_THAT(r.err, HasSubstr("warning: MCP server 'fs' is defined by the repository ("));
  EXPECT_THAT(r.err, HasSubstr("and was not started"));
  EXPECT_THAT(r.err, HasSubstr("pass --trust-repo-mcp"));

  // The repository cannot trust itself; the user config can.
  box_.WriteRepoFile(".dsagent/config.yaml", box_.ReadRepoFile(".dsagent/config.yaml") +
                                                 "mcp:\n  trust_repo_servers: true\n");
  server_.Enqueue(ScriptedReply::Text("Still none."));
  auto self = Run({"run", "--json", "Anything?"});
  ASSERT_EQ(self.exit_code, 0) << self.err;
  EXPECT_FALSE(OffersMcpTools(server_.Requests()[1].json));
  EXPECT_THAT(self.err, HasSubstr("mcp.trust_repo_servers is ignored in a repository config file"));
}

TEST_F(McpE2ETest, InteractiveDsagentAsksOnceAndTheAnswerIsRemembered) {
  // Declined: the question comes first, then the message; no MCP tools are offered.
  server_.Enqueue(ScriptedReply::Text("Without MCP."));
  auto declined = Run({"chat"}, "n\nhello\n/mcp\n");
  ASSERT_EQ(declined.exit_code, 0) << declined.err;
  EXPECT_THAT(declined.out, HasSubstr("? start MCP server fs defined by this repository"));
  EXPECT_THAT(declined.out, HasSubstr("runs: node "));
  ASSERT_EQ(server_.Requests().size(), 1u);
  EXPECT_FALSE(OffersMcpTools(server_.Requests()[0].json));
  EXPECT_THAT(declined.out, HasSubstr("was declined for this repository"));
  // /mcp lists the server that was left out, and how to trust it.
  EXPECT_THAT(declined.out,
              HasSubstr("fs  not started: defined by the repository and not trusted "
                        "here; `dsagent mcp trust fs` starts it in the next session"));

  // Not asked again; `mcp trust` changes the answer and the next session starts the server.
  auto list = Run({"mcp", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("fs  not started: defined by the repository and not trusted"));
  auto trust = Run({"mcp", "trust", "fs"});
  ASSERT_EQ(trust.exit_code, 0) << trust.err;
  server_.Enqueue(ScriptedReply::Text("With MCP."));
  auto trusted = Run({"chat"}, "hello\n");
  ASSERT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_THAT(trusted.out, Not(HasSubstr("? start MCP server")));
  ASSERT_EQ(server_.Requests().size(), 2u);
  const auto names = ToolNames(server_.Requests()[1].json);
  EXPECT_NE(std::find(names.begin(), names.end(), "mcp__fs__read_text_file"), names.end());
}

TEST_F(McpE2ETest, McpCommandListsAddsAndRemovesServers) {
  // --trust-repo-mcp starts the repository's server for this listing only.
  auto list = Run({"mcp", "list", "--trust-repo-mcp"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("fs  (stdio: node "));
  EXPECT_THAT(list.out, HasSubstr("connected: secure-filesystem-server"));

  // A server the user adds to the repository's config is trusted: they wrote it.
  auto add = Run({"mcp", "add", "web", "--scope", "repo", "--url", "http://127.0.0.1:1/mcp"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto web = Run({"mcp", "get", "web"});
  EXPECT_EQ(web.exit_code, 1);  // a configured server is unreachable
  EXPECT_THAT(web.out, HasSubstr("web  (http: http://127.0.0.1:1/mcp)\n  failed: "));
  EXPECT_THAT(web.out, Not(HasSubstr("not trusted")));

  auto removed = Run({"mcp", "remove", "web", "--scope", "repo"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_THAT(box_.ReadRepoFile(".dsagent/config.yaml"), Not(HasSubstr("web")));
  EXPECT_THAT(box_.ReadRepoFile(".dsagent/config.yaml"), HasSubstr("deny mcp__fs__write_file"));
}

TEST_F(McpE2ETest, DoctorListsServersWithTrustAndToolsButNoSecrets) {
  const std::filesystem::path user_config = box_.root() / "config" / "dsagent" / "config.yaml";
  std::filesystem::create_directories(user_config.parent_path());
  std::ofstream(user_config) << "mcp_servers:\n"
                                "  mine:\n"
                                "    command: node\n"
                                "    args: [\""
                             << script_.string() << "\", \"" << box_.repo().string()
                             << "\"]\n"
                                "    env: {MY_TOKEN: \"${MY_TOKEN}\"}\n"
                                "  tracker:\n"
                                "    url: http://127.0.0.1:1/mcp\n"
                                "    headers: {Authorization: \"Bearer ${MY_TOKEN}\"}\n"
                                "    enabled: false\n";
  auto r = RunDsagent({"doctor"},
                      box_.Env({{"DEEPSEEK_API_KEY", kMcpKey}, {"MY_TOKEN", "tok-secret-9876"}}),
                      box_.repo(), "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mcp servers: 3 configured\n"));
  EXPECT_THAT(r.out, HasSubstr("  fs: stdio (node), from repo:"));
  EXPECT_THAT(r.out, HasSubstr("not trusted yet (dsagent asks; run/patch need --trust-repo-mcp); "
                               "not started (`dsagent mcp trust fs` allows it)"));
  EXPECT_THAT(r.out, HasSubstr("  mine: stdio (node), from user:"));
  EXPECT_THAT(r.out, ContainsRegex("; your config; starts, [1-9][0-9]* tools\n"));
  EXPECT_THAT(r.out, HasSubstr("  tracker: http (http://127.0.0.1:1/mcp), from user:"));
  EXPECT_THAT(r.out, HasSubstr("; disabled\n"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("tok-secret-9876")));
}

// A server's tool list changes mid-run (the loopback HTTP server: calling "grow" adds gamma,
// changes alpha, removes zeta): the next request keeps the old order with the new tool appended,
// the model is told in a note, stream-json reports it, and a resumed session sends the same list.
TEST(McpListChangedE2ETest, TheNextStepOffersTheNewListAndSaysWhatChanged) {
  LoopbackMcpServer mcp({.growable = true});
  DeepSeekTestServer server;
  server.SetApiKey(kMcpKey);
  Sandbox box;
  box.WriteRepoFile("README.md", "hello\n");
  box.GitInitAndCommit();
  const std::filesystem::path user_config = box.root() / "config" / "dsagent" / "config.yaml";
  std::filesystem::create_directories(user_config.parent_path());
  std::ofstream(user_config) << "mcp_servers:\n  loop:\n    url: " << mcp.Url() << "\n";
  const auto env = box.Env({{"DEEPSEEK_API_KEY", kMcpKey}, {"DEEPSEEK_BASE_URL", server.BaseUrl()}});

  server.Enqueue(ScriptedReply::Calls({{"call_1", "mcp__loop__grow", "{}"}}, "Grow it."));
  server.Enqueue(ScriptedReply::Text("Done."));
  auto r = RunDsagent({"run", "--output-format", "stream-json", "Grow the server."}, env,
                      box.repo(), "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  std::vector<std::string> before = ToolNames(requests[0].json);
  std::vector<std::string> after = ToolNames(requests[1].json);
  EXPECT_EQ(std::vector<std::string>(before.end() - 4, before.end()),
            (std::vector<std::string>{"mcp__loop__alpha", "mcp__loop__grow", "mcp__loop__slow",
                                      "mcp__loop__zeta"}));
  // Everything before the MCP tools is unchanged; zeta is gone and gamma comes last.
  EXPECT_EQ(std::vector<std::string>(after.begin(), after.end() - 4),
            std::vector<std::string>(before.begin(), before.end() - 4));
  EXPECT_EQ(std::vector<std::string>(after.end() - 4, after.end()),
            (std::vector<std::string>{"mcp__loop__alpha", "mcp__loop__grow", "mcp__loop__slow",
                                      "mcp__loop__gamma"}));
  const Json& last = requests[1].json["messages"].back();
  EXPECT_EQ(last["role"], "user");
  EXPECT_THAT(last["content"].get<std::string>(),
              HasSubstr("New tools (now offered): mcp__loop__gamma."));
  EXPECT_THAT(last["content"].get<std::string>(),
              HasSubstr("Removed (no longer available): mcp__loop__zeta."));

  bool reported = false;
  std::string session_id;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const Json e = Json::parse(line, nullptr, false);
    if (e.is_object() && e.value("type", "") == "tools_changed") {
      reported = true;
      EXPECT_EQ(e["step"], 2);
      EXPECT_EQ(e["added"], Json::array({"mcp__loop__gamma"}));
      EXPECT_EQ(e["changed"], Json::array({"mcp__loop__alpha"}));
      EXPECT_EQ(e["removed"], Json::array({"mcp__loop__zeta"}));
    }
    if (e.is_object() && e.contains("session_id")) session_id = e["session_id"];
  }
  EXPECT_TRUE(reported) << r.out;

  // Resumed: the context carries the changed list, so the request sends the same tools.
  ASSERT_FALSE(session_id.empty());
  server.Enqueue(ScriptedReply::Text("Again."));
  auto resumed =
      RunDsagent({"run", "--json", "--resume", session_id, "Once more."}, env, box.repo(), "");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  requests = server.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].json["tools"], requests[1].json["tools"]);
}

}  // namespace
}  // namespace dsagent::testing
