// End to end: `dsagent run --provider local` runs the built-in engine in-process on the tiny
// checkpoint (random weights: the text is noise; greedy decoding makes it deterministic). A
// session resumed in a new process finds its prompt in the persistent KV store and prefills only
// the tail; its reply equals that of the same resume with an empty store (a cold prefill). An eval
// over several tasks loads the model once, and each task after the first finds the system prompt
// and tool schemas in the shared engine's prefix cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

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

  // The tiny model's settings for provider local (kv_dir "": memory prefix cache only).
  std::map<std::string, std::string> TinyEnv(const fs::path& kv_dir) const {
    std::map<std::string, std::string> env = {
        {"DSAGENT_PROVIDERS__LOCAL__TOKENIZER",
         (kSource / "tests/data/v4-tiny-tokenizer/tokenizer.json").string()},
        {"DSAGENT_PROVIDERS__LOCAL__CONTEXT_TOKENS", "32768"},
        {"DSAGENT_PROVIDERS__LOCAL__THREADS", "2"},
        {"DSAGENT_MAX_OUTPUT_TOKENS", "6"},
        {"DSAGENT_REPO_MAP__TOKENS", "0"}};
    if (!kv_dir.empty()) env["DSAGENT_PROVIDERS__LOCAL__KV_DIR"] = kv_dir.string();
    return env;
  }

  Json Run(std::vector<std::string> args, const fs::path& kv_dir) {
    std::vector<std::string> all = {"run",         "--json",
                                    "--provider",  "local",
                                    "--model",     (kSource / "tests/data/v4-tiny").string(),
                                    "--thinking",  "off",
                                    "--max-steps", "1"};
    all.insert(all.end(), args.begin(), args.end());
    const ProcessResult r = RunDsagent(all, box_.Env(TinyEnv(kv_dir)), box_.repo());
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << "\n" << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
    last_err_ = r.err;
    return j;
  }

  Sandbox box_;
  std::string last_err_;  // the last Run's stderr
};

// How many lines of `text` contain `needle`.
int LinesWith(const std::string& text, const std::string& needle) {
  int n = 0;
  size_t at = 0;
  for (size_t end; at < text.size(); at = end + 1) {
    end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.substr(at, end - at).find(needle) != std::string::npos) ++n;
  }
  return n;
}

TEST_F(LocalProviderE2ETest, ResumeInANewProcessPrefillsOnlyTheTailAndAnswersLikeACold) {
  const fs::path trace = box_.root() / "first.jsonl", copy = box_.root() / "copy.jsonl";
  const fs::path warm_kv = box_.root() / "kv-warm", cold_kv = box_.root() / "kv-cold";
  const Json first = Run({"--trace", trace.string(), "Say hi."}, warm_kv);
  ASSERT_EQ(first["status"], "success");
  // The load is told on stderr (on a GPU the upload's progress and the placement follow it).
  EXPECT_EQ(LinesWith(last_err_, "dsagent run: local model "), 1) << last_err_;
  EXPECT_THAT(last_err_, ::testing::HasSubstr("v4-tiny on cpu, loaded in ")) << last_err_;
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

// `dsagent eval` over two tasks, one after the other: one engine for both (loaded once, told once
// in the log), and the second task's prompt finds the first's system prompt and tool schemas in
// that engine's prefix cache (no kv_dir: memory only). Each task loaded its own before. With
// --jobs 2 the two tasks' turns run on the engine at once, their decode steps batched, and each
// task gets the reply it gets alone (the tokenizer's shared PCRE2 match data made concurrent
// prompts tokenize wrongly, or abort, before).
TEST_F(LocalProviderE2ETest, AnEvalLoadsTheModelOnceAndItsTasksShareItOneByOneOrTogether) {
  const fs::path suite = box_.root() / "suite";
  for (const char* task : {"py-clamp", "py-mean-empty"}) {
    fs::create_directories(suite / task);
    fs::copy(kSource / "evals/suites/smoke" / task, suite / task, fs::copy_options::recursive);
  }
  auto env = TinyEnv("");
  env["DSAGENT_MAX_STEPS"] = "1";
  env["DSAGENT_MAX_OUTPUT_TOKENS"] = "16";
  const std::vector<std::string> ids = {"smoke__py-clamp", "smoke__py-mean-empty"};
  struct TaskRun {
    Json tokens;
    std::vector<std::string> replies;  // the assistant messages of its trajectory
  };
  const auto eval = [&](const char* jobs) {
    const fs::path out = box_.root() / (std::string("run-") + jobs);
    const ProcessResult r = RunDsagent({"eval", "--tasks", suite.string(), "--provider", "local",
                                        "--model", (kSource / "tests/data/v4-tiny").string(),
                                        "--thinking", "off", "--jobs", jobs, "--out", out.string()},
                                       box_.Env(env), box_.root());
    EXPECT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
    EXPECT_EQ(LinesWith(r.err, "local model "), 1) << r.err;
    std::vector<TaskRun> runs;
    for (const std::string& id : ids) {
      TaskRun run;
      std::ifstream in(out / "results" / (id + ".json"));
      const Json result = Json::parse(in, nullptr, false);
      EXPECT_FALSE(result.is_discarded()) << id;
      if (!result.is_discarded()) run.tokens = result["agent_run"]["tokens"];
      std::ifstream traj(out / "trajs" / (id + ".jsonl"));
      for (std::string line; std::getline(traj, line);) {
        const Json m = Json::parse(line);
        if (m["role"] == "assistant") run.replies.push_back(m.value("content", ""));
      }
      runs.push_back(std::move(run));
    }
    return runs;
  };

  const std::vector<TaskRun> one_by_one = eval("1");
  ASSERT_EQ(one_by_one.size(), 2u);
  // Which task runs first is the load order's; the first of the two finds nothing.
  const int64_t first_hit = one_by_one[0].tokens.value("input_cache_hit", int64_t{-1}),
                second_hit = one_by_one[1].tokens.value("input_cache_hit", int64_t{-1});
  EXPECT_EQ(std::min(first_hit, second_hit), 0) << one_by_one[0].tokens << one_by_one[1].tokens;
  EXPECT_GT(std::max(first_hit, second_hit), 1000)
      << "the system prompt and tool schemas: " << one_by_one[0].tokens << one_by_one[1].tokens;

  const std::vector<TaskRun> together = eval("2");
  ASSERT_EQ(together.size(), 2u);
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_FALSE(one_by_one[i].replies.empty()) << ids[i];
    EXPECT_EQ(together[i].replies, one_by_one[i].replies) << ids[i];
  }
}

