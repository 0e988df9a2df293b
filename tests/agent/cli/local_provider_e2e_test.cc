// End to end: `dsagent run --provider local` runs the built-in engine in-process on the tiny
// checkpoint (random weights: the text is noise; greedy decoding makes it deterministic). A
// session resumed in a new process finds its prompt in the persistent KV store and prefills only
// the tail; its reply equals that of the same resume with an empty store (a cold prefill).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"

namespace dsagent::testing {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = DSAGENT_SOURCE_DIR;

class LocalProviderE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    box_.WriteRepoFile("README.md", "hello\n");
    box_.GitInitAndCommit();
  }

  Json Run(std::vector<std::string> args, const fs::path& kv_dir) {
    std::vector<std::string> all = {"run",         "--json",
                                    "--provider",  "local",
                                    "--model",     (kSource / "tests/data/v4-tiny").string(),
                                    "--thinking",  "off",
                                    "--max-steps", "1"};
    all.insert(all.end(), args.begin(), args.end());
    const ProcessResult r =
        RunDsagent(all,
                   box_.Env({{"DSAGENT_PROVIDERS__LOCAL__TOKENIZER",
                              (kSource / "tests/data/v4-tiny-tokenizer/tokenizer.json").string()},
                             {"DSAGENT_PROVIDERS__LOCAL__CONTEXT_TOKENS", "32768"},
                             {"DSAGENT_PROVIDERS__LOCAL__KV_DIR", kv_dir.string()},
                             {"DSAGENT_PROVIDERS__LOCAL__THREADS", "2"},
                             {"DSAGENT_MAX_OUTPUT_TOKENS", "6"},
                             {"DSAGENT_REPO_MAP__TOKENS", "0"}}),
                   box_.repo());
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << "\n" << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
    return j;
  }

  Sandbox box_;
};

TEST_F(LocalProviderE2ETest, ResumeInANewProcessPrefillsOnlyTheTailAndAnswersLikeACold) {
  const fs::path trace = box_.root() / "first.jsonl", copy = box_.root() / "copy.jsonl";
  const fs::path warm_kv = box_.root() / "kv-warm", cold_kv = box_.root() / "kv-cold";
  const Json first = Run({"--trace", trace.string(), "Say hi."}, warm_kv);
  ASSERT_EQ(first["status"], "success");
  const int64_t prompt = first["tokens"]["input_cache_miss"].get<int64_t>();
  EXPECT_GT(prompt, 1000);  // system prompt and tool schemas
  EXPECT_EQ(first["tokens"]["input_cache_hit"], 0);
  EXPECT_GT(first["tokens"]["output"].get<int64_t>(), 0);
  fs::copy_file(trace, copy);

  const std::string id = first["session_id"];
  const Json warm = Run({"--trace", trace.string(), "--resume", id, "Again."}, warm_kv);
  const Json cold = Run({"--trace", copy.string(), "--resume", id, "Again."}, cold_kv);
  const int64_t hit = warm["tokens"]["input_cache_hit"].get<int64_t>();
  // The stored prefix is the first prompt's last 128-aligned position.
  EXPECT_EQ(hit, prompt / 128 * 128) << warm.dump();
  EXPECT_EQ(cold["tokens"]["input_cache_hit"], 0) << cold.dump();
  EXPECT_EQ(hit + warm["tokens"]["input_cache_miss"].get<int64_t>(),
            cold["tokens"]["input_cache_miss"].get<int64_t>());
  EXPECT_EQ(warm["result"], cold["result"]);
  EXPECT_EQ(warm["tokens"]["output"], cold["tokens"]["output"]);
}

}  // namespace
}  // namespace dsagent::testing
