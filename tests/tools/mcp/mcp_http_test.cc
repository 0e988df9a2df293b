// The streamable HTTP transport and the client's protocol handling against a loopback server
// (tests/tools/mcp/loopback_mcp_server.h) that enforces what the spec requires of clients.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/tools/mcp/loopback_mcp_server.h"
#include "tools/mcp/http_transport.h"
#include "tools/mcp/mcp_client.h"
#include "tools/mcp/mcp_result.h"
#include "tools/mcp/mcp_server_set.h"

namespace dsagent {
namespace {

using std::chrono::milliseconds;
using testing::LoopbackMcpOptions;
using testing::LoopbackMcpServer;

std::unique_ptr<McpClient> Client(const LoopbackMcpServer& server,
                                  std::vector<std::string> headers = {}) {
  return std::make_unique<McpClient>(
      std::make_unique<HttpTransport>(HttpServerOptions{server.Url(), std::move(headers), 10}),
      McpClientOptions{});
}

std::vector<std::string> Methods(const std::vector<Json>& messages) {
  std::vector<std::string> out;
  for (const Json& m : messages)
    out.push_back(m.value("method", m.contains("result") ? "(reply)" : "?"));
  return out;
}

TEST(McpHttpTest, HandshakePagesToolsAndCarriesTheSession) {
  LoopbackMcpServer server;
  auto client = Client(server);
  auto info = client->Initialize(CancelToken());
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->protocol_version, "2025-06-18");
  EXPECT_EQ(info->name, "loopback");

  auto tools = client->ListTools(CancelToken());
  ASSERT_TRUE(tools) << tools.error();
  ASSERT_EQ(tools->size(), 3u);  // both pages, in the server's order
  EXPECT_EQ((*tools)[0].name, "zeta");
  EXPECT_EQ((*tools)[1].name, "alpha");
  EXPECT_EQ((*tools)[2].name, "slow");
  // The second page's event stream carried tools/list_changed before the reply.
  EXPECT_TRUE(client->ToolsChanged());

  const std::vector<Json> received = server.Received();
  ASSERT_EQ(received.size(), 4u);
  EXPECT_EQ(Methods(received), (std::vector<std::string>{"initialize", "notifications/initialized",
                                                         "tools/list", "tools/list"}));
  EXPECT_FALSE(received[2]["params"].contains("cursor"));
  EXPECT_EQ(received[3]["params"]["cursor"], "page-2");
  EXPECT_EQ(received[0]["params"]["clientInfo"]["name"], "dsagent");
}

TEST(McpHttpTest, CallsAnswerServerPingsAndReportIsError) {
  LoopbackMcpServer server;
  auto client = Client(server);
  ASSERT_TRUE(client->Initialize(CancelToken()));
  auto ok = client->CallTool("alpha", {{"text", "hi"}}, milliseconds(10000), CancelToken());
  ASSERT_TRUE(ok) << ok.error();
  const ToolResult r = McpResultToToolResult(*ok, 1000);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output, "alpha:hi");
  // The ping inside the event stream was answered with an empty result under the server's id.
  const std::vector<Json> received = server.Received();
  const Json& pong = received.back();
  EXPECT_EQ(pong["id"], "srv-1");
  EXPECT_EQ(pong["result"], Json::object());

  auto failed = client->CallTool("zeta", {{"text", "x"}}, milliseconds(10000), CancelToken());
  ASSERT_TRUE(failed) << failed.error();
  const ToolResult f = McpResultToToolResult(*failed, 1000);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.output, "Error: zeta:x");
}

TEST(McpHttpTest, ATimedOutCallIsCancelledAtTheServer) {
  LoopbackMcpServer server;
  auto client = Client(server);
  ASSERT_TRUE(client->Initialize(CancelToken()));
  auto slow = client->CallTool("slow", Json::object(), milliseconds(200), CancelToken());
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error(), "timed out after 200 ms");
  const std::vector<Json> received = server.Received();
  const Json& cancelled = received.back();
  EXPECT_EQ(cancelled["method"], "notifications/cancelled");
  EXPECT_EQ(cancelled["params"]["requestId"], received[received.size() - 2]["id"]);
  EXPECT_EQ(cancelled["params"]["reason"], "timed out after 200 ms");
  server.ReleaseSlow();
}

TEST(McpHttpTest, AcceptsAnOlderRevisionItSpeaksAndSendsItAfterwards) {
  LoopbackMcpServer server(LoopbackMcpOptions{"2025-03-26", ""});
  auto client = Client(server);
  auto info = client->Initialize(CancelToken());
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->protocol_version, "2025-03-26");
  // The loopback server refuses requests whose MCP-Protocol-Version differs from its answer.
  EXPECT_TRUE(client->ListTools(CancelToken()));
}

TEST(McpHttpTest, RefusesARevisionItDoesNotSpeak) {
  LoopbackMcpServer server(LoopbackMcpOptions{"1999-01-01", ""});
  auto client = Client(server);
  auto info = client->Initialize(CancelToken());
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error(),
            "the server speaks MCP revision '1999-01-01'; dsagent speaks 2025-06-18, "
            "2025-03-26, 2024-11-05");
}