// `dsagent patch` whose test command fails: each fix round resumes the session on the engine the
// first round loaded (told once), so the rounds after the first prefill only their new messages
// (no kv_dir: the memory prefix cache). Each round loaded its own engine, with nothing cached,
// before.
TEST_F(LocalProviderE2ETest, PatchFixRoundsReuseTheFirstRoundsEngine) {
  std::ofstream(box_.root() / "issue.md") << "Fix the readme.\n";
  auto env = TinyEnv("");
  env["DSAGENT_PROVIDER"] = "local";
  env["DSAGENT_PROVIDERS__LOCAL__MODEL_DIR"] = (kSource / "tests/data/v4-tiny").string();
  env["DSAGENT_THINKING"] = "off";
  env["DSAGENT_MAX_STEPS"] = "1";
  const ProcessResult r = RunDsagent(
      {"patch", "--json", "--issue", (box_.root() / "issue.md").string(), "--test-cmd", "false"},
      box_.Env(env), box_.repo());
  const Json j = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << "\n" << r.err;
  ASSERT_EQ(j["tests"].size(), 3u) << r.err;  // the first round and two fix rounds
  EXPECT_EQ(LinesWith(r.err, "dsagent patch: local model "), 1) << r.err;
  const int64_t hit = j["tokens"]["input_cache_hit"], miss = j["tokens"]["input_cache_miss"];
  // The second and third rounds' prompts each hold the first's whole prompt and more.
  EXPECT_GT(hit, miss) << j["tokens"];
}

// The terminal assistant's /clear opens a new session on the engine the first one loaded: the
// load is told once, and the same first message again is served from its prefix cache.
TEST_F(LocalProviderE2ETest, ANewSessionInTheTerminalAssistantReusesTheLoadedEngine) {
  auto env = TinyEnv("");
  env["DSAGENT_PROVIDER"] = "local";
  env["DSAGENT_PROVIDERS__LOCAL__MODEL_DIR"] = (kSource / "tests/data/v4-tiny").string();
  env["DSAGENT_THINKING"] = "off";
  env["DSAGENT_MAX_STEPS"] = "1";
  const ProcessResult r = RunDsagent({}, box_.Env(env), box_.repo(), "hi\n/clear\nhi\n");
  const std::string all = r.out + r.err;
  EXPECT_EQ(LinesWith(all, "local model "), 1) << all;
  EXPECT_EQ(LinesWith(all, " · session "), 2) << "two sessions' banners: " << all;
  EXPECT_THAT(all, ::testing::HasSubstr("cache 100% last")) << all;
}

// `dsagent doctor` with provider local names the checkpoint and the device and says which of them
// a run could not use, without loading anything (it used to print an HTTP endpoint and key).
TEST_F(LocalProviderE2ETest, DoctorNamesTheLocalModelAndDeviceAndWhatIsNotUsable) {
  const std::string tiny = (kSource / "tests/data/v4-tiny").string();
  const auto doctor = [&](std::map<std::string, std::string> env) {
    env["DSAGENT_PROVIDER"] = "local";
    const ProcessResult r = RunDsagent({"doctor"}, box_.Env(env), box_.repo());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    for (size_t at = 0, end; at < r.out.size(); at = end + 1) {
      end = r.out.find('\n', at);
      if (r.out.compare(at, 10, "provider: ") == 0) return r.out.substr(at, end - at);
    }
    ADD_FAILURE() << "no provider line: " << r.out;
    return std::string();
  };
  EXPECT_EQ(doctor({{"DSAGENT_PROVIDERS__LOCAL__MODEL_DIR", tiny}}),
            "provider: local, model " + tiny + ", device cpu, numerics fast, weights auto");
  const std::string missing = (box_.root() / "no-model").string();
  EXPECT_THAT(doctor({{"DSAGENT_PROVIDERS__LOCAL__MODEL_DIR", missing}}),
              ::testing::StartsWith("provider: local, model " + missing +
                                    " [not usable: no config.json there;"));
  EXPECT_THAT(doctor({{"DSAGENT_PROVIDERS__LOCAL__MODEL_DIR", tiny},
                      {"DSAGENT_PROVIDERS__LOCAL__DEVICE", "gpu"}}),
              ::testing::HasSubstr(", device gpu [not usable: unknown device 'gpu'"));
}

}  // namespace
}  // namespace dsagent::testing
