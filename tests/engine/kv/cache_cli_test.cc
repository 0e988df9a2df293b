// `dsagent cache stats|verify|prune` end to end: the real binary over a store written by the
// engine (tiny checkpoint), then damaged on purpose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/file_io.h"
#include "common/json.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/model_identity.h"
#include "engine/kv/store_maintenance.h"
#include "tests/engine/kv/kv_test_util.h"
#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::kv {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::Prompt;
using testing::TinyModel;

using CliResult = dsagent::testing::CommandResult;

CliResult Cache(const TempDir& dir, const std::string& args) {
  return dsagent::testing::RunCommand(std::string(DSAGENT_BINARY) + " cache " + args, dir.path());
}

TEST(CacheCliTest, StatsVerifyAndPruneAStoreWithADamagedRecord) {
  TempDir dir;
  const fs::path kv = dir.path() / "kv";
  auto id = ComputeModelIdentity(forward::testing::kTinyModel);
  ASSERT_TRUE(id) << id.error();
  auto store = DiskPrefixStore::Open(TinyModel().config(), *id, {.dir = kv});
  ASSERT_TRUE(store) << store.error();
  const std::vector<int32_t> tokens = Prompt(256);
  forward::SequenceState s = TinyModel().NewSequence();
  ASSERT_TRUE(TinyModel().Forward(s, tokens));
  auto stored = (*store)->StoreAligned(tokens, s);
  ASSERT_TRUE(stored) << stored.error();

  auto stats = Cache(dir, "stats --json --kv-dir '" + kv.string() + "'");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const Json j = Json::parse(stats.out);
  const auto files = ListRecordFiles(kv);
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(j["records"], files.size());
  ASSERT_EQ(j["models"].size(), 1u);
  EXPECT_EQ(j["models"].begin().value()["longest_prefix_tokens"], 256);

  auto clean = Cache(dir, "verify --kv-dir '" + kv.string() + "'");
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;

  // Flip one byte at the end of a record (its compressed payload).
  const fs::path victim = files.front().path;
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    char c = 0;
    f.read(&c, 1);
    f.seekp(-1, std::ios::end);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  auto bad = Cache(dir, "verify --kv-dir '" + kv.string() + "'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, HasSubstr(victim.filename().string()));
  EXPECT_THAT(bad.out, HasSubstr("1 bad"));

  auto removed = Cache(dir, "verify --remove --kv-dir '" + kv.string() + "'");
  EXPECT_EQ(removed.exit_code, 1);
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_EQ(Cache(dir, "verify --kv-dir '" + kv.string() + "'").exit_code, 0);

  auto usage = Cache(dir, "prune --kv-dir '" + kv.string() + "'");
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--max-size"));
  auto pruned = Cache(dir, "prune --max-size 0 --kv-dir '" + kv.string() + "'");
  EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_TRUE(ListRecordFiles(kv).empty());
}

}  // namespace
}  // namespace dsagent::engine::kv
