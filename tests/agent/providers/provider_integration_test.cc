// Every provider kind against the protocol-faithful DeepSeek test server over real loopback HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "agent/providers/anthropic_messages.h"
#include "agent/providers/chat_completions.h"
#include "agent/providers/provider_factory.h"
#include "tests/agent/providers/recording_sink.h"
#include "tests/agent/providers/test_printers.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent {
namespace {

using testing::DeepSeekTestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using testing::ScriptedReply;

const char kV4ReasoningError[] =
    "The `reasoning_content` in the thinking mode must be passed back to the API.";

Request BasicRequest() {
  Request r;
  r.lane = {"deepseek-v4-pro", true, "high"};
  r.user_id = "repo-test";
  r.max_output_tokens = 1024;
  r.tools = {{"read_file", "Read a file",
              Json::parse(R"({"type":"object","properties":{"path":{"type":"string"}}})")}};
  r.messages = {SystemMessage("You are a test agent."), UserMessage("Say hello.")};
  return r;
}

class ProviderIntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string Kind() const { return GetParam(); }
  bool Anthropic() const { return Kind() == "deepseek-anthropic"; }

  ProviderOptions Options() const {
    ProviderOptions o;
    o.kind = Kind();
    o.base_url = server_.BaseUrl() + (Kind() == "openai-compatible" ? "/v1" : "");
    o.api_key = "test-key";
    o.api_key_env = Kind() == "openai-compatible" ? "OPENAI_API_KEY" : "DEEPSEEK_API_KEY";
    o.retry.max_attempts = 4;
    o.retry.initial_backoff_ms = 5;
    o.retry.max_backoff_ms = 50;
    o.retry.jitter_seed = 7;
    o.connect_timeout_s = 5;
    o.idle_timeout_s = 10;
    o.check_served_model = true;
    return o;
  }

  std::unique_ptr<Provider> Make(const ProviderOptions& o) const {
    auto p = MakeProvider(o);
    EXPECT_TRUE(p.has_value()) << p.error().message;
    return p.has_value() ? std::move(p).value() : nullptr;
  }
  std::unique_ptr<Provider> Make() const { return Make(Options()); }

  Expected<Response, ProviderError> Call(const Request& r) {
    auto provider = Make();
    return provider->Complete(r, sink_, cancel_);
  }

  std::vector<std::string> Bodies() const {
    std::vector<std::string> out;
    for (const auto& q : server_.Requests()) out.push_back(q.body);
    return out;
  }

  DeepSeekTestServer server_;
  RecordingSink sink_;
  CancelToken cancel_;
};

TEST_P(ProviderIntegrationTest, StreamedTextReply) {
  server_.Enqueue(ScriptedReply::Text("Hello there, friend.", "The user wants a greeting."));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.role, Role::kAssistant);
  EXPECT_EQ(r->message.content, "Hello there, friend.");
  EXPECT_EQ(r->message.reasoning, "The user wants a greeting.");
  EXPECT_TRUE(r->message.has_reasoning);
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_TRUE(r->usage_reported);
  Usage accounted = server_.Requests().at(0).usage;
  if (Anthropic()) accounted.reasoning = 0;  // the Messages format reports no reasoning count
  EXPECT_EQ(r->usage, accounted);
  EXPECT_EQ(r->usage.input_cache_hit, 0);
  EXPECT_GT(r->usage.input_cache_miss, 0);
  EXPECT_GT(r->usage.output, 0);
  EXPECT_EQ(r->served_model, "deepseek-v4-pro");
  EXPECT_EQ(r->request_id, "req-1");
  EXPECT_EQ(r->attempts, 1);
  EXPECT_GT(r->latency_s, 0);
  EXPECT_EQ(sink_.content, "Hello there, friend.");
  EXPECT_GE(sink_.content_deltas, 2);
  EXPECT_EQ(sink_.reasoning, "The user wants a greeting.");

  const auto req = server_.Requests().at(0);
  EXPECT_EQ(req.status, 200);
  EXPECT_EQ(req.json["stream"], true);
  if (Anthropic()) {
    EXPECT_EQ(req.path, "/anthropic/v1/messages");
    EXPECT_EQ(req.headers.at("x-api-key"), "test-key");
    EXPECT_EQ(req.headers.at("anthropic-version"), "2023-06-01");
  } else {
    EXPECT_EQ(req.path,
              Kind() == "openai-compatible" ? "/v1/chat/completions" : "/chat/completions");
    EXPECT_EQ(req.headers.at("authorization"), "Bearer test-key");
    EXPECT_EQ(req.json["stream_options"]["include_usage"], true);
  }
}

