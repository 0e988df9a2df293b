// The session's MCP servers from config: environment (scrubbed shell environment + the server's
// own env), ${VAR} expansion, cwd, sandbox opt-out, disabled servers, and the /mcp listing.
#include "agent/core/mcp_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/core/tool_specs.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/mcp/loopback_mcp_server.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

class McpSetupTest : public TempDirTest {
 protected:
  Config Load(const std::string& repo_yaml,
              std::vector<std::pair<std::string, std::string>> flags = {}) {
    Write("repo/.dsagent/config.yaml", repo_yaml);
    auto config = Config::Load({.repo_dir = dir_ / "repo",
                                .user_file = dir_ / "none.yaml",
                                .env = {},
                                .flags = std::move(flags)});
    EXPECT_TRUE(config) << config.error();
    return std::move(*config);
  }
};

TEST_F(McpSetupTest, StdioServersGetTheShellEnvironmentPlusTheirOwn) {
  const Config config = Load(
      "mcp_servers:\n"
      "  db:\n"
      "    command: db-server\n"
      "    args: [--port, \"5\"]\n"
      "    cwd: tools\n"
      "    env: {DB_TOKEN: \"${DB_TOKEN}\", MODE: ro}\n"
      "    sandbox: false\n"
      "  off:\n"
      "    command: x\n"
      "    enabled: false\n"
      "  web:\n"
      "    url: http://127.0.0.1:9/mcp\n"
      "    headers: {Authorization: \"Bearer ${WEB_TOKEN}\"}\n",
      {{"sandbox.enabled", "true"}});
  const EnvMap tool_env = {{"PATH", "/usr/bin"}, {"HOME", "/home/u"}};
  const EnvMap process_env = {
      {"DB_TOKEN", "s3cret"}, {"WEB_TOKEN", "w3b"}, {"DEEPSEEK_API_KEY", "sk-x"}};
  std::vector<std::string> problems;
  auto specs = McpServerSpecsFromConfig(config, config.McpServers(), dir_ / "repo", tool_env,
                                        process_env, problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(specs.size(), 2u);  // the disabled one is left out
  const McpServerSpec& db = specs[0];
  ASSERT_TRUE(db.stdio);
  EXPECT_EQ(db.stdio->command, "db-server");
  EXPECT_EQ(db.stdio->args, (std::vector<std::string>{"--port", "5"}));
  EXPECT_EQ(db.stdio->cwd, dir_ / "repo" / "tools");
  // Only what the shell gets, plus what the server's config sets; the provider key never.
  EXPECT_EQ(
      db.stdio->environment,
      (EnvMap{{"DB_TOKEN", "s3cret"}, {"HOME", "/home/u"}, {"MODE", "ro"}, {"PATH", "/usr/bin"}}));
  EXPECT_FALSE(db.stdio->sandbox);  // opted out
  EXPECT_EQ(db.stdio->stderr_log.filename(), "db.log");
  EXPECT_EQ(db.tool_timeout, std::chrono::seconds(120));
  ASSERT_TRUE(specs[1].http);
  EXPECT_EQ(specs[1].http->headers, std::vector<std::string>{"Authorization: Bearer w3b"});
}

TEST_F(McpSetupTest, AnUnsetVariableLeavesTheServerOutWithAReason) {
  const Config config = Load(
      "mcp_servers:\n"
      "  web:\n"
      "    url: http://127.0.0.1:9/mcp\n"
      "    headers: {Authorization: \"Bearer ${WEB_TOKEN}\"}\n");
  std::vector<std::string> problems;
  auto specs =
      McpServerSpecsFromConfig(config, config.McpServers(), dir_ / "repo", {}, {}, problems);
  EXPECT_TRUE(specs.empty());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr("MCP server 'web' ("));
  EXPECT_THAT(problems[0],
              HasSubstr("is not started: header Authorization: ${WEB_TOKEN} is not set"));
}

