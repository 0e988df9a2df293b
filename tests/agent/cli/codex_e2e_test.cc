// End to end with a real coding client from npm: Codex CLI (`codex exec`, installed by
// scripts/setup-clients.sh into .deps/clients) against `dsagent serve`'s OpenAI Responses API on
// the tiny checkpoint with its tokenizer, offline: a custom model provider (wire_api "responses")
// in a CODEX_HOME of the test's own, a dummy key, a read-only sandbox and no approvals, so it runs
// headless. Codex sends no max_output_tokens, so serve's --max-tokens bounds each reply; the random
// weights never end one, so every reply stops there and comes back `incomplete`, which Codex
// reports as the turn's error (not an HTTP error). The provider is told not to retry, so a stream
// the client could not read fails the test instead of being repeated quietly.
// Checks: each request's reply streams back as Responses events the client reads (its reasoning
// item and the usage of response.incomplete land in the session's rollout), and the second request
// (`codex exec resume --last`, the next turn of the same thread) is served from the prefix cache,
// by the client's own cached_input_tokens and serve's log. Skips, saying how to install it, when
// the client is not there; fails when it is and breaks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

const fs::path kCodex = InstalledClient("codex");
const char kIncomplete[] = "Incomplete response returned, reason: max_output_tokens";

class CodexE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kCodex)) {
      GTEST_SKIP() << "Codex CLI is not installed in .deps/clients; scripts/setup-clients.sh "
                      "installs it from npm";
    }
    box_.WriteRepoFile("README.md", "hello\n");
    box_.GitInitAndCommit();
    served_ =
        std::make_unique<ServedTinyModel>(box_, std::vector<std::string>{"--max-tokens", "8"});
    ASSERT_GT(served_->Port(), 0) << "dsagent serve did not start";
    fs::create_directories(codex_home());
    std::ofstream(codex_home() / "config.toml") << "model = \"tiny\"\n"
                                                   "model_provider = \"dsagent\"\n"
                                                   "[model_providers.dsagent]\n"
                                                   "name = \"dsagent serve\"\n"
                                                   "base_url = \""
                                                << served_->BaseUrl()
                                                << "/v1\"\n"
                                                   "env_key = \"DSAGENT_SERVE_API_KEY\"\n"
                                                   "wire_api = \"responses\"\n"
                                                   "request_max_retries = 0\n"
                                                   "stream_max_retries = 0\n";
  }
  void TearDown() override {
    if (!served_ || !served_->running()) return;
    const ProcessResult r = served_->Stop();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  fs::path codex_home() const { return box_.root() / "codex-home"; }

  // `codex exec --json ... ARGS` in the sandbox's repo with a clean environment.
  CommandResult Codex(const std::vector<std::string>& args) {
    const fs::path scratch = box_.root() / ("codex-" + std::to_string(++runs_));
    fs::create_directories(scratch);
    const std::map<std::string, std::string> env = box_.Env({
        {"CODEX_HOME", codex_home().string()},
        {"DSAGENT_SERVE_API_KEY", "dummy"},
    });
    std::vector<std::string> argv = {"exec", "--json", "--skip-git-repo-check", "--sandbox",
                                     "read-only"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(ClientCommandLine(box_.repo(), env, kCodex, argv), scratch);
  }

  // The thread's rollout (Codex's own record of the session), one JSON object per line.
  std::vector<Json> Rollout() const {
    std::vector<Json> lines;
    for (const auto& e : fs::recursive_directory_iterator(codex_home() / "sessions")) {
      if (e.path().filename().string().rfind("rollout-", 0) != 0) continue;
      EXPECT_TRUE(lines.empty()) << "more than one rollout: " << e.path();
      lines = JsonLines(ReadFile(e.path()));
    }
    return lines;
  }

  Sandbox box_;
  std::unique_ptr<ServedTinyModel> served_;
  int runs_ = 0;
};

// A `codex exec --json` run whose turn ended the only way the random model's can: the reply was
// read to its end and stopped at max_output_tokens. Any other error event (an HTTP status, a
// stream that broke off) fails.
void ExpectTurnStoppedAtMaxTokens(const CommandResult& run) {
  const std::vector<Json> events = JsonLines(run.out);
  ASSERT_FALSE(events.empty()) << run.exit_code << "\n" << run.err;
  EXPECT_EQ(events.front().value("type", ""), "thread.started") << run.out;
  EXPECT_EQ(events.back().value("type", ""), "turn.failed") << run.out;
  EXPECT_EQ(events.back()["error"].value("message", ""), kIncomplete) << run.out;
  for (const Json& e : events) {
    if (e.value("type", "") == "error") {
      EXPECT_EQ(e.value("message", ""), kIncomplete) << run.out;
    }
  }
  EXPECT_EQ(run.exit_code, 1) << run.err;
}

TEST_F(CodexE2ETest, StreamsRepliesAndServesTheNextTurnFromThePrefixCache) {
  const CommandResult first = Codex({"Say hi."});
  ExpectTurnStoppedAtMaxTokens(first);
  const CommandResult second = Codex({"resume", "--last", "Say hi again."});
  ExpectTurnStoppedAtMaxTokens(second);

  // One thread; each request left its reasoning item (from the streamed output items) and its
  // usage (from response.incomplete) in the rollout, so each stream was read to its end.
  std::vector<Json> usage;
  int reasoning_items = 0;
  for (const Json& l : Rollout()) {
    const Json& p = l.value("payload", Json::object());
    if (l.value("type", "") == "token_usage_record") usage.push_back(p.value("usage", Json()));
    if (l.value("type", "") == "response_item" && p.value("type", "") == "reasoning") {
      ++reasoning_items;
      EXPECT_FALSE(p["content"].at(0).value("text", "").empty()) << p.dump();
    }
  }
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(reasoning_items, 2);
  for (const Json& u : usage) EXPECT_EQ(u.value("output_tokens", int64_t{0}), 8) << u.dump();

  // The first request carries Codex's instructions and tools (some 16K tokens), all computed;
  // the second repeats that turn and adds one, so nearly all of it comes from the prefix cache.
  const int64_t first_prompt = usage[0].value("input_tokens", int64_t{0});
  EXPECT_GT(first_prompt, 5000) << usage[0].dump();
  EXPECT_EQ(usage[0].value("cached_input_tokens", int64_t{-1}), 0) << usage[0].dump();
  const int64_t second_prompt = usage[1].value("input_tokens", int64_t{0});
  const int64_t cached = usage[1].value("cached_input_tokens", int64_t{0});
  EXPECT_GT(cached, first_prompt * 9 / 10) << usage[1].dump();
  EXPECT_LT(second_prompt - cached, first_prompt / 10) << usage[1].dump();

  // serve's log agrees: exactly these two streamed requests, no retry, same figures.
  const ProcessResult stopped = served_->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  const std::vector<ServedRequest> served = ServedRequests(stopped.err);
  PrintServedRequests("codex", served);
  ASSERT_EQ(served.size(), 2u) << stopped.err;
  for (const ServedRequest& r : served) {
    EXPECT_EQ(r.what, "responses stream") << stopped.err;
    EXPECT_EQ(r.finish, "length") << stopped.err;
  }
  EXPECT_EQ(served[0].prompt, first_prompt) << stopped.err;
  EXPECT_EQ(served[0].cache_hit, 0) << stopped.err;
  EXPECT_EQ(served[1].prompt, second_prompt) << stopped.err;
  EXPECT_EQ(served[1].cache_hit, cached) << stopped.err;
}

}  // namespace
}  // namespace dsagent::testing
