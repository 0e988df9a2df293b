// The persistent prefix store on the tiny checkpoint: resume across store objects, corruption of
// every kind (results stay those of a cold run; verify names the bad records), several writers
// (threads and a forked process), LRU eviction.
#include "engine/kv/disk_prefix_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "common/file_io.h"
#include "common/sha256.h"
#include "engine/kv/cached_prefill.h"
#include "engine/kv/model_identity.h"
#include "engine/kv/state_codec.h"
#include "engine/kv/store_maintenance.h"
#include "tests/engine/kv/kv_test_util.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::kv {
namespace {
namespace fs = std::filesystem;
using testing::Cold;
using testing::Greedy;
using testing::Prompt;
using testing::TinyModel;

// The end_tokens field of a record file's header (the prefix length it belongs to); -1 if the
// file cannot be read.
int64_t EndTokens(const fs::path& record) {
  auto bytes = ReadFileToString(record);
  if (!bytes || bytes->size() < 40) return -1;
  int64_t end = 0;
  std::memcpy(&end, bytes->data() + 32, 8);
  return end;
}

class DiskPrefixStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = ComputeModelIdentity(forward::testing::kTinyModel);
    ASSERT_TRUE(id) << id.error();
    model_id_ = *id;
  }

  std::unique_ptr<DiskPrefixStore> Open(const fs::path& dir, int64_t max_bytes = 0,
                                        std::string model_id = "") {
    auto s = DiskPrefixStore::Open(TinyModel().config(), model_id.empty() ? model_id_ : model_id,
                                   {.dir = dir, .max_bytes = max_bytes, .log = {}});
    EXPECT_TRUE(s) << s.error();
    return std::move(*s);
  }

  // The state after `tokens` stored (tokens.size() aligned).
  void StorePrefix(DiskPrefixStore& store, const std::vector<int32_t>& tokens) {
    forward::SequenceState s = TinyModel().NewSequence();
    ASSERT_TRUE(TinyModel().Forward(s, tokens));
    auto stored = store.StoreAligned(tokens, s);
    ASSERT_TRUE(stored) << stored.error();
    ASSERT_EQ(*stored, static_cast<int64_t>(tokens.size()));
  }

  // CachedPrefill through a fresh store over `dir` equals a cold run (last logits and 6 greedy
  // tokens); returns the cached tokens.
  int64_t ExpectSameAsCold(const fs::path& dir, const std::vector<int32_t>& prompt) {
    auto store = Open(dir);
    auto warm = CachedPrefill(TinyModel(), *store, prompt, store->alignment_tokens());
    EXPECT_TRUE(warm) << warm.error();
    const testing::ColdRun cold = Cold(prompt);
    EXPECT_EQ(warm->last_logits, cold.last_logits);
    EXPECT_EQ(Greedy(TinyModel(), warm->state, warm->last_logits, 6),
              Greedy(TinyModel(), cold.state, cold.last_logits, 6));
    EXPECT_EQ(SerializeState(warm->state), SerializeState(cold.state));
    return warm->cached_tokens;
  }

  TempDir scratch_;
  const fs::path dir_ = scratch_.path() / "store";  // not created: Open makes it
  std::string model_id_;
};

TEST_F(DiskPrefixStoreTest, ResumeHitsTheWholeStoredPrefixAndEqualsAColdRun) {
  const auto prompt = Prompt(460);
  {
    auto store = Open(dir_);
    auto first =
        CachedPrefill(TinyModel(), *store, std::span(prompt).first(300), store->alignment_tokens());
    ASSERT_TRUE(first) << first.error();
    EXPECT_EQ(first->cached_tokens, 0);
    EXPECT_EQ(first->computed_tokens, 300);
    EXPECT_EQ(first->offered_tokens, 256);
  }  // the state and the store object are gone; only the directory remains
  EXPECT_EQ(ExpectSameAsCold(dir_, prompt), 256);  // the whole stored 128-aligned prefix
  // That run stored its own last aligned prefix (384): a third run starts there.
  EXPECT_EQ(ExpectSameAsCold(dir_, prompt), 384);
  EXPECT_TRUE(VerifyStore(dir_).empty());
  const StoreStats stats = ComputeStoreStats(dir_);
  ASSERT_EQ(stats.models.size(), 1u);
  EXPECT_EQ(stats.models.begin()->first, model_id_);
  EXPECT_EQ(stats.models.begin()->second.blocks, 3);
  EXPECT_EQ(stats.models.begin()->second.checkpoints, 2);
  EXPECT_EQ(stats.models.begin()->second.longest_prefix_tokens, 384);
}