TEST_P(ProviderIntegrationTest, ToolCallReply) {
  server_.Enqueue(ScriptedReply::Calls({{"call_0", "read_file", R"({"path":"src/a.cc"})"},
                                        {"call_1", "read_file", R"({"path": "src/b.cc"})"}},
                                       "Need both files."));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_THAT(r->message.tool_calls,
              ElementsAre(ToolCall{"call_0", "read_file", R"({"path":"src/a.cc"})"},
                          ToolCall{"call_1", "read_file", R"({"path": "src/b.cc"})"}));
  EXPECT_EQ(r->message.reasoning, "Need both files.");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_THAT(sink_.tool_starts,
              ElementsAre(Pair("call_0", "read_file"), Pair("call_1", "read_file")));
}

TEST_P(ProviderIntegrationTest, ConversationReplayHitsThePrefixCache) {
  // The server accounts cache hits only for byte-stable replay: this checks that the provider
  // sends back exactly what DeepSeek expects (reasoning on the tool-call turn, ids, arguments).
  server_.Enqueue(ScriptedReply::Calls({{"call_0", "read_file", R"({"path":"a.cc"})"}}, "Look."));
  server_.Enqueue(ScriptedReply::Text("It is empty."));
  Request req = BasicRequest();
  auto first = Call(req);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  req.messages.push_back(first->message);
  req.messages.push_back(ToolResultMessage("call_0", "int main() {}"));
  auto second = Call(req);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  const int64_t first_prompt = first->usage.input_cache_hit + first->usage.input_cache_miss;
  EXPECT_GT(second->usage.input_cache_hit, first_prompt);
  EXPECT_GT(second->usage.input_cache_miss, 0);
}

// A body is sent as pieces that share the encoder's cache (wire_body.h); with tool results of
// hundreds of KB it spans several cache blocks. What arrives must be the whole encoding, byte for
// byte, at every step of one provider's growing conversation. The last body is larger than the
// HTTP layer's 2 MiB upload buffer, so it goes out in more than one turn of curl's loop.
TEST_P(ProviderIntegrationTest, LargeBodiesSentInPiecesArriveByteForByte) {
  auto provider = Make();
  Request req = BasicRequest();
  for (int step = 0; step < 3; ++step) {
    const std::string id = "call_" + std::to_string(step);
    server_.Enqueue(ScriptedReply::Calls({{id, "read_file", R"({"path":"a.cc"})"}}, "Look."));
    auto reply = provider->Complete(req, sink_, cancel_);
    ASSERT_TRUE(reply.has_value()) << reply.error().message;
    const std::string expected =
        Anthropic() ? CanonicalJson(BuildAnthropicMessagesBody(req, false))
                    : CanonicalJson(BuildChatCompletionsBody(
                          req, Kind() == "deepseek" ? DeepSeekDialect() : OpenAiCompatibleDialect(),
                          false));
    ASSERT_EQ(Bodies().size(), static_cast<size_t>(step + 1));
    EXPECT_EQ(Bodies().back(), expected) << "step " << step;
    if (step == 2) {
      EXPECT_GT(Bodies().back().size(), 2u * 1024 * 1024);
    }
    req.messages.push_back(reply->message);
    req.messages.push_back(ToolResultMessage(
        id, std::string((step == 1 ? 2200 : 150) * 1024 + step, static_cast<char>('a' + step))));
  }
}

// A session's calls go through one provider: they reuse its open connection (no TCP or TLS
// handshake per step); separate providers do not share one.
TEST_P(ProviderIntegrationTest, CallsOfOneProviderReuseItsConnection) {
  auto provider = Make();
  for (int i = 0; i < 3; ++i) {
    server_.Enqueue(ScriptedReply::Text("ok"));
    auto r = provider->Complete(BasicRequest(), sink_, cancel_);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  server_.Enqueue(ScriptedReply::Text("ok"));
  ASSERT_TRUE(Call(BasicRequest()).has_value());
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[1].remote_port, requests[0].remote_port);
  EXPECT_EQ(requests[2].remote_port, requests[0].remote_port);
  EXPECT_NE(requests[3].remote_port, requests[0].remote_port);
}

