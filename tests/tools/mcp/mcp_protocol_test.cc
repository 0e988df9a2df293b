// The pure parts of the MCP client: JSON-RPC classification, SSE framing, result formatting and
// tool naming.
#include <gtest/gtest.h>

#include "tools/mcp/json_rpc.h"
#include "tools/mcp/mcp_result.h"
#include "tools/mcp/mcp_tool.h"
#include "tools/mcp/sse_reader.h"

namespace dsagent {
namespace {

TEST(JsonRpcTest, ClassifiesMessages) {
  EXPECT_EQ(ClassifyJsonRpc(MakeJsonRpcRequest(1, "ping", nullptr)), JsonRpcKind::kRequest);
  EXPECT_EQ(ClassifyJsonRpc(MakeJsonRpcNotification("notifications/initialized", nullptr)),
            JsonRpcKind::kNotification);
  EXPECT_EQ(ClassifyJsonRpc(MakeJsonRpcResult("a", Json::object())), JsonRpcKind::kResponse);
  EXPECT_EQ(ClassifyJsonRpc(MakeJsonRpcError(2, -32601, "no")), JsonRpcKind::kResponse);
  EXPECT_EQ(ClassifyJsonRpc(Json{{"id", 1}, {"result", 1}}), JsonRpcKind::kInvalid);  // no jsonrpc
  EXPECT_EQ(ClassifyJsonRpc(Json::array()), JsonRpcKind::kInvalid);
  EXPECT_FALSE(MakeJsonRpcRequest(1, "tools/list", nullptr).contains("params"));
  EXPECT_EQ(DescribeJsonRpcError({{"code", -32602}, {"message", "Invalid params"}, {"data", "x"}}),
            "Invalid params (code -32602): x");
}

TEST(SseReaderTest, JoinsDataLinesAcrossChunksAndIgnoresTheRest) {
  SseReader reader;
  EXPECT_TRUE(reader.Feed(": keep-alive\n\nevent: message\nid: 7\nda").empty());
  auto events = reader.Feed("ta: {\"a\":\r\ndata: 1}\r\n\r\ndata:x\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "{\"a\":\n1}");
  EXPECT_EQ(events[1], "x");
}

TEST(McpResultTest, TextBlocksJoinAndBinaryBecomesAPlaceholder) {
  const Json result = {
      {"content",
       {{{"type", "text"}, {"text", "first"}},
        {{"type", "image"}, {"data", "AAAA"}, {"mimeType", "image/png"}},
        {{"type", "resource_link"}, {"uri", "file:///a"}, {"name", "a"}},
        {{"type", "resource"}, {"resource", {{"uri", "mem://x"}, {"text", "inline"}}}}}}};
  const ToolResult r = McpResultToToolResult(result, 1000);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output,
            "first\n[image: image/png, 3 bytes, not shown: dsagent passes only text to the "
            "model]\n[resource link: file:///a (a)]\n[resource mem://x]\ninline");
  EXPECT_EQ(r.details["content_types"],
            Json({"text", "image", "resource_link", "resource"}));
}

TEST(McpResultTest, StructuredContentIsShownOnlyWhenNoTextCarriesIt) {
  const ToolResult only = McpResultToToolResult({{"content", Json::array()},
                                                 {"structuredContent", {{"t", 21}}}},
                                                1000);
  EXPECT_EQ(only.output, "{\"t\":21}");
  EXPECT_EQ(only.details["structured"], Json({{"t", 21}}));
  const ToolResult both = McpResultToToolResult(
      {{"content", {{{"type", "text"}, {"text", "21 degrees"}}}}, {"structuredContent", {{"t", 21}}}},
      1000);
  EXPECT_EQ(both.output, "21 degrees");
}

TEST(McpResultTest, IsErrorFailsTheResultAndLongOutputIsCapped) {
  const ToolResult err =
      McpResultToToolResult({{"content", {{{"type", "text"}, {"text", "no such file"}}}},
                             {"isError", true}},
                            1000);
  EXPECT_FALSE(err.ok);
  EXPECT_EQ(err.output, "Error: no such file");
  const ToolResult big = McpResultToToolResult(
      {{"content", {{{"type", "text"}, {"text", std::string(5000, 'x')}}}}}, 100);
  EXPECT_LT(big.output.size(), 200u);
  EXPECT_NE(big.output.find("omitted"), std::string::npos);
}

TEST(McpToolNameTest, PrefixesSanitizesAndCaps) {
  EXPECT_EQ(McpToolName("fs", "read_text_file"), "mcp__fs__read_text_file");
  EXPECT_EQ(McpToolName("my.server", "get env"), "mcp__my_server__get_env");
  EXPECT_EQ(McpToolName("s", std::string(100, 'a')).size(), 64u);
}

}  // namespace
}  // namespace dsagent