// The fast numerics (a model loaded with Numerics::kFast) keep their states under their own
// identity: a restore is bit-identical to a fast cold run, and exact and fast records never mix.
TEST_F(DiskPrefixStoreTest, FastNumericsRestoreEqualsAFastColdRunAndNeverMixesWithExact) {
  auto fast_model = forward::Model::Load(forward::testing::kTinyModel,
                                         {.threads = 2, .numerics = kernels::Numerics::kFast});
  ASSERT_TRUE(fast_model) << fast_model.error();
  forward::Model& fast = **fast_model;
  const std::string fast_id = StateIdentity(model_id_, kernels::Numerics::kFast);
  EXPECT_EQ(StateIdentity(model_id_, kernels::Numerics::kExact), model_id_);
  ASSERT_EQ(fast_id.size(), 64u);
  EXPECT_NE(fast_id, model_id_);
  // Not the first fast contract's key: its states have other bits.
  EXPECT_NE(fast_id, Sha256Hex(model_id_ + "\nnumerics fast"));
  const auto prompt = Prompt(300);
  {
    auto store = Open(dir_, 0, fast_id);
    auto first =
        CachedPrefill(fast, *store, std::span(prompt).first(260), store->alignment_tokens());
    ASSERT_TRUE(first) << first.error();
    EXPECT_EQ(first->offered_tokens, 256);
  }
  // An exact store over the same directory finds nothing of the fast run.
  EXPECT_EQ(Open(dir_)->Lookup(prompt).tokens, 0);
  auto store = Open(dir_, 0, fast_id);
  auto warm = CachedPrefill(fast, *store, prompt, store->alignment_tokens());
  ASSERT_TRUE(warm) << warm.error();
  EXPECT_EQ(warm->cached_tokens, 256);
  forward::SequenceState cold = fast.NewSequence();
  auto cold_logits = fast.Forward(cold, prompt);
  ASSERT_TRUE(cold_logits) << cold_logits.error();
  const int64_t vocab = fast.config().vocab_size;
  EXPECT_TRUE(
      std::equal(warm->last_logits.begin(), warm->last_logits.end(), cold_logits->end() - vocab));
  EXPECT_EQ(SerializeState(warm->state), SerializeState(cold));
  EXPECT_EQ(
      Greedy(fast, warm->state, warm->last_logits, 6),
      Greedy(fast, cold, std::vector<float>(cold_logits->end() - vocab, cold_logits->end()), 6));
}

TEST_F(DiskPrefixStoreTest, LookupReturnsTheLongestUsablePrefix) {
  const auto prompt = Prompt(300);
  auto store = Open(dir_);
  StorePrefix(*store, std::vector<int32_t>(prompt.begin(), prompt.begin() + 128));
  StorePrefix(*store, std::vector<int32_t>(prompt.begin(), prompt.begin() + 256));
  EXPECT_EQ(store->Lookup(prompt).tokens, 256);
  EXPECT_EQ(store->Lookup(std::span(prompt).first(255)).tokens, 128);
  EXPECT_EQ(store->Lookup(std::span(prompt).first(127)).tokens, 0);
  auto other = prompt;
  other[5] += 1;  // a different prefix shares nothing
  EXPECT_EQ(store->Lookup(other).tokens, 0);
  // Through the server's interface.
  EXPECT_EQ(store->LongestPrefix(prompt, 200)->tokens, 128);
  EXPECT_FALSE(store->LongestPrefix(prompt, 100).has_value());
}

