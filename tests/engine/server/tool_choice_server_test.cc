// tool_choice, parallel-call limits, streamed tool-call arguments and Anthropic's thinking budget
// over a real loopback socket, in each API, on the tiny random-weight checkpoint and its
// tokenizer: a forced call is a well-formed call (constrained decoding), its arguments stream as
// they are generated, and the pieces add up to the final arguments.
#include <gtest/gtest.h>
#include <httplib.h>

#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/sse_events.h"
#include "tests/engine/server/tiny_chat_server.h"

namespace dsagent::engine::server {
namespace {
using testing::SseEvents;

class ToolChoiceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tiny_.Start(ServerOptions{.model_id = "tiny",
                              .context_limit = 4096,
                              .default_max_tokens = 400,
                              .max_tokens_limit = 400},
                60);
  }
  OrderedJson PostOk(const std::string& path, const OrderedJson& body) {
    auto r = client().Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return OrderedJson();
    EXPECT_EQ(r->status, 200) << r->body;
    return OrderedJson::parse(r->body);
  }
  std::vector<std::pair<std::string, OrderedJson>> PostStream(const std::string& path,
                                                              OrderedJson body) {
    body["stream"] = true;
    auto r = client().Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    return SseEvents(r->body);
  }
  // The status and the error's text (each API's envelope).
  std::pair<int, std::string> PostError(const std::string& path, const OrderedJson& body) {
    auto r = client().Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return {0, ""};
    return {r->status, r->body};
  }

  httplib::Client& client() { return tiny_.client(); }
  testing::TinyChatServer tiny_;
};

// set_mode's values are all one-of (a boolean and an enum), so even random weights finish the
// call; read_file's raw string would run to max_tokens.
const OrderedJson kSetModeSchema = OrderedJson::parse(R"({"type": "object",
  "properties": {"on": {"type": "boolean"}, "level": {"enum": ["low", "high"]}},
  "required": ["on", "level"]})");
const OrderedJson kPathSchema = OrderedJson::parse(
    R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})");

void ExpectSetModeArguments(const OrderedJson& args) {
  ASSERT_TRUE(args.is_object()) << args.dump();
  EXPECT_TRUE(args["on"].is_boolean()) << args.dump();
  EXPECT_TRUE(args["level"] == "low" || args["level"] == "high") << args.dump();
  EXPECT_EQ(args.size(), 2u);
}

OrderedJson ChatToolRequest() {
  OrderedJson tools = OrderedJson::array();
  tools.push_back(
      {{"type", "function"}, {"function", {{"name", "read_file"}, {"parameters", kPathSchema}}}});
  tools.push_back(
      {{"type", "function"}, {"function", {{"name", "set_mode"}, {"parameters", kSetModeSchema}}}});
  return {{"model", "tiny"},
          {"thinking", {{"type", "disabled"}}},
          {"messages", {{{"role", "user"}, {"content", "Switch it on."}}}},
          {"tools", tools},
          {"tool_choice", {{"type", "function"}, {"function", {{"name", "set_mode"}}}}},
          {"parallel_tool_calls", false}};
}

