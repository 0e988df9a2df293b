// The mcp_servers section: reading, layering (repo over user), errors, ${VAR} expansion, and
// writing entries back (dsagent mcp add/remove).
#include "agent/config/mcp_servers_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class McpServersConfigTest : public TempDirTest {
 protected:
  Expected<Config, std::string> Load() {
    return Config::Load({.repo_dir = dir_ / "repo", .user_file = dir_ / "user.yaml", .env = {},
                         .flags = {}});
  }
};

TEST_F(McpServersConfigTest, ReadsBothKindsAndTheRepoEntryWins) {
  Write("user.yaml",
        "model: deepseek-v4-pro\n"
        "mcp_servers:\n"
        "  fs:\n"
        "    command: npx\n"
        "    args: [\"-y\", \"@modelcontextprotocol/server-filesystem\", \".\"]\n"
        "    env: {LOG_LEVEL: debug}\n"
        "  tracker:\n"
        "    url: https://mcp.example.com/mcp\n"
        "    headers: {Authorization: \"Bearer ${TRACKER_TOKEN}\"}\n"
        "    tool_timeout_s: 30\n");
  Write("repo/.dsagent/config.yaml",
        "mcp_servers:\n"
        "  fs:\n"
        "    command: node\n"
        "    args: [server.js]\n"
        "    cwd: tools\n"
        "    sandbox: false\n");
  auto config = Load();
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->GetString("model"), "deepseek-v4-pro");  // other settings still read
  const auto& servers = config->McpServers();
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].name, "fs");
  EXPECT_EQ(servers[0].command, "node");
  EXPECT_EQ(servers[0].args, std::vector<std::string>{"server.js"});
  EXPECT_EQ(servers[0].cwd, "tools");
  EXPECT_FALSE(servers[0].sandbox);
  EXPECT_TRUE(servers[0].env.empty());  // replaced as a whole, not merged
  EXPECT_EQ(servers[0].source, "repo:" + (dir_ / "repo/.dsagent/config.yaml").string());
  EXPECT_EQ(servers[1].name, "tracker");
  EXPECT_EQ(servers[1].url, "https://mcp.example.com/mcp");
  EXPECT_EQ(servers[1].headers.at("Authorization"), "Bearer ${TRACKER_TOKEN}");
  EXPECT_EQ(servers[1].tool_timeout_s, 30);
  EXPECT_TRUE(servers[1].sandbox);
  EXPECT_EQ(servers[1].source, "user:" + (dir_ / "user.yaml").string());
}

TEST_F(McpServersConfigTest, ReportsEveryProblemWithItsPlace) {
  Write("user.yaml",
        "mcp_servers:\n"
        "  bad__name:\n"
        "    command: x\n"
        "  both:\n"
        "    command: x\n"
        "    url: http://h/mcp\n"
        "  typo:\n"
        "    comand: x\n"
        "  neither: {}\n"
        "  kinds:\n"
        "    url: ftp://h\n"
        "    args: x\n"
        "    sandbox: maybe\n"
        "    tool_timeout_s: 0\n");
  auto config = Load();
  ASSERT_FALSE(config);
  const std::string file = (dir_ / "user.yaml").string();
  EXPECT_THAT(config.error(), HasSubstr(file + ":2: mcp_servers.bad__name: a server name is"));
  EXPECT_THAT(config.error(),
              HasSubstr(file + ":5: mcp_servers.both: set either `command` or `url`, not both"));
  EXPECT_THAT(config.error(),
              HasSubstr(file + ":8: mcp_servers.typo.comand: unknown field (did you mean "
                               "'command'?)"));
  EXPECT_THAT(config.error(), HasSubstr("mcp_servers.neither: set `command` (a stdio server) or "
                                        "`url` (a streamable HTTP server)"));
  EXPECT_THAT(config.error(), HasSubstr(file + ":11: mcp_servers.kinds.url: expects an http:// "
                                               "or https:// URL, got \"ftp://h\""));
  EXPECT_THAT(config.error(), HasSubstr(":12: mcp_servers.kinds.args: expects a list of strings"));
  EXPECT_THAT(config.error(), HasSubstr(":13: mcp_servers.kinds.sandbox: expects a boolean"));
  EXPECT_THAT(config.error(),
              HasSubstr(":14: mcp_servers.kinds.tool_timeout_s: expects a whole number"));
}

TEST(ExpandEnvReferencesTest, ReplacesVariablesAndRefusesUnsetOnes) {
  const std::map<std::string, std::string> env = {{"TOKEN", "abc"}, {"EMPTY", ""}};
  EXPECT_EQ(*ExpandEnvReferences("Bearer ${TOKEN}!", env), "Bearer abc!");
  EXPECT_EQ(*ExpandEnvReferences("no refs $TOKEN", env), "no refs $TOKEN");
  EXPECT_EQ(ExpandEnvReferences("${MISSING}", env).error(), "${MISSING} is not set");
  EXPECT_EQ(ExpandEnvReferences("${EMPTY}", env).error(), "${EMPTY} is not set");
  EXPECT_EQ(ExpandEnvReferences("${TOKEN", env).error(), "unterminated \"${\"");
}

TEST_F(McpServersConfigTest, WriteAndRemoveRoundTripAndKeepOtherSettings) {
  Write("user.yaml", "model: deepseek-v4-pro\npermissions:\n  rules: [\"allow grep\"]\n");
  McpServerConfig fs_server;
  fs_server.name = "fs";
  fs_server.command = "npx";
  fs_server.args = {"-y", "@modelcontextprotocol/server-filesystem", "."};
  fs_server.env = {{"A", "1"}};
  fs_server.sandbox = false;
  ASSERT_TRUE(WriteMcpServer(dir_ / "user.yaml", fs_server));
  McpServerConfig web;
  web.name = "web";
  web.url = "http://127.0.0.1:9/mcp";
  web.headers = {{"X-Key", "${K}"}};
  ASSERT_TRUE(WriteMcpServer(dir_ / "user.yaml", web));

  auto config = Load();
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->GetString("model"), "deepseek-v4-pro");
  EXPECT_EQ(config->GetStringList("permissions.rules").back(), "allow grep");
  ASSERT_EQ(config->McpServers().size(), 2u);
  const McpServerConfig& read = config->McpServers()[0];
  EXPECT_EQ(read.command, "npx");
  EXPECT_EQ(read.args, fs_server.args);
  EXPECT_EQ(read.env, fs_server.env);
  EXPECT_FALSE(read.sandbox);
  EXPECT_EQ(config->McpServers()[1].headers, web.headers);

  ASSERT_TRUE(RemoveMcpServer(dir_ / "user.yaml", "fs"));
  auto after = Load();
  ASSERT_TRUE(after) << after.error();
  ASSERT_EQ(after->McpServers().size(), 1u);
  EXPECT_EQ(after->McpServers()[0].name, "web");
  EXPECT_EQ(RemoveMcpServer(dir_ / "user.yaml", "fs").error(),
            "no MCP server 'fs' in " + (dir_ / "user.yaml").string());
}

TEST_F(McpServersConfigTest, WritingCreatesTheRepoFile) {
  McpServerConfig s;
  s.name = "docs";
  s.url = "https://docs.example.com/mcp";
  ASSERT_TRUE(WriteMcpServer(dir_ / "repo/.dsagent/config.yaml", s));
  auto config = Load();
  ASSERT_TRUE(config) << config.error();
  ASSERT_EQ(config->McpServers().size(), 1u);
  EXPECT_EQ(config->McpServers()[0].url, s.url);
}

}  // namespace
}  // namespace dsagent