// Flipped bytes (payload and header), truncation, a record of another model copied over, a
// record renamed to another key: verify names each, and results equal a cold run.
TEST_F(DiskPrefixStoreTest, BadRecordsAreSkippedReportedAndRewritten) {
  const auto prompt = Prompt(300);
  const fs::path pristine = dir_ / "pristine";
  const fs::path other_model = dir_ / "other";
  {
    auto store = Open(pristine);
    StorePrefix(*store, std::vector<int32_t>(prompt.begin(), prompt.begin() + 128));
    StorePrefix(*store, std::vector<int32_t>(prompt.begin(), prompt.begin() + 256));
    auto other = Open(other_model, 0, Sha256Hex("another model"));
    StorePrefix(*other, std::vector<int32_t>(prompt.begin(), prompt.begin() + 256));
  }
  auto files = ListRecordFiles(pristine);
  ASSERT_EQ(files.size(), 4u);  // 2 blocks, 2 checkpoints
  auto other_files = ListRecordFiles(other_model);
  auto find = [](const std::vector<RecordFile>& fs_, const std::string& ext, int64_t size_rank) {
    std::vector<RecordFile> v;
    for (const auto& f : fs_) {
      if (f.path.extension() == ext) v.push_back(f);
    }
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return v.at(static_cast<size_t>(size_rank)).path;
  };
  struct Case {
    std::string name;
    std::function<void(const fs::path& dir)> damage;
    std::string reason;
    int64_t expect_hit;  // tokens still served from good records
  };
  auto rel = [&](const fs::path& p) { return fs::relative(p, pristine); };
  auto flip = [](const fs::path& p, int64_t at) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at, at < 0 ? std::ios::end : std::ios::beg);
    char c = 0;
    f.read(&c, 1);
    f.seekp(at, at < 0 ? std::ios::end : std::ios::beg);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  };
  // Which block is block 1 (covers 128..256)? The one whose header says end_tokens 256.
  fs::path block1, ckpt256;
  for (const auto& f : files) {
    if (EndTokens(f.path) == 256 && f.path.extension() == ".blk") block1 = f.path;
    if (EndTokens(f.path) == 256 && f.path.extension() == ".ckpt") ckpt256 = f.path;
  }
  ASSERT_FALSE(block1.empty());
  ASSERT_FALSE(ckpt256.empty());
  const std::vector<Case> cases = {
      {"flipped payload byte", [&](const fs::path& d) { flip(d / rel(block1), -100); },
       "checksum mismatch", 128},
      {"flipped header byte", [&](const fs::path& d) { flip(d / rel(ckpt256), 40); }, "", 128},
      {"truncated checkpoint",
       [&](const fs::path& d) { fs::resize_file(d / rel(ckpt256), fs::file_size(ckpt256) / 2); },
       "truncated", 128},
      {"record of another model",
       [&](const fs::path& d) {
         fs::copy_file(find(other_files, ".ckpt", 0), d / rel(ckpt256),
                       fs::copy_options::overwrite_existing);
       },
       "another model", 128},
      {"bad version",
       [&](const fs::path& d) {
         std::fstream f(d / rel(block1), std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(8);
         f.put(9);
       },
       "unsupported version", 128},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path d = dir_ / "case";
    fs::remove_all(d);
    fs::copy(pristine, d, fs::copy_options::recursive);
    c.damage(d);
    const auto bad = VerifyStore(d);
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_NE(bad[0].reason.find(c.reason), std::string::npos) << bad[0].reason;
    auto s = Open(d);
    auto hit = s->Lookup(std::span(prompt).first(299));
    EXPECT_EQ(hit.tokens, c.expect_hit);
    EXPECT_EQ(hit.skipped.size(), 1u);
    EXPECT_EQ(ExpectSameAsCold(d, prompt), c.expect_hit);
    // The cold part was recomputed and stored again: the store is whole.
    EXPECT_TRUE(VerifyStore(d).empty());
    EXPECT_EQ(Open(d)->Lookup(std::span(prompt).first(299)).tokens, 256);
  }
}

