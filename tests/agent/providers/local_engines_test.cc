// LocalEngines on the tiny checkpoint: sessions with the same engine options share one loaded
// engine, other options let the kept one go before loading theirs, concurrent sessions load once,
// a failed load keeps nothing; and the load's notices as lines.
#include "agent/providers/local_engines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "engine/runtime/engine_runtime.h"

namespace dsagent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const fs::path kTinyModelDir = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";
const fs::path kTinyTokenizer =
    fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

engine::EngineRuntimeOptions TinyOptions(int threads = 1) {
  return {.model_dir = kTinyModelDir, .tokenizer_file = kTinyTokenizer, .threads = threads};
}

// Notices that record their lines.
struct RecordedNotices {
  std::vector<std::string> lines;
  LocalLoadNotices notices() {
    return {.note = [this](const std::string& line) { lines.push_back(line); }};
  }
};

TEST(LocalEnginesTest, SameOptionsHowEverTheDirectoryIsSpeltShareOneLoadedEngine) {
  LocalEngines engines;
  RecordedNotices told;
  auto first = engines.Acquire(TinyOptions(), told.notices());
  ASSERT_TRUE(first) << first.error();
  ASSERT_NE((*first)->runtime, nullptr);
  ASSERT_THAT(told.lines, ElementsAre(MatchesRegex("local model .*v4-tiny on cpu, loaded in "
                                                   "[0-9]+\\.[0-9] s")));

  engine::EngineRuntimeOptions respelt = TinyOptions();
  respelt.model_dir = kTinyModelDir / ".." / "v4-tiny" / "";
  auto second = engines.Acquire(respelt, told.notices());
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->get(), first->get());
  EXPECT_EQ(engines.loads(), 1);
  EXPECT_EQ(told.lines.size(), 1u) << "a reuse is not a load";
}

TEST(LocalEnginesTest, OtherOptionsLetTheKeptEngineGoBeforeLoadingTheirs) {
  LocalEngines engines;
  std::weak_ptr<LocalEngine> one_thread;
  {
    auto first = engines.Acquire(TinyOptions(1), {});
    ASSERT_TRUE(first) << first.error();
    one_thread = *first;
  }  // the session that used it ended; only the keeper holds it now
  ASSERT_FALSE(one_thread.expired());
  bool released_before_told = false;
  LocalLoadNotices notices{.note = [&](const std::string&) {
    released_before_told = released_before_told || one_thread.expired();
  }};
  auto second = engines.Acquire(TinyOptions(2), notices);
  ASSERT_TRUE(second) << second.error();
  EXPECT_TRUE(released_before_told);
  EXPECT_EQ(engines.loads(), 2);
  // And back: the two-thread engine is not kept for it either.
  std::weak_ptr<LocalEngine> two_threads = *second;
  second->reset();
  auto third = engines.Acquire(TinyOptions(1), {});
  ASSERT_TRUE(third) << third.error();
  EXPECT_TRUE(two_threads.expired());
  EXPECT_EQ(engines.loads(), 3);
}

TEST(LocalEnginesTest, AnEngineASessionStillHoldsStaysUsableWhenOthersAreAcquired) {
  LocalEngines engines;
  auto held = engines.Acquire(TinyOptions(1), {});
  ASSERT_TRUE(held) << held.error();
  auto other = engines.Acquire(TinyOptions(2), {});
  ASSERT_TRUE(other) << other.error();
  EXPECT_NE(held->get(), other->get());
  // The held engine still answers.
  engine::ChatRequest request;
  request.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  request.generate.max_tokens = 2;
  request.thinking = false;
  request.ignore_eos = true;
  auto done = (*held)->runtime->completer().Complete(request);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->usage.completion_tokens, 2);
}

