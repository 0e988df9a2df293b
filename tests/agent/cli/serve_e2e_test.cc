// End to end: `dsagent serve` on the tiny checkpoint (random weights, so the text is garbage) and
// the harness's openai-compatible provider driving it through a full `dsagent run`. Greedy
// sampling and tiny completions keep the runs deterministic and short; the assertions are about
// the protocol: usage fields, cache hits on the follow-up call, clean termination.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <future>
#include <thread>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/agent/cli/served_tiny_model.h"

namespace dsagent::testing {
namespace {
namespace fs = std::filesystem;

class ServeE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    box_.WriteRepoFile("README.md", "hello\n");
    box_.GitInitAndCommit();
    served_ = std::make_unique<ServedTinyModel>(box_, std::vector<std::string>{});
    port_ = served_->Port();
    ASSERT_GT(port_, 0) << "dsagent serve did not start";
  }
  void TearDown() override {
    if (!served_->running()) return;
    const ProcessResult r = served_->Stop();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  ProcessResult Run(std::vector<std::string> args) {
    return RunDsagent(args,
                      box_.Env({{"DSAGENT_PROVIDER", "openai-compatible"},
                                {"DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL",
                                 "http://127.0.0.1:" + std::to_string(port_) + "/v1"},
                                {"OPENAI_API_KEY", "unused"},
                                {"DSAGENT_MODEL", "tiny"},
                                {"DSAGENT_MAX_OUTPUT_TOKENS", "6"},
                                {"DSAGENT_REPO_MAP__TOKENS", "0"}}),
                      box_.repo());
  }

  Sandbox box_;
  std::unique_ptr<ServedTinyModel> served_;
  int port_ = 0;
};

TEST_F(ServeE2ETest, RunAgainstServedTinyModelTerminatesWithCacheHitsOnTheSecondCall) {
  const ProcessResult first = Run({"run", "--json", "--max-steps", "1", "Say hi."});
  const Json a = Json::parse(first.out, nullptr, false);
  ASSERT_FALSE(a.is_discarded()) << first.out << "\n" << first.err;
  EXPECT_NE(a["status"], "error") << first.out << "\n" << first.err;
  EXPECT_GT(a["tokens"]["input_cache_hit"].get<int64_t>() +
                a["tokens"]["input_cache_miss"].get<int64_t>(),
            100)
      << a.dump();
  EXPECT_EQ(a["steps"], 1);

  const std::string session = a["session_id"];
  const ProcessResult second =
      Run({"run", "--json", "--max-steps", "1", "--resume", session, "Again."});
  const Json b = Json::parse(second.out, nullptr, false);
  ASSERT_FALSE(b.is_discarded()) << second.out << "\n" << second.err;
  EXPECT_NE(b["status"], "error") << second.out << "\n" << second.err;
  // The resumed conversation's prompt starts with the first one: served from the prefix cache.
  EXPECT_GT(b["tokens"]["input_cache_hit"].get<int64_t>(), 100) << b.dump();
}

TEST_F(ServeE2ETest, SigtermCancelsTheRequestInFlightAndExitsCleanly) {
  // ~30000 tokens: minutes on the tiny model unless SIGTERM stops it.
  auto in_flight = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(600, 0);
    auto r = c.Post("/v1/chat/completions",
                    R"({"max_tokens": 30000, "messages": [{"role": "user", "content": "hi"}]})",
                    "application/json");
    return r ? r->status : -1;
  });
  httplib::Client health("127.0.0.1", port_);
  bool running = false;
  for (int i = 0; i < 6000 && !running; ++i) {
    auto h = health.Get("/health");
    running = h && Json::parse(h->body, nullptr, false).value("running", 0) == 1;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(running) << "the request never started";
  const ProcessResult r = served_->Stop();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(in_flight.get(), 503);  // cancelled, not run to the end (200)
  EXPECT_NE(r.err.find("cancelled"), std::string::npos) << r.err;
}

// `--parallel 3`: three requests generating at once decode as batched forward passes, and each
// gets exactly the reply it gets alone (greedy, fixed length).
TEST(ServeBatchE2ETest, ConcurrentRequestsGetTheRepliesTheyGetAlone) {
  Sandbox box;
  ServedTinyModel served(box, {"--parallel", "3"});
  const int port = served.Port();
  ASSERT_GT(port, 0) << "dsagent serve did not start";
  const auto ask = [port](int i) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(600, 0);
    const Json body = {
        {"max_tokens", 24},
        {"ignore_eos", true},
        {"temperature", 0},
        {"messages", {{{"role", "user"}, {"content", "Question number " + std::to_string(i)}}}}};
    auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
    if (!r || r->status != 200) return std::string("HTTP error");
    const Json reply = Json::parse(r->body, nullptr, false);
    return reply.is_discarded() ? std::string("bad JSON") : reply["choices"][0]["message"].dump();
  };
  std::vector<std::future<std::string>> together;
  for (int i = 0; i < 3; ++i) together.push_back(std::async(std::launch::async, ask, i));
  std::vector<std::string> batched;
  for (auto& f : together) batched.push_back(f.get());
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(batched[i], "HTTP error");
    EXPECT_EQ(batched[i], ask(i)) << "request " << i;
  }
  const ProcessResult r = served.Stop();
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace dsagent::testing
