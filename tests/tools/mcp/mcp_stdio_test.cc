// The MCP client against servers no one here wrote: the reference servers published on npm
// (@modelcontextprotocol/server-everything and server-filesystem), run over stdio.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

#include "tests/support/temp_dir.h"
#include "tests/tools/mcp/mcp_reference_servers.h"
#include "tools/mcp/mcp_client.h"
#include "tools/mcp/mcp_result.h"
#include "tools/mcp/mcp_server_set.h"

namespace dsagent {
namespace {

using std::chrono::milliseconds;
using testing::NodeServer;
using testing::ReferenceServerScript;

const McpToolInfo* FindTool(const std::vector<McpToolInfo>& tools, const std::string& name) {
  for (const McpToolInfo& t : tools) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

class EverythingServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = ReferenceServerScript("server-everything");
    DSAGENT_SKIP_WITHOUT_SERVER(script_, "server-everything");
  }

  std::unique_ptr<McpClient> Connect(EnvMap extra = {}) {
    StdioServerOptions options = NodeServer(script_, {"stdio"}, tmp_.path(), std::move(extra));
    options.stderr_log = tmp_.path() / "logs/everything.log";
    auto transport = StdioTransport::Start(options);
    EXPECT_TRUE(transport) << transport.error();
    if (!transport) return nullptr;
    auto client = std::make_unique<McpClient>(std::move(*transport), McpClientOptions{});
    auto info = client->Initialize(CancelToken());
    EXPECT_TRUE(info) << info.error();
    if (info) info_ = *info;
    return client;
  }

  std::filesystem::path script_;
  TempDir tmp_;
  McpServerInfo info_;
};

TEST_F(EverythingServerTest, InitializesListsAndCallsATool) {
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(info_.protocol_version, "2025-06-18");
  EXPECT_FALSE(info_.name.empty());
  EXPECT_TRUE(info_.has_tools);

  auto tools = client->ListTools(CancelToken());
  ASSERT_TRUE(tools) << tools.error();
  const McpToolInfo* echo = FindTool(*tools, "echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->input_schema["type"], "object");
  EXPECT_TRUE(echo->input_schema["properties"].contains("message"));
  EXPECT_EQ(echo->annotations.value("readOnlyHint", false), true);

  auto result = client->CallTool("echo", {{"message", "hello over stdio"}}, milliseconds(30000),
                                 CancelToken());
  ASSERT_TRUE(result) << result.error();
  const ToolResult r = McpResultToToolResult(*result, 30000);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output, "Echo: hello over stdio");
}

TEST_F(EverythingServerTest, ServerStderrGoesToTheLogFile) {
  auto client = Connect();
  ASSERT_TRUE(client);
  client->Close();  // the server has written its startup line by the time it answered
  EXPECT_NE(tmp_.Read("logs/everything.log").find("Starting"), std::string::npos);
}

TEST_F(EverythingServerTest, StructuredContentAndImagesBecomeText) {
  auto client = Connect();
  ASSERT_TRUE(client);
  auto structured = client->CallTool("get-structured-content", {{"location", "Chicago"}},
                                     milliseconds(30000), CancelToken());
  ASSERT_TRUE(structured) << structured.error();
  const ToolResult s = McpResultToToolResult(*structured, 30000);
  EXPECT_TRUE(s.ok);
  ASSERT_TRUE(s.details.contains("structured"));
  EXPECT_TRUE(s.details["structured"].contains("temperature"));
  EXPECT_NE(s.output.find("temperature"), std::string::npos);

  auto image = client->CallTool("get-tiny-image", Json::object(), milliseconds(30000),
                                CancelToken());
  ASSERT_TRUE(image) << image.error();
  const ToolResult i = McpResultToToolResult(*image, 30000);
  EXPECT_NE(i.output.find("[image: image/png, "), std::string::npos) << i.output;
  EXPECT_EQ(i.output.find("iVBOR"), std::string::npos);  // no base64 for the model
}

TEST_F(EverythingServerTest, TimeoutCancelsTheCallAndTheConnectionStaysUsable) {
  auto client = Connect();
  ASSERT_TRUE(client);
  auto slow = client->CallTool("trigger-long-running-operation", {{"duration", 30}, {"steps", 1}},
                               milliseconds(300), CancelToken());
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error(), "timed out after 300 ms");
  auto echo = client->CallTool("echo", {{"message", "still here"}}, milliseconds(30000),
                               CancelToken());
  ASSERT_TRUE(echo) << echo.error();
  EXPECT_EQ(McpResultToToolResult(*echo, 30000).output, "Echo: still here");
}

TEST_F(EverythingServerTest, AnInterruptedStepCancelsTheCall) {
  auto client = Connect();
  ASSERT_TRUE(client);
  CancelToken interrupted;
  interrupted.Cancel();
  auto slow = client->CallTool("trigger-long-running-operation", {{"duration", 30}, {"steps", 1}},
                               milliseconds(60000), interrupted);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error(), "interrupted");
  auto echo = client->CallTool("echo", {{"message", "next"}}, milliseconds(30000), CancelToken());
  ASSERT_TRUE(echo) << echo.error();
}