TEST_F(McpSetupTest, AddsToolsAfterBuiltInsAndDescribesTheServers) {
  testing::LoopbackMcpServer server;
  const Config config = Load("mcp_servers:\n  loop:\n    url: " + server.Url() +
                             "\n  gone:\n    url: http://127.0.0.1:1/mcp\n");
  ToolRegistry registry = ToolRegistry::BuiltIn();
  std::vector<std::string> warnings;
  auto set = AddMcpTools(config, config.McpServers(), dir_ / "repo", {}, registry, warnings,
                         CancelToken());
  ASSERT_TRUE(set);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("MCP server 'gone' is not available: "));
  const auto schemas = ToolSpecsOf(registry);
  ASSERT_GE(schemas.size(), 3u);
  EXPECT_EQ(schemas[schemas.size() - 3].name, "mcp__loop__alpha");
  EXPECT_EQ(schemas[schemas.size() - 3].description, "the alpha tool");
  EXPECT_EQ(schemas.back().name, "mcp__loop__zeta");

  const std::string shown = DescribeMcpServers(*set, true);
  EXPECT_THAT(shown, HasSubstr("gone  (http: http://127.0.0.1:1/mcp)\n  failed: "));
  EXPECT_THAT(shown, HasSubstr("loop  (http: " + server.Url() +
                               ")\n  connected: loopback 1.0, MCP 2025-06-18, 3 tools\n"
                               "  its tool list changed; the new list is offered from the next "
                               "step\n    mcp__loop__alpha  the alpha tool\n"));
}

TEST_F(McpSetupTest, AChangedToolListKeepsTheOrderAndAppendsNewTools) {
  testing::LoopbackMcpServer server({.growable = true});
  const Config config = Load("mcp_servers:\n  loop:\n    url: " + server.Url() + "\n");
  ToolRegistry registry = ToolRegistry::BuiltIn();
  std::vector<std::string> warnings;
  auto set = AddMcpTools(config, config.McpServers(), dir_ / "repo", {}, registry, warnings,
                         CancelToken());
  ASSERT_TRUE(set);
  const auto names = [&] {
    std::vector<std::string> out;
    for (const ToolSpec& t : ToolSpecsOf(registry)) {
      if (t.name.rfind("mcp__", 0) == 0) out.push_back(t.name);
    }
    return out;
  };
  ASSERT_EQ(names(), (std::vector<std::string>{"mcp__loop__alpha", "mcp__loop__grow",
                                               "mcp__loop__slow", "mcp__loop__zeta"}));
  // The server announces a change while it is listed, but the list is the same: nothing to say.
  EXPECT_EQ(ApplyMcpToolChanges(*set, registry, CancelToken()).note, "");

  ASSERT_TRUE(registry.Dispatch("mcp__loop__grow", "{}", ToolContext{}).ok);
  const McpToolsUpdate update = ApplyMcpToolChanges(*set, registry, CancelToken());
  EXPECT_EQ(update.added, std::vector<std::string>{"mcp__loop__gamma"});
  EXPECT_EQ(update.changed, std::vector<std::string>{"mcp__loop__alpha"});
  EXPECT_EQ(update.removed, std::vector<std::string>{"mcp__loop__zeta"});
  EXPECT_EQ(update.note,
            "[dsagent] The MCP tool list changed. New tools (now offered): mcp__loop__gamma. "
            "Changed (read their new descriptions): mcp__loop__alpha. Removed (no longer "
            "available): mcp__loop__zeta.");
  // The old order stays; the new tool comes last; the changed one has its new description.
  EXPECT_EQ(names(), (std::vector<std::string>{"mcp__loop__alpha", "mcp__loop__grow",
                                               "mcp__loop__slow", "mcp__loop__gamma"}));
  EXPECT_EQ(registry.Description("mcp__loop__alpha"), "the alpha tool, version 2");
  EXPECT_FALSE(registry.Dispatch("mcp__loop__zeta", "{}", ToolContext{}).ok);
  EXPECT_EQ(registry.Dispatch("mcp__loop__gamma", "{\"text\":\"g\"}", ToolContext{}).output,
            "gamma:g");
}

}  // namespace
}  // namespace dsagent