// A reused connection the server has dropped (a reset, as after a proxy's idle timeout) costs
// nothing: the next call connects again and succeeds.
TEST_P(ProviderIntegrationTest, ADroppedConnectionIsReplacedOnTheNextCall) {
  auto provider = Make();
  server_.Enqueue(ScriptedReply::Fault(ScriptedReply::Kind::kDrop));
  server_.Enqueue(ScriptedReply::Text("after the drop"));
  server_.Enqueue(ScriptedReply::Text("and again"));
  auto first = provider->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->message.content, "after the drop");
  auto second = provider->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->message.content, "and again");
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[1].remote_port, requests[0].remote_port);
  EXPECT_EQ(requests[2].remote_port, requests[1].remote_port);
}

TEST_P(ProviderIntegrationTest, RateLimitWithRetryAfterThenSuccessResendsIdenticalBytes) {
  server_.Enqueue(ScriptedReply::Error(429, "Rate Limit Reached", 1));
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.content, "ok");
  EXPECT_EQ(r->attempts, 2);
  const auto bodies = Bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], bodies[1]);
  ASSERT_EQ(sink_.retries.size(), 1u);
  EXPECT_EQ(sink_.retries[0].attempt, 1);
  // Retry-After: 1 s, capped by max_backoff_ms = 50.
  EXPECT_EQ(sink_.retries[0].delay, std::chrono::milliseconds(50));
  EXPECT_THAT(sink_.retries[0].why, HasSubstr("429"));
}

TEST_P(ProviderIntegrationTest, ServerErrorsAreRetried) {
  server_.Enqueue(ScriptedReply::Error(500, "Server Error"));
  server_.Enqueue(ScriptedReply::Error(503, "Server Overloaded"));
  server_.Enqueue(ScriptedReply::Text("finally"));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.content, "finally");
  EXPECT_EQ(r->attempts, 3);
  const auto bodies = Bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0], bodies[1]);
  EXPECT_EQ(bodies[1], bodies[2]);
  ASSERT_EQ(sink_.retries.size(), 2u);
  for (const auto& retry : sink_.retries) EXPECT_LE(retry.delay, std::chrono::milliseconds(50));
}

TEST_P(ProviderIntegrationTest, CutStreamIsRetriedThenSucceeds) {
  server_.Enqueue(ScriptedReply::Cut("The answer is"));
  server_.Enqueue(ScriptedReply::Text("The answer is 42."));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.content, "The answer is 42.");
  EXPECT_EQ(r->attempts, 2);
  EXPECT_FALSE(r->usage.input_cache_miss == 0 && r->usage.input_cache_hit == 0);
  const auto bodies = Bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], bodies[1]);
  // Documented: deltas of the cut attempt reached the sink before the retry repeated them.
  EXPECT_EQ(sink_.content, "The answer isThe answer is 42.");
  ASSERT_EQ(sink_.retries.size(), 1u);
}

TEST_P(ProviderIntegrationTest, ErrorInsideTheStreamIsRetried) {
  ScriptedReply in_stream = ScriptedReply::Error(200, "");
  in_stream.body =
      Anthropic()
          ? "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
            "\"message\":\"Overloaded\"}}\n\n"
          : "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\"}}\n\n";
  server_.Enqueue(in_stream);
  server_.Enqueue(ScriptedReply::Text("recovered"));
  auto r = Call(BasicRequest());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.content, "recovered");
  ASSERT_EQ(sink_.retries.size(), 1u);
  EXPECT_THAT(sink_.retries[0].why, HasSubstr("Overloaded"));
}

Request HistoryWithPlainAssistantTurn() {
  Request r;
  r.lane = {"deepseek-v4-pro", true, "high"};
  Message earlier;
  earlier.role = Role::kAssistant;
  earlier.content = "Earlier answer.";  // plain-text turn: reasoning is normally not replayed
  r.messages = {SystemMessage("sys"), UserMessage("q1"), earlier, UserMessage("q2")};
  return r;
}

TEST_P(ProviderIntegrationTest, StrictReasoning400IsRepairedOnce) {
  server_.SetStrictReasoningAll(true);
  server_.Enqueue(ScriptedReply::Text("repaired"));
  auto r = Call(HistoryWithPlainAssistantTurn());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.content, "repaired");
  EXPECT_EQ(r->attempts, 2);
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].status, 400);
  EXPECT_EQ(requests[1].status, 200);
  const Json& assistant = requests[1].json["messages"][Anthropic() ? 1 : 2];
  if (Anthropic()) {
    EXPECT_EQ(assistant["content"][0]["type"], "thinking");
  } else {
    EXPECT_EQ(assistant["reasoning_content"], "");
  }
  EXPECT_TRUE(sink_.retries.empty());  // a repair is not a retry
}