TEST_F(DiskPrefixStoreTest, VerifyRemoveDeletesBadRecords) {
  const auto prompt = Prompt(128);
  auto store = Open(dir_);
  StorePrefix(*store, prompt);
  auto files = ListRecordFiles(dir_);
  ASSERT_EQ(files.size(), 2u);
  fs::resize_file(files[0].path, 100);
  EXPECT_EQ(VerifyStore(dir_, /*remove=*/true).size(), 1u);
  EXPECT_TRUE(VerifyStore(dir_).empty());
  EXPECT_EQ(ListRecordFiles(dir_).size(), 1u);
}

// Two threads (each with its own store object, so their flocks are independent) and a forked
// process write overlapping prefixes into one directory at once; everything verifies and every
// prefix is found afterwards.
TEST_F(DiskPrefixStoreTest, SeveralWritersAtOnce) {
  forward::Model& m = TinyModel();
  std::vector<std::vector<int32_t>> prompts;
  std::vector<forward::SequenceState> states;
  for (uint32_t seed : {1u, 2u, 3u}) {
    auto p = Prompt(384, seed);  // the golden 340 tokens, then per-seed ids
    if (seed == 3) p[200] += 1;  // shares only block 0 with the others
    forward::SequenceState s = m.NewSequence();
    ASSERT_TRUE(m.Forward(s, p));
    prompts.push_back(p);
    states.push_back(std::move(s));
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = DiskPrefixStore::Open(m.config(), model_id_, {.dir = dir_});
    bool ok = static_cast<bool>(s);
    for (int i = 0; ok && i < 10; ++i)
      ok = static_cast<bool>((*s)->StoreAligned(prompts[0], states[0]));
    ::_exit(ok ? 0 : 1);
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto s = Open(dir_);
      for (int i = 0; i < 10; ++i) {
        const size_t k = static_cast<size_t>((t + i) % 3);
        if (!s->StoreAligned(prompts[k], states[k])) failures += 1;
        if (s->Lookup(prompts[k]).tokens % 128 != 0) failures += 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(VerifyStore(dir_).empty());
  auto store = Open(dir_);
  for (size_t k = 0; k < 3; ++k) {
    auto hit = store->Lookup(prompts[k]);
    EXPECT_EQ(hit.tokens, 384);
    EXPECT_EQ(SerializeState(hit.state), SerializeState(states[k]));
  }
  // Content-addressed: block 0 is common to all three and block 1 to two of them, stored once.
  EXPECT_EQ(ComputeStoreStats(dir_).models.begin()->second.blocks, 1 + 2 + 3);
}

TEST_F(DiskPrefixStoreTest, EvictionKeepsTheBudgetLeastRecentlyUsedFirst) {
  const auto a = Prompt(256);
  auto b = a;
  b[0] += 1;  // shares no block with a
  auto big = Open(dir_);
  StorePrefix(*big, a);
  const int64_t one_prefix = ComputeStoreStats(dir_).bytes;
  ASSERT_GT(one_prefix, 0);
  // Make a's records clearly older than b's.
  for (const auto& f : ListRecordFiles(dir_)) {
    fs::last_write_time(f.path, f.mtime - std::chrono::hours(1));
  }
  auto store = Open(dir_, one_prefix + one_prefix / 2);
  StorePrefix(*store, std::vector<int32_t>(b.begin(), b.end()));
  EXPECT_LE(ComputeStoreStats(dir_).bytes, one_prefix + one_prefix / 2);
  EXPECT_EQ(store->Lookup(b).tokens, 256);
  EXPECT_LT(store->Lookup(a).tokens, 256);
  auto pruned = PruneStore(dir_, 0);
  ASSERT_TRUE(pruned) << pruned.error();
  EXPECT_EQ(pruned->remaining_bytes, 0);
  EXPECT_TRUE(ListRecordFiles(dir_).empty());
}

// The shared first block of two chains is the oldest record of all (as after a long session that
// kept reusing a system prompt's state); eviction must still take the older chain's checkpoint
// and its own blocks, never the shared block that the newer chain needs.
TEST_F(DiskPrefixStoreTest, EvictionNeverStrandsAChain) {
  const auto a = Prompt(384);
  auto b = a;
  b[200] += 1;  // shares block 0 with a
  auto store = Open(dir_);
  StorePrefix(*store, a);
  StorePrefix(*store, b);
  ASSERT_EQ(ListRecordFiles(dir_).size(), 3u + 2u + 2u);  // blocks 0, a1, a2, b1, b2; 2 ckpts
  const auto now = fs::file_time_type::clock::now();
  std::string shared_block;
  for (const auto& f : ListRecordFiles(dir_)) {
    auto age = std::chrono::minutes(10);
    if (EndTokens(f.path) == 128) {
      age = std::chrono::hours(3);
      shared_block = f.path.filename().string();
    }
    fs::last_write_time(f.path, now - age);
  }
  ASSERT_FALSE(shared_block.empty());
  ASSERT_TRUE(store->Lookup(b).tokens == 384);  // refreshes b's chain
  const int64_t all = ComputeStoreStats(dir_).bytes;
  auto pruned = PruneStore(dir_, all - 1);  // must drop something
  ASSERT_TRUE(pruned) << pruned.error();
  EXPECT_EQ(pruned->removed_records, 3);  // a's checkpoint and its two own blocks
  EXPECT_EQ(pruned->removed_unusable, 0);
  EXPECT_TRUE(fs::exists(store->model_dir() / shared_block));
  EXPECT_EQ(store->Lookup(b).tokens, 384);
  EXPECT_EQ(store->Lookup(a).tokens, 0);
  EXPECT_TRUE(VerifyStore(dir_).empty());
}

// Records no lookup can use — a checkpoint whose middle block is gone, the blocks only it
// reached, a record of an older format version — go at the next prune, whatever the budget.
TEST_F(DiskPrefixStoreTest, PruneRemovesRecordsNoLookupCanUse) {
  const auto a = Prompt(384);
  auto store = Open(dir_);
  StorePrefix(*store, a);
  StorePrefix(*store, std::vector<int32_t>(a.begin(), a.begin() + 128));  // usable on its own
  fs::path middle;
  for (const auto& f : ListRecordFiles(dir_)) {
    if (EndTokens(f.path) == 256) middle = f.path;
  }
  ASSERT_FALSE(middle.empty());
  fs::remove(middle);
  // A version-1 record (the format before chains were recorded) under a plausible name.
  auto v1 = ReadFileToString(ListRecordFiles(dir_).front().path);
  ASSERT_TRUE(v1);
  (*v1)[8] = 1;
  const fs::path old = store->model_dir() / (std::string(64, 'a') + ".blk");
  ASSERT_TRUE(WriteFileAtomic(old, *v1));
  // And one as short as version 1 wrote them (a 216-byte header).
  std::string short_v1 = v1->substr(0, 216);
  const fs::path old_short = store->model_dir() / (std::string(64, 'c') + ".ckpt");
  ASSERT_TRUE(WriteFileAtomic(old_short, short_v1));
  auto bad = VerifyStore(dir_);
  ASSERT_EQ(bad.size(), 2u);
  for (const auto& b : bad) {
    EXPECT_NE(b.reason.find("unsupported version 1"), std::string::npos) << b.reason;
  }

  auto pruned = PruneStore(dir_, int64_t{1} << 40);
  ASSERT_TRUE(pruned) << pruned.error();
  // The 384 checkpoint, block 2 (only it reached that far) and the two version-1 records.
  EXPECT_EQ(pruned->removed_records, 4);
  EXPECT_EQ(pruned->removed_unusable, 4);
  EXPECT_EQ(ListRecordFiles(dir_).size(), 2u);  // block 0 and the 128 checkpoint
  EXPECT_EQ(store->Lookup(a).tokens, 128);
}

TEST_F(DiskPrefixStoreTest, UnalignedStoresStoreNothingAndMismatchedStatesAreErrors) {
  auto store = Open(dir_);
  forward::SequenceState s = TinyModel().NewSequence();
  const auto p = Prompt(130);
  ASSERT_TRUE(TinyModel().Forward(s, p));
  auto r = store->StoreAligned(p, s);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  EXPECT_FALSE(store->StoreAligned(std::span(p).first(128), s));
  EXPECT_TRUE(ListRecordFiles(dir_).empty());
}

}  // namespace
}  // namespace dsagent::engine::kv
