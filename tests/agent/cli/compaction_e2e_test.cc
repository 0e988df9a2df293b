// Context compaction end to end (issue 20): the real binary with a small context window against
// the protocol-faithful DeepSeek test server. A session driven past the window keeps running;
// every request is a byte prefix of the next except at the one compaction, and a resumed session
// sends the compacted context byte for byte.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;

constexpr const char* kCompactionKey = "test-key-0123456789abcdef";
constexpr int64_t kWindow = 24000;  // tokens; each read below adds about 2,500: one compaction
constexpr int64_t kMaxOutput = 1000;
constexpr int kReads = 9;

class CompactionE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kCompactionKey);
    for (int i = 0; i < kReads; ++i) {
      std::string text;
      while (text.size() < 8000)
        text += "line " + std::to_string(text.size()) + " of file " + std::to_string(i) + "\n";
      box_.WriteRepoFile("big" + std::to_string(i) + ".txt", text);
    }
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args) {
    return RunDsagent(args,
                      box_.Env({{"DEEPSEEK_API_KEY", kCompactionKey},
                                {"DEEPSEEK_BASE_URL", server_.BaseUrl()},
                                {"DSAGENT_CONTEXT_TOKENS", std::to_string(kWindow)},
                                {"DSAGENT_MAX_OUTPUT_TOKENS", std::to_string(kMaxOutput)}}),
                      box_.repo(), "");
  }

  void EnqueueReads() {
    for (int i = 0; i < kReads; ++i) {
      server_.Enqueue(
          ScriptedReply::Calls({{"call_" + std::to_string(i), "read_file",
                                 CanonicalJson({{"path", "big" + std::to_string(i) + ".txt"}})}}));
    }
    server_.Enqueue(ScriptedReply::Text("read them all"));
  }

  // The serialised messages of request `r` without the closing bracket.
  static std::string OpenMessages(const ReceivedRequest& r) {
    std::string m = CanonicalJson(r.json["messages"]);
    m.pop_back();
    return m;
  }

  std::vector<Json> TraceEvents(const std::string& session_id) {
    std::ifstream in(box_.sessions_dir() / (session_id + ".jsonl"));
    std::vector<Json> out;
    for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
    return out;
  }

  Sandbox box_;
  DeepSeekTestServer server_;
};

TEST_F(CompactionE2ETest, ASessionPastTheWindowCompactsOnceAndKeepsThePrefixElsewhere) {
  EnqueueReads();
  auto r = Run({"run", "--json", "--max-steps", "20", "Read every big file"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("context compacted:"));
  EXPECT_THAT(r.err, HasSubstr("uncached once"));
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), static_cast<size_t>(kReads + 1));

  int breaks = 0;
  size_t compacted_at = 0;
  for (size_t i = 0; i + 1 < requests.size(); ++i) {
    const std::string a = OpenMessages(requests[i]);
    if (OpenMessages(requests[i + 1]).compare(0, a.size(), a) != 0) {
      ++breaks;
      compacted_at = i + 1;
    }
  }
  ASSERT_EQ(breaks, 1) << "exactly one request does not extend the previous one";
  const Json& after = requests[compacted_at].json["messages"];
  EXPECT_THAT(CanonicalJson(after), HasSubstr("elided to fit the context window"));
  EXPECT_THAT(CanonicalJson(after), HasSubstr("Read the file again"));
  // Every request the server saw fits the window with room for the output.
  for (const auto& req : requests) {
    EXPECT_LE(req.usage.input_cache_hit + req.usage.input_cache_miss, kWindow - kMaxOutput);
  }
  // The server's cache model: exactly one request after the first misses more than its new tail
  // (tokens ~ bytes / 4, with slack for the per-message rounding).
  int misses = 0;
  for (size_t i = 1; i < requests.size(); ++i) {
    const int64_t grown = static_cast<int64_t>(OpenMessages(requests[i]).size()) -
                          static_cast<int64_t>(OpenMessages(requests[i - 1]).size());
    if (requests[i].usage.input_cache_miss > std::max<int64_t>(grown, 0) / 4 + 100) {
      ++misses;
      EXPECT_EQ(i, compacted_at);
    }
  }
  EXPECT_EQ(misses, 1);

  // The trace records it once, with the elided entries.
  const std::string id = Json::parse(r.out)["session_id"];
  int compactions = 0;
  for (const Json& e : TraceEvents(id)) {
    if (e.value("type", "") != "compaction") continue;
    ++compactions;
    EXPECT_EQ(e["reason"], "budget");
    EXPECT_FALSE(e["replaced"].empty());
    EXPECT_LT(e["tokens_after"].get<int64_t>(), e["tokens_before"].get<int64_t>());
  }
  EXPECT_EQ(compactions, 1);

  // Resume replays the compaction: the next request extends the last one byte for byte.
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto again = Run({"run", "--json", "--resume", id, "one more question"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto all = server_.Requests();
  ASSERT_EQ(all.size(), requests.size() + 1);
  const std::string last = OpenMessages(requests.back());
  EXPECT_EQ(OpenMessages(all.back()).compare(0, last.size(), last), 0)
      << "the resumed request does not continue the compacted context";
  EXPECT_THAT(all.back().body, HasSubstr("one more question"));
}

}  // namespace
}  // namespace dsagent::testing