TEST_P(ProviderIntegrationTest, SecondReasoning400IsFatal) {
  server_.Enqueue(ScriptedReply::Error(400, kV4ReasoningError));
  server_.Enqueue(ScriptedReply::Error(400, kV4ReasoningError));
  server_.Enqueue(ScriptedReply::Text("never served"));
  auto r = Call(HistoryWithPlainAssistantTurn());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kInvalidRequest);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_THAT(r.error().message, HasSubstr("reasoning_content"));
  const auto bodies = Bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_NE(bodies[0], bodies[1]);  // the second was the repaired body
  EXPECT_EQ(server_.Remaining(), 1u);
}

TEST_P(ProviderIntegrationTest, Unauthorized401IsFatalAndNeverShowsTheKey) {
  server_.SetApiKey("the-right-key");
  server_.Enqueue(ScriptedReply::Text("unreachable"));
  ProviderOptions o = Options();
  o.api_key = "sk-very-secret-key-123456";
  auto r = Make(o)->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kAuth);
  EXPECT_EQ(r.error().http_status, 401);
  EXPECT_THAT(r.error().message, HasSubstr("HTTP 401"));
  EXPECT_THAT(r.error().message, HasSubstr(o.api_key_env));
  EXPECT_THAT(r.error().message, Not(HasSubstr(o.api_key)));
  EXPECT_EQ(server_.Requests().size(), 1u);  // fatal: no retry
  EXPECT_TRUE(sink_.retries.empty());
}

TEST_P(ProviderIntegrationTest, BillingAndInvalidParametersAreFatal) {
  server_.Enqueue(ScriptedReply::Error(402, "Insufficient Balance"));
  auto billing = Call(BasicRequest());
  ASSERT_FALSE(billing.has_value());
  EXPECT_EQ(billing.error().kind, ProviderErrorKind::kBilling);
  EXPECT_THAT(billing.error().message, HasSubstr("https://platform.deepseek.com"));

  server_.Enqueue(ScriptedReply::Error(422, "max_tokens must be at most 393216"));
  auto invalid = Call(BasicRequest());
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().kind, ProviderErrorKind::kInvalidRequest);
  EXPECT_THAT(invalid.error().message, HasSubstr("max_tokens must be at most 393216"));
  EXPECT_EQ(server_.Requests().size(), 2u);
}

TEST_P(ProviderIntegrationTest, ExhaustedRetriesReportKindAndAttempts) {
  for (int i = 0; i < 4; ++i) server_.Enqueue(ScriptedReply::Error(503, "Server Overloaded"));
  auto server_error = Call(BasicRequest());
  ASSERT_FALSE(server_error.has_value());
  EXPECT_EQ(server_error.error().kind, ProviderErrorKind::kServer);
  EXPECT_THAT(server_error.error().message, HasSubstr("4 attempts"));
  EXPECT_THAT(server_error.error().message, HasSubstr("Server Overloaded"));

  for (int i = 0; i < 4; ++i) server_.Enqueue(ScriptedReply::Error(429, "Rate Limit Reached"));
  auto limited = Call(BasicRequest());
  ASSERT_FALSE(limited.has_value());
  EXPECT_EQ(limited.error().kind, ProviderErrorKind::kRateLimited);
  EXPECT_EQ(server_.Requests().size(), 8u);
}

// `dsagent serve` whose GPU is lost answers 503 engine_unavailable (engine/server/chat_server.cc):
// no retry can help, so the first answer is the error, kEngineLost with the server's reason.
TEST_P(ProviderIntegrationTest, AServerWhoseEngineIsLostIsNotRetried) {
  // The code in each API's envelope as `dsagent serve` sends it, without the x-should-retry
  // header: the code alone decides.
  for (int i = 0; i < 4; ++i) server_.Enqueue(ScriptedReply::EngineLost(Anthropic()));
  auto failed = Call(BasicRequest());
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().kind, ProviderErrorKind::kEngineLost);
  EXPECT_EQ(failed.error().http_status, 503);
  EXPECT_THAT(failed.error().message, HasSubstr("can run nothing more"));
  EXPECT_THAT(failed.error().message, HasSubstr("cuda:0 is lost to a device fault"));
  EXPECT_EQ(server_.Requests().size(), 1u);
}