TEST_F(EverythingServerTest, TheServerSeesExactlyTheEnvironmentItWasGiven) {
  ::setenv("DSAGENT_MCP_TEST_PARENT_SECRET_TOKEN", "do-not-pass", 1);
  auto client = Connect({{"MCP_TEST_MARKER", "given"}});
  ::unsetenv("DSAGENT_MCP_TEST_PARENT_SECRET_TOKEN");
  ASSERT_TRUE(client);
  auto env = client->CallTool("get-env", Json::object(), milliseconds(30000), CancelToken());
  ASSERT_TRUE(env) << env.error();
  const std::string text = McpResultToToolResult(*env, 1 << 20).output;
  EXPECT_NE(text.find("\"MCP_TEST_MARKER\": \"given\""), std::string::npos) << text;
  EXPECT_EQ(text.find("DSAGENT_MCP_TEST_PARENT_SECRET_TOKEN"), std::string::npos);
}

TEST_F(EverythingServerTest, UnknownToolIsAnErrorNamingIt) {
  auto client = Connect();
  ASSERT_TRUE(client);
  auto r = client->CallTool("no-such-tool", Json::object(), milliseconds(30000), CancelToken());
  // Servers answer either with a JSON-RPC error or with an isError result; both must say why.
  if (r) {
    const ToolResult t = McpResultToToolResult(*r, 30000);
    EXPECT_FALSE(t.ok);
    EXPECT_NE(t.output.find("no-such-tool"), std::string::npos) << t.output;
  } else {
    EXPECT_NE(r.error().find("no-such-tool"), std::string::npos) << r.error();
  }
}

class FilesystemServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = ReferenceServerScript("server-filesystem");
    DSAGENT_SKIP_WITHOUT_SERVER(script_, "server-filesystem");
  }
  std::filesystem::path script_;
  TempDir tmp_;
};

TEST_F(FilesystemServerTest, ToolsThroughTheServerSetReadFilesAndReportErrors) {
  tmp_.Write("allowed/notes.txt", "line one\nline two\n");
  tmp_.Write("outside.txt", "secret");
  McpServerSpec fs;
  fs.name = "fs";
  fs.stdio = NodeServer(script_, {(tmp_.path() / "allowed").string()}, tmp_.path());
  McpServerSpec broken;
  broken.name = "broken";
  broken.stdio = NodeServer(script_, {}, tmp_.path());
  broken.stdio->command = "/nonexistent/mcp-server";
  auto set = McpServerSet::Connect({fs, broken}, "test", CancelToken());

  ASSERT_EQ(set->States().size(), 2u);
  EXPECT_EQ(set->States()[0].name, "broken");  // sorted by name
  EXPECT_FALSE(set->States()[0].connected);
  EXPECT_NE(set->States()[0].error.find("/nonexistent/mcp-server"), std::string::npos);
  ASSERT_TRUE(set->States()[1].connected) << set->States()[1].error;

  auto tools = set->MakeTools();
  ASSERT_FALSE(tools.empty());
  std::vector<std::string> names;
  for (const auto& t : tools) names.push_back(t->Name());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  auto read = std::find(names.begin(), names.end(), "mcp__fs__read_text_file");
  ASSERT_NE(read, names.end());
  McpTool& tool = *tools[static_cast<size_t>(read - names.begin())];
  EXPECT_TRUE(tool.Schema()["properties"].contains("path"));
  EXPECT_FALSE(tool.Description().empty());

  ToolContext ctx;
  ctx.workspace = tmp_.path();
  const ToolResult ok = tool.Run({{"path", (tmp_.path() / "allowed/notes.txt").string()}}, ctx);
  EXPECT_TRUE(ok.ok) << ok.output;
  EXPECT_EQ(ok.output, "line one\nline two\n");

  const ToolResult denied = tool.Run({{"path", (tmp_.path() / "outside.txt").string()}}, ctx);
  EXPECT_FALSE(denied.ok);
  EXPECT_EQ(denied.output.rfind("Error: ", 0), 0u) << denied.output;
  EXPECT_EQ(denied.output.find("secret"), std::string::npos);
  EXPECT_TRUE(set->ChangedServers().empty());
}

TEST(StdioTransportTest, AServerThatExitsIsReportedWithItsStatusAndLog) {
  TempDir tmp;
  StdioServerOptions o;
  o.command = "/bin/sh";
  o.args = {"-c", "echo 'bad config' >&2; exit 3"};
  o.cwd = tmp.path();
  o.environment = {{"PATH", "/usr/bin:/bin"}};
  o.stderr_log = tmp.path() / "server.log";
  auto transport = StdioTransport::Start(o);
  ASSERT_TRUE(transport) << transport.error();
  McpClient client(std::move(*transport), McpClientOptions{});
  auto info = client.Initialize(CancelToken());
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().find("exited with status 3"), std::string::npos) << info.error();
  EXPECT_NE(info.error().find("server.log"), std::string::npos) << info.error();
  EXPECT_EQ(tmp.Read("server.log"), "bad config\n");
}

TEST(StdioTransportTest, AMissingCommandIsAClearError) {
  TempDir tmp;
  StdioServerOptions o;
  o.command = "no-such-mcp-server-xyz";
  o.cwd = tmp.path();
  o.environment = {{"PATH", "/usr/bin:/bin"}};
  auto transport = StdioTransport::Start(o);
  ASSERT_FALSE(transport);
  EXPECT_EQ(transport.error(), "command 'no-such-mcp-server-xyz' not found on the server's PATH");
}

}  // namespace
}  // namespace dsagent