TEST(McpHttpTest, SendsConfiguredHeadersAndExplainsA401) {
  LoopbackMcpOptions options;
  options.required_header = "Authorization: Bearer t0k";
  options.auth_challenge = "Bearer resource_metadata=\"http://127.0.0.1/.well-known/x\"";
  LoopbackMcpServer server(options);
  auto without = Client(server);
  auto refused = without->Initialize(CancelToken());
  ASSERT_FALSE(refused);
  // What the server asked for, and how to give dsagent a token (no OAuth flow of its own).
  EXPECT_EQ(
      refused.error(),
      "initialize: " + server.Url() +
          ": HTTP 401: the server wants credentials (WWW-Authenticate: " + options.auth_challenge +
          "). dsagent does not run the OAuth flow: get a token for this server and give it "
          "in the server's config as headers: {Authorization: \"Bearer ${TOKEN}\"}, with "
          "TOKEN set in the environment");

  auto wrong = Client(server, {"Authorization: Bearer nope"});
  auto bad_token = wrong->Initialize(CancelToken());
  ASSERT_FALSE(bad_token);
  EXPECT_NE(bad_token.error().find("HTTP 401: the server refused the configured Authorization "
                                   "header"),
            std::string::npos)
      << bad_token.error();
  EXPECT_EQ(bad_token.error().find("nope"), std::string::npos);  // the token is never echoed

  auto with = Client(server, {"Authorization: Bearer t0k"});
  EXPECT_TRUE(with->Initialize(CancelToken()));
}

TEST(McpHttpTest, OtherHttpErrorsCarryTheStatusAndBody) {
  LoopbackMcpServer server;
  auto client = std::make_unique<McpClient>(
      std::make_unique<HttpTransport>(HttpServerOptions{server.Url() + "x", {}, 10}),
      McpClientOptions{});
  auto refused = client->Initialize(CancelToken());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find(": HTTP 404"), std::string::npos) << refused.error();
}

TEST(McpHttpTest, TheGetStreamDeliversListChangedBetweenRequests) {
  LoopbackMcpOptions options;
  options.get_stream = true;
  LoopbackMcpServer server(options);
  auto transport = std::make_unique<HttpTransport>(HttpServerOptions{server.Url(), {}, 10});
  HttpTransport* http = transport.get();
  McpClient client(std::move(transport), McpClientOptions{});
  ASSERT_TRUE(client.Initialize(CancelToken()));
  EXPECT_FALSE(client.ToolsChanged());
  ASSERT_TRUE(server.WaitForGetStream()) << "the client opened no GET stream";
  // The server announces a change on its own, with no request of ours in flight.
  server.AnnounceToolsChanged();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!client.ToolsChanged() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, with a deadline
  }
  EXPECT_TRUE(client.ToolsChanged());
  EXPECT_TRUE(http->ListeningForServerMessages());
  // Close ends the stream promptly (the server would hold it open forever).
  const auto t0 = std::chrono::steady_clock::now();
  client.Close();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(server.HttpMethods().back(), "DELETE");
}

TEST(McpHttpTest, AServerWithoutAGetStreamIsFine) {
  LoopbackMcpServer server;  // GET gets 405
  auto transport = std::make_unique<HttpTransport>(HttpServerOptions{server.Url(), {}, 10});
  HttpTransport* http = transport.get();
  McpClient client(std::move(transport), McpClientOptions{});
  ASSERT_TRUE(client.Initialize(CancelToken()));
  ASSERT_TRUE(client.ListTools(CancelToken()));
  EXPECT_FALSE(http->ListeningForServerMessages());
  auto called = client.CallTool("alpha", {{"text", "x"}}, milliseconds(5000), CancelToken());
  EXPECT_TRUE(called) << called.error();
}

TEST(McpHttpTest, CloseEndsTheSession) {
  LoopbackMcpServer server;
  auto client = Client(server);
  ASSERT_TRUE(client->Initialize(CancelToken()));
  client->Close();
  EXPECT_EQ(server.HttpMethods().back(), "DELETE");
}

TEST(McpHttpTest, AServerSetOffersToolsSortedWithPrefixedNames) {
  LoopbackMcpServer server;
  McpServerSpec spec;
  spec.name = "loop";
  spec.http = HttpServerOptions{server.Url(), {}, 10};
  auto set = McpServerSet::Connect({spec}, "test", CancelToken());
  ASSERT_TRUE(set->States()[0].connected) << set->States()[0].error;
  EXPECT_EQ(set->States()[0].transport, "http: " + server.Url());
  std::vector<std::string> names;
  for (const auto& tool : set->MakeTools()) names.push_back(tool->Name());
  EXPECT_EQ(names,
            (std::vector<std::string>{"mcp__loop__alpha", "mcp__loop__slow", "mcp__loop__zeta"}));
  // list_changed arrived during the listing: the set says so, and keeps the list it has.
  EXPECT_EQ(set->ChangedServers(), std::vector<std::string>{"loop"});
}

}  // namespace
}  // namespace dsagent