// LocalEngines(N) (`eval --jobs N`): N turns run at once on a runtime that batches their decode
// steps; one more waits in line, and gives up when its session is cancelled.
TEST(LocalEnginesTest, ParallelTurnsRunTogetherOnABatchingRuntimeAndTheNextWaits) {
  LocalEngines one, two(2);
  auto single = one.Acquire(TinyOptions(), {});
  auto paired = two.Acquire(TinyOptions(), {});
  ASSERT_TRUE(single) << single.error();
  ASSERT_TRUE(paired) << paired.error();
  EXPECT_EQ((*single)->runtime->batcher(), nullptr);
  ASSERT_NE((*paired)->runtime->batcher(), nullptr);

  engine::server::RequestGate& turns = (*paired)->turns;
  CancelToken never;
  auto a = turns.Enter(), b = turns.Enter(), c = turns.Enter();
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(turns.Wait(*a, never));
  EXPECT_TRUE(turns.Wait(*b, never));
  int64_t running = 0, waiting = 0;
  turns.Counts(&running, &waiting);
  EXPECT_EQ(running, 2);
  EXPECT_EQ(waiting, 1);
  CancelToken cancelled;
  cancelled.Cancel();
  EXPECT_FALSE(turns.Wait(*c, cancelled));
  c.reset();
  a.reset();  // a turn ends: the next one in line runs
  auto d = turns.Enter();
  ASSERT_TRUE(d);
  EXPECT_TRUE(turns.Wait(*d, never));
}

TEST(LocalEnginesTest, ConcurrentSessionsWithTheSameOptionsLoadOnce) {
  LocalEngines engines;
  std::vector<LocalEngine*> got(4, nullptr);
  std::vector<std::thread> sessions;
  for (size_t i = 0; i < got.size(); ++i) {
    sessions.emplace_back([&, i] {
      auto engine = engines.Acquire(TinyOptions(), {});
      if (engine) got[i] = engine->get();
    });
  }
  for (auto& t : sessions) t.join();
  ASSERT_NE(got[0], nullptr);
  for (LocalEngine* e : got) EXPECT_EQ(e, got[0]);
  EXPECT_EQ(engines.loads(), 1);
}

TEST(LocalEnginesTest, AFailedLoadSaysWhyAndKeepsNothing) {
  LocalEngines engines;
  engine::EngineRuntimeOptions missing = TinyOptions();
  missing.model_dir = kTinyModelDir / "no-such-model";
  RecordedNotices told;
  auto failed = engines.Acquire(missing, told.notices());
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error(), HasSubstr("no-such-model"));
  EXPECT_TRUE(told.lines.empty());
  EXPECT_EQ(engines.loads(), 0);
  // The same options again try again (and fail again), rather than finding a kept failure.
  EXPECT_FALSE(engines.Acquire(missing, {}));
  auto good = engines.Acquire(TinyOptions(), {});
  ASSERT_TRUE(good) << good.error();
  EXPECT_EQ(engines.loads(), 1);
}

// The lines for a log: nothing as the upload begins (0 blocks), then at each quarter of its blocks
// and its time at the end, then notes as they come.
TEST(LocalLoadLinesTest, UploadAtEachQuarterWithTheTimeAtTheEndThenTheNotes) {
  std::vector<std::string> lines;
  const LocalLoadNotices notices =
      LocalLoadLines([&lines](const std::string& line) { lines.push_back(line); });
  for (int64_t done = 0; done <= 45; ++done) notices.upload_progress(done, 45);
  notices.note("placement on cuda:0");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "weights to the GPU: 12 of 45 blocks");
  EXPECT_EQ(lines[1], "weights to the GPU: 23 of 45 blocks");
  EXPECT_EQ(lines[2], "weights to the GPU: 34 of 45 blocks");
  EXPECT_THAT(lines[3], MatchesRegex("weights to the GPU: all 45 blocks in [0-9]+\\.[0-9] s"));
  EXPECT_EQ(lines[4], "placement on cuda:0");
}

}  // namespace
}  // namespace dsagent