TEST_F(ToolChoiceServerTest, ChatNamedToolIsCalledAndItsArgumentsStream) {
  const OrderedJson request = ChatToolRequest();
  const OrderedJson body = PostOk("/v1/chat/completions", request);
  const auto& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << body.dump();
  const auto& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "set_mode");
  const std::string arguments = call["function"]["arguments"];
  ExpectSetModeArguments(OrderedJson::parse(arguments));

  const auto events = PostStream("/v1/chat/completions", request);
  ASSERT_GE(events.size(), 4u);
  std::string streamed;
  int pieces = 0, starts = 0;
  std::string finish;
  for (const auto& [name, chunk] : events) {
    const auto& c = chunk["choices"][0];
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    if (!c["delta"].contains("tool_calls")) continue;
    for (const auto& t : c["delta"]["tool_calls"]) {
      EXPECT_EQ(t["index"], 0);
      if (t.contains("id")) {
        ++starts;
        EXPECT_EQ(t["id"], "call_0");
        EXPECT_EQ(t["type"], "function");
        EXPECT_EQ(t["function"]["name"], "set_mode");
      } else {
        EXPECT_FALSE(t["function"].contains("name"));
      }
      streamed += t["function"]["arguments"].get<std::string>();
      ++pieces;
    }
  }
  EXPECT_EQ(starts, 1);
  EXPECT_GT(pieces, 3) << "the arguments come as they are generated, not in one piece";
  EXPECT_EQ(streamed, arguments);  // greedy: the same call as the non-streamed reply
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(ToolChoiceServerTest, ChatRequiredNoneAndBadChoices) {
  OrderedJson required = ChatToolRequest();
  required["tool_choice"] = "required";
  required["max_tokens"] = 5;  // cut before the call is complete
  const OrderedJson cut = PostOk("/v1/chat/completions", required);
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(cut["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(cut["choices"][0]["message"]["content"], "");  // not the half-written block

  // none: the tools are not offered (a shorter prompt) and no call comes back.
  OrderedJson none = ChatToolRequest();
  none["tool_choice"] = "none";
  none["max_tokens"] = 8;
  const OrderedJson plain = PostOk("/v1/chat/completions", none);
  EXPECT_FALSE(plain["choices"][0]["message"].contains("tool_calls"));
  OrderedJson automatic = none;
  automatic["tool_choice"] = "auto";
  const OrderedJson offered = PostOk("/v1/chat/completions", automatic);
  EXPECT_LT(plain["usage"]["prompt_tokens"].get<int>(),
            offered["usage"]["prompt_tokens"].get<int>());

  for (const OrderedJson& bad :
       {OrderedJson("any"), OrderedJson({{"type", "function"}, {"function", {{"name", "rm"}}}}),
        OrderedJson({{"type", "function"}})}) {
    OrderedJson r = ChatToolRequest();
    r["tool_choice"] = bad;
    const auto [status, text] = PostError("/v1/chat/completions", r);
    EXPECT_EQ(status, 400) << bad.dump();
    EXPECT_EQ(OrderedJson::parse(text)["error"]["param"], "tool_choice") << text;
  }
  OrderedJson no_tools = ChatToolRequest();
  no_tools.erase("tools");
  EXPECT_EQ(PostError("/v1/chat/completions", no_tools).first, 400);
}

OrderedJson MessagesToolRequest() {
  return {{"model", "claude"},
          {"max_tokens", 400},
          {"messages", {{{"role", "user"}, {"content", "Switch it on."}}}},
          {"tools",
           {{{"name", "read_file"}, {"input_schema", kPathSchema}},
            {{"name", "set_mode"}, {"input_schema", kSetModeSchema}}}},
          {"tool_choice",
           {{"type", "tool"}, {"name", "set_mode"}, {"disable_parallel_tool_use", true}}}};
}

TEST_F(ToolChoiceServerTest, MessagesToolChoiceStreamsInputJsonDeltas) {
  const OrderedJson request = MessagesToolRequest();
  const OrderedJson body = PostOk("/v1/messages", request);
  EXPECT_EQ(body["stop_reason"], "tool_use");
  ASSERT_EQ(body["content"].size(), 1u) << body.dump();
  EXPECT_EQ(body["content"][0]["type"], "tool_use");
  EXPECT_EQ(body["content"][0]["name"], "set_mode");
  ExpectSetModeArguments(body["content"][0]["input"]);

  const auto events = PostStream("/v1/messages", request);
  std::vector<std::string> names;
  std::string partial;
  int deltas = 0;
  for (const auto& [name, data] : events) {
    if (name != "ping" && (names.empty() || names.back() != name)) names.push_back(name);
    if (name == "content_block_start") {
      EXPECT_EQ(data["index"], 0);
      EXPECT_EQ(data["content_block"]["type"], "tool_use");
      EXPECT_EQ(data["content_block"]["name"], "set_mode");
      EXPECT_EQ(data["content_block"]["input"], OrderedJson::object());
    }
    if (name == "content_block_delta") {
      EXPECT_EQ(data["delta"]["type"], "input_json_delta");
      partial += data["delta"]["partial_json"].get<std::string>();
      ++deltas;
    }
    if (name == "message_delta") {
      EXPECT_EQ(data["delta"]["stop_reason"], "tool_use");
    }
  }
  const std::vector<std::string> expected = {"message_start",       "content_block_start",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta",       "message_stop"};
  EXPECT_EQ(names, expected);
  EXPECT_GT(deltas, 3);
  EXPECT_EQ(OrderedJson::parse(partial), body["content"][0]["input"]);
}

TEST_F(ToolChoiceServerTest, MessagesRulesForToolChoiceAndThinkingBudget) {
  const auto expect_400 = [this](const OrderedJson& request, const std::string& names) {
    const auto [status, text] = PostError("/v1/messages", request);
    EXPECT_EQ(status, 400) << request.dump();
    const auto e = OrderedJson::parse(text);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    EXPECT_NE(e["error"]["message"].get<std::string>().find(names), std::string::npos) << text;
  };
  OrderedJson forced_thinking = MessagesToolRequest();
  forced_thinking["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  forced_thinking["max_tokens"] = 2048;
  expect_400(forced_thinking, "tool_choice");
  OrderedJson small = MessagesToolRequest();
  small["tool_choice"] = {{"type", "auto"}};
  small["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1023}};
  expect_400(small, "thinking.budget_tokens");
  small["thinking"] = {{"type", "enabled"}};
  expect_400(small, "thinking.budget_tokens");
  OrderedJson over = small;
  over["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  over["max_tokens"] = 1024;
  expect_400(over, "thinking.budget_tokens");
  OrderedJson unknown = MessagesToolRequest();
  unknown["tool_choice"] = {{"type", "tool"}, {"name", "rm"}};
  expect_400(unknown, "rm");
  // A valid budget is taken (the server caps the reply below it here, as max_tokens does).
  OrderedJson ok = over;
  ok["max_tokens"] = 1025;
  ok["tool_choice"] = {{"type", "none"}};
  auto r = client().Post("/v1/messages", ok.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

OrderedJson ResponsesToolRequest() {
  return {{"model", "tiny"},
          {"input", "Switch it on."},
          {"reasoning", {{"effort", "none"}}},
          {"tools",
           {{{"type", "function"}, {"name", "read_file"}, {"parameters", kPathSchema}},
            {{"type", "function"}, {"name", "set_mode"}, {"parameters", kSetModeSchema}}}},
          {"tool_choice", {{"type", "function"}, {"name", "set_mode"}}},
          {"parallel_tool_calls", false}};
}

TEST_F(ToolChoiceServerTest, ResponsesToolChoiceStreamsArgumentDeltas) {
  const OrderedJson request = ResponsesToolRequest();
  const OrderedJson body = PostOk("/v1/responses", request);
  EXPECT_EQ(body["status"], "completed");
  ASSERT_EQ(body["output"].size(), 1u) << body.dump();
  const auto& call = body["output"][0];
  EXPECT_EQ(call["type"], "function_call");
  EXPECT_EQ(call["name"], "set_mode");
  ExpectSetModeArguments(OrderedJson::parse(call["arguments"].get<std::string>()));

  const auto events = PostStream("/v1/responses", request);
  std::vector<std::string> names;
  std::string streamed, done_arguments;
  int deltas = 0;
  for (const auto& [name, data] : events) {
    if (names.empty() || names.back() != name) names.push_back(name);
    if (name == "response.output_item.added") {
      EXPECT_EQ(data["item"]["type"], "function_call");
      EXPECT_EQ(data["item"]["name"], "set_mode");
      EXPECT_EQ(data["item"]["status"], "in_progress");
    }
    if (name == "response.function_call_arguments.delta") {
      EXPECT_EQ(data["output_index"], 0);
      streamed += data["delta"].get<std::string>();
      ++deltas;
    }
    if (name == "response.function_call_arguments.done") done_arguments = data["arguments"];
  }
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"};
  EXPECT_EQ(names, expected);
  EXPECT_GT(deltas, 3);
  EXPECT_EQ(streamed, done_arguments);
  EXPECT_EQ(streamed, call["arguments"]);
  const auto& completed = events.back().second["response"];
  ASSERT_EQ(completed["output"].size(), 1u);
  EXPECT_EQ(completed["output"][0]["arguments"], call["arguments"]);

  OrderedJson bad = request;
  bad["tool_choice"] = {{"type", "web_search"}};
  const auto [status, text] = PostError("/v1/responses", bad);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(OrderedJson::parse(text)["error"]["param"], "tool_choice");
}

}  // namespace
}  // namespace dsagent::engine::server
