// End to end with a real coding client from npm: Claude Code (`claude -p`, installed by
// scripts/setup-clients.sh into .deps/clients) against `dsagent serve` on the tiny checkpoint with
// its tokenizer, fully offline (a local ANTHROPIC_BASE_URL, a dummy key, no nonessential traffic).
// The model's weights are random, so the text is garbage and a small --max-tokens-limit keeps each
// reply short; the assertions are about the protocol: the client's request is accepted, the reply
// streams back as Anthropic SSE events the client understands, and the client's next request
// (its follow-up in the same conversation) is served from the prefix cache, as the client itself
// reports.
// Skips, saying how to install it, when the client is not there; fails when it is and breaks.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "tests/agent/cli/clients_e2e_support.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/agent/cli/served_tiny_model.h"
#include "tests/support/command_output.h"

namespace dsagent::testing {
namespace {
namespace fs = std::filesystem;

const fs::path kClaude = InstalledClient("claude");

class ClaudeCodeE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kClaude)) {
      GTEST_SKIP() << "Claude Code is not installed in .deps/clients; scripts/setup-clients.sh "
                      "installs it from npm";
    }
    box_.WriteRepoFile("README.md", "hello\n");
    box_.GitInitAndCommit();
    // Claude Code asks for max_tokens 32000; the limit keeps the random model's replies short.
    served_ = std::make_unique<ServedTinyModel>(
        box_, std::vector<std::string>{"--max-tokens-limit", "8"});
    ASSERT_GT(served_->Port(), 0) << "dsagent serve did not start";
  }
  void TearDown() override {
    if (!served_ || !served_->running()) return;
    const ProcessResult r = served_->Stop();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  // `claude -p PROMPT` with stream-json output (partial messages included: the SSE events as the
  // client parsed them), in the sandbox's repo with a clean environment.
  CommandResult Claude(const std::string& prompt) {
    const fs::path scratch = box_.root() / ("claude-" + std::to_string(++runs_));
    fs::create_directories(scratch);
    std::map<std::string, std::string> env = box_.Env({
        {"ANTHROPIC_BASE_URL", served_->BaseUrl()},
        {"ANTHROPIC_API_KEY", "dummy"},
        {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"},
        {"DISABLE_AUTOUPDATER", "1"},
    });
    return RunCommand(
        ClientCommandLine(box_.repo(), env, kClaude,
                          {"-p", prompt, "--model", "tiny", "--max-turns", "1", "--output-format",
                           "stream-json", "--verbose", "--include-partial-messages"}),
        scratch);
  }

  Sandbox box_;
  std::unique_ptr<ServedTinyModel> served_;
  int runs_ = 0;
};

// One model request as the client saw it: the usage of its message_start and the event types.
struct SeenRequest {
  Json start_usage;
  std::vector<std::string> events;
};

std::vector<SeenRequest> RequestsSeen(const std::vector<Json>& lines) {
  std::vector<SeenRequest> requests;
  for (const Json& l : lines) {
    if (l.value("type", "") != "stream_event" || !l.contains("event")) continue;
    const Json& e = l["event"];
    const std::string type = e.value("type", "");
    if (type == "message_start") {
      requests.push_back({e["message"].value("usage", Json::object()), {}});
    }
    if (!requests.empty()) requests.back().events.push_back(type);
  }
  return requests;
}

TEST_F(ClaudeCodeE2ETest, StreamsRepliesAndServesTheNextRequestFromThePrefixCache) {
  const CommandResult run = Claude("Say hi.");
  const std::vector<Json> lines = JsonLines(run.out);
  const auto result = std::find_if(lines.begin(), lines.end(),
                                   [](const Json& l) { return l.value("type", "") == "result"; });
  ASSERT_NE(result, lines.end()) << run.exit_code << "\n" << run.out << "\n" << run.err;
  // No HTTP error reached the client. The random model's replies never end on their own (it
  // never samples EOS), so each stops at max_tokens: the client asks to continue a few times,
  // then reports that as its own error, and exits 1.
  EXPECT_TRUE((*result)["api_error_status"].is_null()) << result->dump();
  if (run.exit_code != 0) {
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_EQ(result->value("api_error", ""), "max_output_tokens") << result->dump();
  }

  // Every request's reply came back as Anthropic SSE events, in order, and the client read them.
  const std::vector<SeenRequest> requests = RequestsSeen(lines);
  ASSERT_GE(requests.size(), 2u) << run.out;
  for (const SeenRequest& r : requests) {
    EXPECT_EQ(r.events.front(), "message_start");
    EXPECT_EQ(r.events.back(), "message_stop") << ::testing::PrintToString(r.events);
    EXPECT_NE(std::find(r.events.begin(), r.events.end(), "content_block_delta"), r.events.end())
        << ::testing::PrintToString(r.events);
    EXPECT_NE(std::find(r.events.begin(), r.events.end(), "message_delta"), r.events.end());
  }
  // The first request carries Claude Code's own system prompt and tools: thousands of tokens,
  // all computed. The second (the client's follow-up after the max_tokens cut) rewrites the first
  // user turn ("Say hi." plus a reminder of its own), so it shares the prompt up to the start of
  // the last user turn, a cache point serve keeps: most of it comes from the prefix cache.
  const Json& first = requests[0].start_usage;
  const Json& second = requests[1].start_usage;
  const int64_t first_prompt = first.value("input_tokens", int64_t{0});
  EXPECT_GT(first_prompt, 5000) << first.dump();
  EXPECT_EQ(first.value("cache_read_input_tokens", int64_t{-1}), 0) << first.dump();
  const int64_t cached = second.value("cache_read_input_tokens", int64_t{0});
  EXPECT_GT(cached, first_prompt / 2) << second.dump();
  EXPECT_LT(second.value("input_tokens", int64_t{0}), first_prompt / 2) << second.dump();

  // serve's log agrees, request by request.
  const ProcessResult stopped = served_->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  PrintServedRequests("claude", ServedRequests(stopped.err));
  EXPECT_NE(stopped.err.find("(cache hit 0)"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("(cache hit " + std::to_string(cached) + ")"), std::string::npos)
      << stopped.err;
}

}  // namespace
}  // namespace dsagent::testing
