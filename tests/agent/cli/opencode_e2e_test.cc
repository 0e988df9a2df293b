// End to end with a real coding client from npm: OpenCode (`opencode run`, installed by
// scripts/setup-clients.sh into .deps/clients) against `dsagent serve`'s OpenAI Chat Completions
// API on the tiny checkpoint with its tokenizer, offline: an OpenAI-compatible provider
// (@ai-sdk/openai-compatible, bundled in the client) given in OPENCODE_CONFIG_CONTENT, a dummy
// key, HOME and XDG directories of the test's own, no models.dev fetch, no autoupdate, no sharing.
// OpenCode also starts `npm install @opencode-ai/plugin` into its config directory in the
// background on every start; npm_config_registry points that at a closed loopback port, so it
// fails at once with a warning and the run goes on (the client needs none of it to talk to a
// provider). --title names the session, so OpenCode sends no separate title request.
// The random weights never end a reply, so --max-tokens-limit stops each one after a few tokens
// (finish_reason `length`, which OpenCode takes as the end of the step).
// Checks: each request's reply streams back as chat.completion.chunk events the client reads (its
// reasoning_content deltas become a `reasoning` part, the final chunk's finish_reason and usage a
// `step_finish`), no error reached the client (no error event, no "stream error" it retried), and
// the second request (`opencode run --continue`, the next turn of the same session) is served from
// the prefix cache, by the client's own tokens.cache.read and serve's log.
// Skips, saying how to install it, when the client is not there; fails when it is and breaks.
#include <gtest/gtest.h>

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

const fs::path kOpenCode = InstalledClient("opencode");

class OpenCodeE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kOpenCode)) {
      GTEST_SKIP() << "OpenCode is not installed in .deps/clients; scripts/setup-clients.sh "
                      "installs it from npm";
    }
    box_.WriteRepoFile("README.md", "hello\n");
    box_.GitInitAndCommit();
    served_ = std::make_unique<ServedTinyModel>(
        box_, std::vector<std::string>{"--max-tokens", "8", "--max-tokens-limit", "8"});
    ASSERT_GT(served_->Port(), 0) << "dsagent serve did not start";
  }
  void TearDown() override {
    if (!served_ || !served_->running()) return;
    const ProcessResult r = served_->Stop();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  // `opencode run --format json ... ARGS` in the sandbox's repo with a clean environment; the
  // client's log goes to stderr.
  CommandResult OpenCode(const std::vector<std::string>& args) {
    const fs::path scratch = box_.root() / ("opencode-" + std::to_string(++runs_));
    fs::create_directories(scratch);
    const Json config = {
        {"model", "dsagent/tiny"},
        {"provider",
         {{"dsagent",
           {{"npm", "@ai-sdk/openai-compatible"},
            {"name", "dsagent serve"},
            {"options", {{"baseURL", served_->BaseUrl() + "/v1"}, {"apiKey", "dummy"}}},
            {"models", {{"tiny", {{"name", "tiny"}}}}}}}}}};
    const std::map<std::string, std::string> env = box_.Env({
        {"OPENCODE_CONFIG_CONTENT", config.dump()},
        {"OPENCODE_DISABLE_MODELS_FETCH", "1"},
        {"OPENCODE_DISABLE_AUTOUPDATE", "1"},
        {"OPENCODE_DISABLE_SHARE", "1"},
        {"OPENCODE_DISABLE_LSP_DOWNLOAD", "1"},
        {"npm_config_registry", "http://127.0.0.1:9/"},
    });
    std::vector<std::string> argv = {"run",          "--format", "json",        "--thinking",
                                     "--print-logs", "--model",  "dsagent/tiny"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(ClientCommandLine(box_.repo(), env, kOpenCode, argv), scratch);
  }

  Sandbox box_;
  std::unique_ptr<ServedTinyModel> served_;
  int runs_ = 0;
};

// The `step_finish` part of a run that made one model request and read its reply to the end:
// a reasoning part with text, then the step's end at the length limit. Nothing else failed.
Json OneStepReadToTheEnd(const CommandResult& run) {
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err.find("stream error"), std::string::npos) << run.err;
  std::vector<std::string> types;
  Json finish;
  for (const Json& e : JsonLines(run.out)) {
    const std::string type = e.value("type", "");
    types.push_back(type);
    if (type == "reasoning") {
      EXPECT_FALSE(e["part"].value("text", "").empty()) << e.dump();
    }
    if (type == "step_finish") finish = e["part"];
  }
  EXPECT_EQ(types, (std::vector<std::string>{"step_start", "reasoning", "step_finish"})) << run.out;
  EXPECT_EQ(finish.value("reason", ""), "length") << finish.dump();
  return finish.value("tokens", Json::object());
}

TEST_F(OpenCodeE2ETest, StreamsRepliesAndServesTheNextTurnFromThePrefixCache) {
  const Json first = OneStepReadToTheEnd(OpenCode({"--title", "e2e", "Say hi."}));
  const Json second = OneStepReadToTheEnd(OpenCode({"--continue", "Say hi again."}));

  // OpenCode counts `input` without the cached part. The first request carries its system
  // prompt and tools (some 18K tokens), all computed; the second repeats that turn and adds one,
  // so nearly all of it comes from the prefix cache.
  const int64_t first_prompt = first.value("input", int64_t{0});
  EXPECT_GT(first_prompt, 5000) << first.dump();
  EXPECT_EQ(first["cache"].value("read", int64_t{-1}), 0) << first.dump();
  const int64_t cached = second["cache"].value("read", int64_t{0});
  const int64_t computed = second.value("input", int64_t{0});
  EXPECT_GT(cached, first_prompt * 9 / 10) << second.dump();
  EXPECT_LT(computed, first_prompt / 10) << second.dump();

  // serve's log agrees: exactly these two streamed requests, no retry, same figures.
  const ProcessResult stopped = served_->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  const std::vector<ServedRequest> served = ServedRequests(stopped.err);
  PrintServedRequests("opencode", served);
  ASSERT_EQ(served.size(), 2u) << stopped.err;
  for (const ServedRequest& r : served) {
    EXPECT_EQ(r.what, "chat stream") << stopped.err;
    EXPECT_EQ(r.finish, "length") << stopped.err;
  }
  EXPECT_EQ(served[0].prompt, first_prompt) << stopped.err;
  EXPECT_EQ(served[0].cache_hit, 0) << stopped.err;
  EXPECT_EQ(served[1].prompt, computed + cached) << stopped.err;
  EXPECT_EQ(served[1].cache_hit, cached) << stopped.err;
}

}  // namespace
}  // namespace dsagent::testing