// `x-should-retry: false` (the OpenAI and Anthropic SDKs' header): a 503 that would be retried
// is the answer at once.
TEST_P(ProviderIntegrationTest, AnErrorTheServerSaysNotToRetryIsNotRetried) {
  ScriptedReply overloaded = ScriptedReply::Error(503, "Server Overloaded");
  overloaded.no_retry = true;
  for (int i = 0; i < 4; ++i) server_.Enqueue(overloaded);
  auto failed = Call(BasicRequest());
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().kind, ProviderErrorKind::kServer);
  EXPECT_THAT(failed.error().message, HasSubstr("Server Overloaded"));
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_P(ProviderIntegrationTest, DeveloperRoleIsNeverSent) {
  server_.Enqueue(ScriptedReply::Text("fine"));
  Request r = BasicRequest();
  r.messages.push_back(SystemMessage("A late reminder"));  // a system message after the start
  auto resp = Call(r);
  ASSERT_TRUE(resp.has_value()) << resp.error().message;
  const auto req = server_.Requests().at(0);
  EXPECT_EQ(req.status, 200);
  EXPECT_THAT(req.body, Not(HasSubstr("developer")));
  if (!Anthropic()) {
    EXPECT_EQ(req.json["messages"][0]["role"], "system");
  }
}

TEST_P(ProviderIntegrationTest, ServedModelMismatchIsDetected) {
  ScriptedReply reply = ScriptedReply::Text("I am flash");
  reply.model = "deepseek-v4-flash";
  server_.Enqueue(reply);
  auto r = Call(BasicRequest());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kModelMismatch);
  EXPECT_THAT(r.error().message, HasSubstr("deepseek-v4-pro"));
  EXPECT_THAT(r.error().message, HasSubstr("deepseek-v4-flash"));
  EXPECT_EQ(sink_.content, "");
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_P(ProviderIntegrationTest, MismatchIgnoredWhenCheckIsOff) {
  ScriptedReply reply = ScriptedReply::Text("alias");
  reply.model = "local-model.gguf";
  server_.Enqueue(reply);
  ProviderOptions o = Options();
  o.check_served_model = false;
  auto r = Make(o)->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->served_model, "local-model.gguf");
}

TEST_P(ProviderIntegrationTest, CancelWhileBlockedReturnsPromptly) {
  server_.Enqueue(ScriptedReply::Block(ScriptedReply::Text("too late")));
  // No timeout can end the call first: only the cancel can (a provider that ignored it would hang
  // until ctest's per-test timeout).
  ProviderOptions o = Options();
  o.idle_timeout_s = 3600;
  auto provider = Make(o);
  std::optional<Expected<Response, ProviderError>> result;
  std::thread caller([&] { result.emplace(provider->Complete(BasicRequest(), sink_, cancel_)); });
  ASSERT_TRUE(server_.WaitForRequests(1, std::chrono::seconds(5)));
  cancel_.Cancel();
  caller.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error().kind, ProviderErrorKind::kCancelled);
  // The call returned while the server still held the request: nothing was answered or streamed.
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].status, 0);
  EXPECT_EQ(sink_.content, "");
}

// The calls of one provider reuse its curl handles (and their upload buffer): a call after a
// cancelled one, and bodies alternating between large (2 MiB upload buffer) and small (the
// default), each arrive byte for byte.
TEST_P(ProviderIntegrationTest, CallsAfterACancelledOneReuseItsHandlesAndSendTheirOwnBytes) {
  server_.Enqueue(ScriptedReply::Block(ScriptedReply::Text("too late")));
  ProviderOptions o = Options();
  o.idle_timeout_s = 3600;
  auto provider = Make(o);
  std::thread caller([&] { EXPECT_FALSE(provider->Complete(BasicRequest(), sink_, cancel_)); });
  ASSERT_TRUE(server_.WaitForRequests(1, std::chrono::seconds(5)));
  cancel_.Cancel();
  caller.join();

  const auto expected = [&](const Request& r) {
    return Anthropic()
               ? CanonicalJson(BuildAnthropicMessagesBody(r, false))
               : CanonicalJson(BuildChatCompletionsBody(
                     r, Kind() == "deepseek" ? DeepSeekDialect() : OpenAiCompatibleDialect(),
                     false));
  };
  CancelToken live;
  for (const size_t bytes : {size_t{300 * 1024}, size_t{10}, size_t{2 * 1024 * 1024}, size_t{0}}) {
    Request req = BasicRequest();
    req.messages.push_back(UserMessage(std::string(bytes, 'q') + "?"));
    server_.Enqueue(ScriptedReply::Text("ok " + std::to_string(bytes)));
    auto reply = provider->Complete(req, sink_, live);
    ASSERT_TRUE(reply.has_value()) << bytes << ": " << reply.error().message;
    EXPECT_EQ(reply->message.content, "ok " + std::to_string(bytes));
    EXPECT_EQ(Bodies().back(), expected(req)) << bytes;
  }
}

