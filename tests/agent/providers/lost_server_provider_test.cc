// The HTTP providers against a real `dsagent serve` (ChatServer over loopback, the tiny model)
// whose GPU is lost (a stand-in model lost at a chosen forward pass): whether the loss comes
// before the request (503) or in the middle of a streamed answer (an error event after 200), in
// the OpenAI or the Anthropic wire format, the agent gets kEngineLost from the first request and
// sends no second one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "agent/providers/provider_factory.h"
#include "engine/server/chat_server.h"
#include "tests/agent/providers/recording_sink.h"
#include "tests/agent/providers/test_printers.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/losable_model.h"

namespace dsagent {
namespace {

using engine::testing::kLostReason;
using engine::testing::LosableModel;
using ::testing::HasSubstr;

class LostServerProviderTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_ = std::make_unique<LosableModel>(engine::testing::TinySequenceModel());
    completer_ =
        std::make_unique<engine::ChatCompleter>(*model_, engine::testing::TinyTokenizer(), nullptr);
    server_ = std::make_unique<engine::server::ChatServer>(
        *completer_, engine::server::ServerOptions{.host = "127.0.0.1",
                                                   .port = 0,
                                                   .model_id = "tiny",
                                                   .context_limit = 4096,
                                                   .default_max_tokens = 8});
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    port_ = *port;
  }

  // A provider of this test's kind for the server, retrying as a session does (4 attempts).
  Expected<Response, ProviderError> Call() {
    ProviderOptions o;
    o.kind = GetParam();
    o.base_url = "http://127.0.0.1:" + std::to_string(port_) +
                 (GetParam() == "openai-compatible" ? "/v1" : "");
    o.api_key = "unused";
    o.retry.max_attempts = 4;
    o.retry.initial_backoff_ms = 5;
    o.retry.max_backoff_ms = 50;
    o.check_served_model = true;
    auto provider = MakeProvider(o);
    if (!provider) return MakeUnexpected(provider.error());
    Request r;
    r.lane = {"tiny", false, ""};
    r.max_output_tokens = 8;
    r.messages = {UserMessage("Hello!")};
    return (*provider)->Complete(r, sink_, cancel_);
  }

  std::unique_ptr<LosableModel> model_;
  std::unique_ptr<engine::ChatCompleter> completer_;
  std::unique_ptr<engine::server::ChatServer> server_;
  int port_ = 0;
  RecordingSink sink_;
  CancelToken cancel_;
};

TEST_P(LostServerProviderTest, AHealthyServerAnswers) {
  auto r = Call();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->attempts, 1);
}

TEST_P(LostServerProviderTest, ALossBeforeTheRequestIsTheAnswerAtOnce) {
  model_->LoseNow();
  auto failed = Call();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().kind, ProviderErrorKind::kEngineLost) << failed.error().message;
  EXPECT_EQ(failed.error().http_status, 503);
  EXPECT_THAT(failed.error().message, HasSubstr("HTTP 503 engine_unavailable"));
  EXPECT_THAT(failed.error().message, HasSubstr(kLostReason));
  EXPECT_EQ(server_->stats().requests, 1) << "the provider retried a lost server";
  EXPECT_TRUE(sink_.retries.empty());
}

TEST_P(LostServerProviderTest, ALossInTheMiddleOfAStreamedAnswerIsTheAnswerAtOnce) {
  // The prompt's prefill runs and the first token is streamed; the first decode step meets the
  // fault, after the 200 and the stream's first events.
  model_->LoseAtForward(2);
  auto failed = Call();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().kind, ProviderErrorKind::kEngineLost) << failed.error().message;
  EXPECT_EQ(failed.error().http_status, 200);
  EXPECT_THAT(failed.error().message, HasSubstr("engine_unavailable inside the response stream"));
  EXPECT_THAT(failed.error().message, HasSubstr(kLostReason));
  EXPECT_EQ(model_->forwards(), 2);
  EXPECT_EQ(server_->stats().requests, 1) << "the provider retried a lost server";
  EXPECT_TRUE(sink_.retries.empty());
}

INSTANTIATE_TEST_SUITE_P(BothWireFormats, LostServerProviderTest,
                         ::testing::Values("openai-compatible", "deepseek-anthropic"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace dsagent
