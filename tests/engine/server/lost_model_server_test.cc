// The server over a model that is lost mid-run (a GPU's device fault: SequenceModel::Lost), on
// the tiny checkpoint behind a stand-in that fails as a lost device model does: the request that
// meets the fault and every one after it get 503 engine_unavailable with the model's reason,
// without a forward pass, /health turns 503, the log says so once, and the front end's wait ends
// (serve exits, for a supervisor to restart it) once the requests running at the loss have failed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "engine/server/chat_server.h"
#include "tests/engine/generate/tiny_model.h"
#include "tests/engine/server/losable_model.h"
#include "tests/support/hang_guard.h"

namespace dsagent::engine::server {
namespace {
using testing::kLostReason;
using testing::LosableModel;
using testing::TinySequenceModel;
using testing::TinyTokenizer;

class LostModelServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::make_unique<LosableModel>(TinySequenceModel());
    completer_ = std::make_unique<ChatCompleter>(*model_, TinyTokenizer(), nullptr);
    server_ = std::make_unique<ChatServer>(*completer_, ServerOptions{.host = "127.0.0.1",
                                                                      .port = 0,
                                                                      .model_id = "tiny",
                                                                      .context_limit = 4096,
                                                                      .default_max_tokens = 4});
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client_->set_read_timeout(dsagent::testing::HangGuardSeconds(60), 0);
  }
  httplib::Result Post(const std::string& path, const std::string& body) {
    return client_->Post(path, body, "application/json");
  }

  std::unique_ptr<LosableModel> model_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<ChatServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

constexpr const char* kLostChat =
    R"({"model": "tiny", "max_tokens": 3, "messages": [{"role": "user", "content": "Hello!"}]})";

TEST_F(LostModelServerTest, ALostModelAnswers503WithItsReasonAndFailsTheHealthCheck) {
  auto healthy = client_->Get("/health");
  ASSERT_TRUE(healthy);
  EXPECT_EQ(healthy->status, 200);
  auto ok = Post("/v1/chat/completions", kLostChat);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;

  // The request that meets the fault (its log lines, written before it is answered, captured).
  ::testing::internal::CaptureStderr();
  model_->LoseAtNextForward();
  auto failed = Post("/v1/chat/completions", kLostChat);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503) << failed->body;
  const OrderedJson error = OrderedJson::parse(failed->body)["error"];
  EXPECT_EQ(error["code"], "engine_unavailable") << failed->body;
  EXPECT_EQ(error["message"], kLostReason) << failed->body;
  // The OpenAI and Anthropic SDKs retry a 503 unless this header says not to.
  EXPECT_EQ(failed->get_header_value("x-should-retry"), "false");

  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  const OrderedJson h = OrderedJson::parse(health->body);
  EXPECT_EQ(h["status"], "error");
  EXPECT_EQ(h["error"], kLostReason);

  // Every request after it, streamed or not, in either wire format: 503 at once, no forward pass.
  const int forwards = model_->forwards();
  auto streamed = Post("/v1/chat/completions",
                       R"({"model": "tiny", "stream": true, "max_tokens": 3,
                           "messages": [{"role": "user", "content": "Again"}]})");
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 503) << streamed->body;
  EXPECT_NE(streamed->body.find("is lost to a device fault"), std::string::npos) << streamed->body;
  auto messages = Post("/v1/messages", R"({"model": "tiny", "max_tokens": 3,
                                           "messages": [{"role": "user", "content": "Hi"}]})");
  ASSERT_TRUE(messages);
  EXPECT_EQ(messages->status, 503) << messages->body;
  const OrderedJson messages_error = OrderedJson::parse(messages->body)["error"];
  EXPECT_EQ(messages_error["message"], kLostReason) << messages->body;
  // Not overloaded_error (a 503's type, which invites a retry); the code rides along.
  EXPECT_EQ(messages_error["type"], "api_error") << messages->body;
  EXPECT_EQ(messages_error["code"], "engine_unavailable") << messages->body;
  EXPECT_EQ(messages->get_header_value("x-should-retry"), "false");
  EXPECT_EQ(model_->forwards(), forwards) << "a request ran on a lost model";

  // The operator's log: the failed request, and the loss once however many requests meet it.
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("dsagent serve: chat: failed: "), std::string::npos) << log;
  const std::string told = std::string("dsagent serve: ") + kLostReason +
                           "; every request gets 503 and /health too until a restart\n";
  const size_t first = log.find(told);
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find(told, first + 1), std::string::npos) << "the loss logged twice:\n" << log;
}

// `dsagent serve`'s wait (serve_command.cc): it exits once the model is lost, so that a
// supervisor restarts it, but not before the requests then running have their answers.
TEST_F(LostModelServerTest, TheFrontEndsWaitEndsOnceTheRequestsRunningAtTheLossHaveFailed) {
  CancelToken cancelled;
  cancelled.Cancel();
  EXPECT_EQ(server_->WaitForCancelOrLoss(cancelled), "") << "a healthy model is no loss";

  // A request held inside its first forward pass while the model is lost.
  std::promise<void> entered, release;
  std::shared_future<void> released_future = release.get_future().share();
  std::atomic<int> passes{0};
  model_->OnForward([&] {
    if (passes++ == 0) {
      entered.set_value();
      released_future.wait();
    }
  });
  int status = 0;
  std::string body;
  std::thread client([&] {
    if (auto answer = Post("/v1/chat/completions", kLostChat)) {
      status = answer->status;
      body = answer->body;
    }
  });
  entered.get_future().wait();

  CancelToken never;
  std::future<std::string> reason = std::async(
      std::launch::async, [&] { return server_->WaitForCancelOrLoss(never, /*drain_s=*/600); });
  model_->LoseNow();
  // The wait polls every 50 ms; one that ended at the loss would have ended within this bound
  // (it cannot end early while the request is held, so the bound makes no run fail by timing).
  EXPECT_EQ(reason.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
      << "the wait ended with a request still running";
  release.set_value();
  client.join();
  EXPECT_EQ(reason.get(), kLostReason);
  EXPECT_EQ(status, 503) << body;
}

}  // namespace
}  // namespace dsagent::engine::server