TEST_P(ProviderIntegrationTest, CancelDuringRetryWaitStopsTheWait) {
  server_.Enqueue(ScriptedReply::Error(429, "Rate Limit Reached", 3600));
  server_.Enqueue(ScriptedReply::Text("unreachable"));
  ProviderOptions o = Options();
  o.retry.max_backoff_ms = 3600 * 1000;  // honour the server's hour: only the cancel ends the wait
  sink_.on_retry = [this] { cancel_.Cancel(); };
  auto r = Make(o)->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kCancelled);
  ASSERT_EQ(sink_.retries.size(), 1u);
  EXPECT_EQ(sink_.retries[0].delay, std::chrono::hours(1));
  // The wait ended without a second attempt: the scripted reply for it was never taken.
  EXPECT_EQ(server_.Requests().size(), 1u);
  EXPECT_EQ(server_.Remaining(), 1u);
}

TEST_P(ProviderIntegrationTest, UnreachableServerIsATransportError) {
  ProviderOptions o = Options();
  {
    DeepSeekTestServer closed;  // a port that was free a moment ago and is closed now
    o.base_url = closed.BaseUrl();
  }
  o.retry.max_attempts = 2;
  auto r = Make(o)->Complete(BasicRequest(), sink_, cancel_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kTransport);
  EXPECT_THAT(r.error().message, HasSubstr("2 attempts"));
  EXPECT_EQ(sink_.retries.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ProviderIntegrationTest,
                         ::testing::Values("deepseek", "deepseek-anthropic", "openai-compatible"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(ProviderStallTest, SilentStreamPastTheIdleTimeoutCountsAsCut) {
  DeepSeekTestServer server;
  server.Enqueue(ScriptedReply::Block(ScriptedReply::Text("never")));  // sends no byte at all
  ProviderOptions o;
  o.kind = "deepseek";
  o.base_url = server.BaseUrl();
  o.api_key = "test-key";
  o.idle_timeout_s = 1;
  o.retry.max_attempts = 1;
  RecordingSink sink;
  auto r = MakeProvider(o).value()->Complete(BasicRequest(), sink, CancelToken());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kTransport);
}

// A reply larger than max_response_bytes is abandoned with a protocol error rather than read to
// the end (the API fault campaign's oversized replies; scripts/campaign-api-faults.sh).
TEST(ProviderOversizeTest, AReplyPastTheSizeCapIsAbandoned) {
  DeepSeekTestServer server;
  ScriptedReply huge = ScriptedReply::Fault(ScriptedReply::Kind::kOversized);
  huge.oversized_bytes = 1 << 20;
  server.Enqueue(huge);
  server.Enqueue(ScriptedReply::Text("small"));
  ProviderOptions o;
  o.kind = "deepseek";
  o.base_url = server.BaseUrl();
  o.api_key = "test-key";
  o.retry.max_attempts = 1;
  o.max_response_bytes = 256 << 10;
  RecordingSink sink;
  auto provider = MakeProvider(o).value();
  auto r = provider->Complete(BasicRequest(), sink, CancelToken());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ProviderErrorKind::kProtocol);
  EXPECT_THAT(r.error().message, HasSubstr("grew past 262144 bytes"));
  auto small = provider->Complete(BasicRequest(), sink, CancelToken());  // under the cap: fine
  ASSERT_TRUE(small.has_value()) << small.error().message;
  EXPECT_EQ(small->message.content, "small");
}

TEST(ProviderConfigTest, MissingKeyIsAConfigErrorNamingTheVariable) {
  ProviderOptions o;
  o.kind = "deepseek";
  o.base_url = "https://api.deepseek.com";
  o.api_key_env = "DEEPSEEK_API_KEY";
  auto p = MakeProvider(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().kind, ProviderErrorKind::kConfig);
  EXPECT_THAT(p.error().message,
              HasSubstr("DEEPSEEK_API_KEY is not set: export it or set providers.deepseek.api_key "
                        "in config"));
}

}  // namespace
}  // namespace dsagent
