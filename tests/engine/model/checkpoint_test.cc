#include "engine/model/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "engine/model/loaded_pages.h"
#include "tests/support/memory_map.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kTiny = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";

TEST(CheckpointTest, GoldenTinyCheckpointMatchesTheInventoryExactly) {
  auto ck = Checkpoint::Open(kTiny);
  ASSERT_TRUE(ck) << ck.error();
  const InventoryReport& r = (*ck)->report();
  EXPECT_TRUE(r.missing.empty()) << ::testing::PrintToString(r.missing);
  EXPECT_TRUE(r.unexpected.empty()) << ::testing::PrintToString(r.unexpected);
  EXPECT_TRUE(r.mismatched.empty()) << ::testing::PrintToString(r.mismatched);
  EXPECT_EQ((*ck)->Tensors().size(), 508u);  // the golden README's count
  const TensorInfo* embed = (*ck)->Find("embed.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::kBF16);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{512, 128}));
  EXPECT_EQ(embed->size_bytes, 512u * 128 * 2);
}

TEST(WeightResidencyTest, ParsesItsThreeNamesAndResolvesAutoByTheMemoryAvailable) {
  for (WeightResidency r :
       {WeightResidency::kAuto, WeightResidency::kMapped, WeightResidency::kLoaded}) {
    EXPECT_EQ(ParseWeightResidency(WeightResidencyName(r)), r);
  }
  EXPECT_EQ(ParseWeightResidency("mmap"), WeightResidency::kMapped);
  EXPECT_EQ(ParseWeightResidency("load"), WeightResidency::kLoaded);
  EXPECT_FALSE(ParseWeightResidency("ram"));
  EXPECT_FALSE(ParseWeightResidency(""));
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  // auto: loaded while the files fit in half the available memory.
  EXPECT_EQ(ResolveWeightResidency(WeightResidency::kAuto, 3 * kGiB, 6 * kGiB),
            WeightResidency::kLoaded);
  EXPECT_EQ(ResolveWeightResidency(WeightResidency::kAuto, 3 * kGiB + 1, 6 * kGiB),
            WeightResidency::kMapped);
  EXPECT_EQ(ResolveWeightResidency(WeightResidency::kAuto, 1, 0), WeightResidency::kMapped);
  // Explicit choices are kept whatever the memory.
  EXPECT_EQ(ResolveWeightResidency(WeightResidency::kLoaded, 100 * kGiB, kGiB),
            WeightResidency::kLoaded);
  EXPECT_EQ(ResolveWeightResidency(WeightResidency::kMapped, 1, 100 * kGiB),
            WeightResidency::kMapped);
  EXPECT_GT(AvailableMemoryBytes(), 0u);  // Linux: /proc/meminfo has MemAvailable
  // An explicit load more than the available memory is refused, saying what to do instead.
  EXPECT_EQ(LoadRefusal(6 * kGiB, 6 * kGiB), std::nullopt);
  EXPECT_EQ(LoadRefusal(100 * kGiB, 0), std::nullopt);       // unknown: no refusal
  const auto why = LoadRefusal(171798691840, 128849018880);  // 160 GiB of files, 120 GiB free
  ASSERT_TRUE(why);
  EXPECT_EQ(*why,
            "--weights load needs 171.80 GB of memory for the weight files, and 128.85 GB is "
            "available (MemAvailable); map them instead: --weights mmap (or auto, which loads "
            "only what fits in half of it)");
}

TEST(WeightResidencyTest, LoadedFilesHoldTheBytesAMappingShows) {
  auto mapped = SafetensorsFile::Open(kTiny / "model.safetensors", WeightResidency::kMapped);
  auto loaded = SafetensorsFile::Open(kTiny / "model.safetensors", WeightResidency::kLoaded);
  ASSERT_TRUE(mapped) << mapped.error();
  ASSERT_TRUE(loaded) << loaded.error();
  ASSERT_EQ((*mapped)->tensors().size(), (*loaded)->tensors().size());
  for (const auto& [name, t] : (*mapped)->tensors()) {
    const TensorInfo* other = (*loaded)->Find(name);
    ASSERT_NE(other, nullptr) << name;
    ASSERT_EQ(other->size_bytes, t.size_bytes) << name;
    EXPECT_NE(other->data, t.data) << name;  // a copy, not the same mapping
    EXPECT_EQ(std::memcmp(other->data, t.data, t.size_bytes), 0) << name;
  }
  for (WeightResidency r : {WeightResidency::kMapped, WeightResidency::kLoaded}) {
    auto ck = Checkpoint::Open(kTiny, r);
    ASSERT_TRUE(ck) << ck.error();
    EXPECT_EQ((*ck)->residency(), r);
  }
  // auto never stays auto: a 4 MB checkpoint fits in any machine's free memory.
  auto ck = Checkpoint::Open(kTiny);
  ASSERT_TRUE(ck) << ck.error();
  EXPECT_EQ((*ck)->residency(), WeightResidency::kLoaded);
}

// A file of several load pieces (64 MiB each, read by several threads): the loaded copy holds
// every byte a mapping shows, the last partial piece included.
TEST(WeightResidencyTest, AFileOfSeveralPiecesLoadsWhole) {
  TempDir dir;
  const size_t n = (size_t{64} << 20) * 2 + 12345;
  const std::string header = R"({"t":{"dtype":"I8","shape":[)" + std::to_string(n) +
                             R"(],"data_offsets":[0,)" + std::to_string(n) + "]}}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes.push_back(static_cast<char>(x >> 24));
  }
  const fs::path file = dir.Write("big.safetensors", bytes);
  auto mapped = SafetensorsFile::Open(file, WeightResidency::kMapped);
  auto loaded = SafetensorsFile::Open(file, WeightResidency::kLoaded);
  ASSERT_TRUE(mapped) << mapped.error();
  ASSERT_TRUE(loaded) << loaded.error();
  const TensorInfo* a = (*mapped)->Find("t");
  const TensorInfo* b = (*loaded)->Find("t");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->size_bytes, n);
  EXPECT_NE(a->data, b->data);
  EXPECT_EQ(std::memcmp(a->data, b->data, n), 0);
}

// Files larger than any machine's memory (a sparse 8 TB file: no disk space taken): an explicit
// load is refused before anything is read, naming the directory and what to do.
TEST(WeightResidencyTest, AnExplicitLoadBeyondTheAvailableMemoryIsRefused) {
  TempDir dir;
  fs::copy_file(kTiny / "config.json", dir.path() / "config.json");
  const fs::path file = dir.path() / "model.safetensors";
  { std::ofstream(file.string()).put('\0'); }
  std::error_code ec;
  fs::resize_file(file, uint64_t{8} << 40, ec);
  if (ec) GTEST_SKIP() << "this file system takes no 8 TB sparse file: " << ec.message();
  auto ck = Checkpoint::Open(dir.path(), WeightResidency::kLoaded);
  ASSERT_FALSE(ck);
  EXPECT_THAT(ck.error(), HasSubstr(dir.path().string() + ": --weights load needs 8796.09 GB"));
  EXPECT_THAT(ck.error(), HasSubstr("map them instead: --weights mmap"));
}

TEST(WeightResidencyTest, AFileThatCannotBeLoadedIsNamedWithTheReason) {
  TempDir dir;
  const auto missing = dir.path() / "nope.safetensors";
  auto f = SafetensorsFile::Open(missing, WeightResidency::kLoaded);
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error(), HasSubstr("nope.safetensors"));
  // A truncated file loads its bytes, then fails the header check like a mapped one.
  const auto header = dir.Write("short.safetensors", std::string("\xff\xff\0\0\0\0\0\0{}", 10));
  f = SafetensorsFile::Open(header, WeightResidency::kLoaded);
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error(), HasSubstr("exceeds the file size"));
  // Something that opens but cannot be read (a directory): the read's error, naming it.
  f = SafetensorsFile::Open(dir.path(), WeightResidency::kLoaded);
  ASSERT_FALSE(f);
  EXPECT_THAT(f.error(), HasSubstr(dir.path().string() + ": reading byte 0 failed: "));
}

// The page arithmetic of giving a loaded file back (loaded_pages.h), on 16-byte pages: kept
// ranges widen to the pages they touch, the rest joins up, the last partial page counts whole.
TEST(LoadedPagesTest, PagesOutsideTheKeptRangesJoinUp) {
  const auto pages = [](uintptr_t begin, size_t size, std::vector<AddressRange> keep) {
    std::vector<std::pair<uintptr_t, uintptr_t>> out;
    for (const AddressRange& r : PagesOutside(begin, size, std::move(keep), 16)) {
      out.emplace_back(r.begin, r.end);
    }
    return out;
  };
  using P = std::vector<std::pair<uintptr_t, uintptr_t>>;
  EXPECT_EQ(pages(160, 100, {}), (P{{160, 272}}));  // 100 bytes: 7 pages
  // One byte kept takes its page; two ranges given out of order; one outside the file.
  EXPECT_EQ(pages(160, 100, {{200, 201}}), (P{{160, 192}, {208, 272}}));
  EXPECT_EQ(pages(160, 100, {{250, 260}, {161, 170}, {400, 500}}), (P{{176, 240}}));
  // Overlapping and touching kept ranges, and an empty one (ignored).
  EXPECT_EQ(pages(0, 128, {{20, 40}, {30, 50}, {64, 80}, {90, 90}}), (P{{0, 16}, {80, 128}}));
  EXPECT_EQ(pages(0, 128, {{20, 40}, {50, 60}}), (P{{0, 16}, {64, 128}}));
  EXPECT_EQ(pages(0, 128, {{20, 40}, {70, 75}}), (P{{0, 16}, {48, 64}, {80, 128}}));
  // Everything kept: nothing given back.
  EXPECT_EQ(pages(0, 64, {{0, 64}}), P{});
}

// The placement's line for each outcome of a giving back.
TEST(LoadedPagesTest, TheLineSaysHowMuchWentBackOrWhyNothingDid) {
  const int64_t one_and_a_half = int64_t{3} << 29;
  EXPECT_EQ(DescribeReturnedPages(one_and_a_half, true),
            "loaded weights: 1.50 GiB that the GPU holds given back to the files' page cache (the "
            "host experts' stay loaded)");
  EXPECT_EQ(DescribeReturnedPages(one_and_a_half, false),
            "loaded weights: 1.50 GiB that the GPU holds given back to the files' page cache");
  EXPECT_EQ(DescribeReturnedPages(int64_t{0}, true),
            "loaded weights: kept in memory (a file changed since it was read)");
  EXPECT_EQ(DescribeReturnedPages(MakeUnexpected(std::string("x.safetensors: no")), true),
            "loaded weights: kept in memory (x.safetensors: no)");
}

using testing::MappedFrom;

// A loaded file's pages outside the kept range go back to being the file's (read the same bytes,
// mapped from the file); the kept tensor stays in the loaded copy. A mapped file, or one that
// changed on disk since it was read, gives nothing back.
TEST(LoadedPagesTest, ALoadedFileGivesItsPagesOutsideTheKeptOnesBackToTheFile) {
  TempDir dir;
  const fs::path file = dir.path() / "model.safetensors";
  fs::copy_file(kTiny / "model.safetensors", file);
  auto mapped = SafetensorsFile::Open(file, WeightResidency::kMapped);
  auto loaded = SafetensorsFile::Open(file, WeightResidency::kLoaded);
  ASSERT_TRUE(mapped) << mapped.error();
  ASSERT_TRUE(loaded) << loaded.error();
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // Keep the largest tensor; look for one that lies a page away from it on either side.
  const TensorInfo* kept = nullptr;
  for (const auto& [name, t] : (*loaded)->tensors()) {
    if (kept == nullptr || t.size_bytes > kept->size_bytes) kept = &t;
  }
  ASSERT_NE(kept, nullptr);
  ASSERT_GE(kept->size_bytes, 2 * page);
  const TensorInfo* away = nullptr;
  for (const auto& [name, t] : (*loaded)->tensors()) {
    if (t.size_bytes >= 2 * page && (t.data + t.size_bytes + page <= kept->data ||
                                     t.data >= kept->data + kept->size_bytes + page)) {
      away = &t;
    }
  }
  ASSERT_NE(away, nullptr);
  EXPECT_EQ(MappedFrom(away->data), "");  // loaded: anonymous memory
  const auto keep =
      std::vector<AddressRange>{{reinterpret_cast<uintptr_t>(kept->data),
                                 reinterpret_cast<uintptr_t>(kept->data + kept->size_bytes)}};

  auto none = (*mapped)->ReturnPagesToFile(keep);
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(*none, 0);

  auto given = (*loaded)->ReturnPagesToFile(keep);
  ASSERT_TRUE(given) << given.error();
  const size_t file_pages = (fs::file_size(file) + page - 1) / page * page;
  EXPECT_EQ(*given % static_cast<int64_t>(page), 0);
  EXPECT_LE(*given, static_cast<int64_t>(file_pages - kept->size_bytes));
  EXPECT_GE(*given, static_cast<int64_t>(file_pages - kept->size_bytes - 2 * page));
  EXPECT_EQ(MappedFrom(away->data), fs::canonical(file).string());
  EXPECT_EQ(MappedFrom(kept->data), "");
  EXPECT_EQ(MappedFrom(kept->data + kept->size_bytes - 1), "");
  // Every tensor still reads the file's bytes.
  for (const auto& [name, t] : (*mapped)->tensors()) {
    const TensorInfo* other = (*loaded)->Find(name);
    ASSERT_NE(other, nullptr) << name;
    EXPECT_EQ(std::memcmp(other->data, t.data, t.size_bytes), 0) << name;
  }

  // Changed since it was read (its modification time moves on): the copy is all there is.
  auto again = SafetensorsFile::Open(file, WeightResidency::kLoaded);
  ASSERT_TRUE(again) << again.error();
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
  auto changed = (*again)->ReturnPagesToFile({});
  ASSERT_TRUE(changed) << changed.error();
  EXPECT_EQ(*changed, 0);
  EXPECT_EQ(MappedFrom((*again)->Find(away->name)->data), "");
}

TEST(CheckpointTest, ShardedCheckpointsResolveThroughTheIndex) {
  TempDir dir;
  fs::copy_file(kTiny / "config.json", dir.path() / "config.json");
  fs::copy_file(kTiny / "model.safetensors", dir.path() / "model-00001-of-00001.safetensors");
  auto single = SafetensorsFile::Open(kTiny / "model.safetensors");
  ASSERT_TRUE(single);
  Json map = Json::object();
  for (const auto& [name, t] : (*single)->tensors()) map[name] = "model-00001-of-00001.safetensors";
  dir.Write("model.safetensors.index.json", Json{{"weight_map", map}}.dump());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck) << ck.error();
  EXPECT_TRUE((*ck)->report().ok());

  map["ghost.weight"] = "model-00001-of-00001.safetensors";
  dir.Write("model.safetensors.index.json", Json{{"weight_map", map}}.dump());
  auto ghost = Checkpoint::Open(dir.path());
  ASSERT_FALSE(ghost);
  EXPECT_THAT(ghost.error(), HasSubstr("ghost.weight"));
}

TEST(CheckpointTest, TruncatedFileNamesTheTensorAndTheFile) {
  TempDir dir;
  fs::copy_file(kTiny / "config.json", dir.path() / "config.json");
  const std::string bytes = *ReadFileToString(kTiny / "model.safetensors");
  dir.Write("model.safetensors", bytes.substr(0, bytes.size() - 1000));
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_FALSE(ck);
  EXPECT_THAT(ck.error(), HasSubstr("model.safetensors"));
  EXPECT_THAT(ck.error(), HasSubstr("tensor '"));
  EXPECT_THAT(ck.error(), HasSubstr("truncated"));
}

TEST(CheckpointTest, BadHeadersAreClearErrors) {
  TempDir dir;
  const auto short_file = dir.Write("short.safetensors", "abc");
  EXPECT_THAT(SafetensorsFile::Open(short_file).error(), HasSubstr("too short"));
  std::string huge_len(8, '\xff');
  const auto huge = dir.Write("huge.safetensors", huge_len + "{}");
  EXPECT_THAT(SafetensorsFile::Open(huge).error(), HasSubstr("header length"));
  std::string len(8, '\0');
  len[0] = 5;
  const auto garbage = dir.Write("garbage.safetensors", len + "notjs");
  EXPECT_THAT(SafetensorsFile::Open(garbage).error(), HasSubstr("not a JSON object"));
  const std::string header = R"({"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})";
  std::string l2(8, '\0');
  l2[0] = static_cast<char>(header.size());
  const auto dtype = dir.Write("dtype.safetensors", l2 + header + "zz");
  EXPECT_THAT(SafetensorsFile::Open(dtype).error(), HasSubstr("unsupported dtype"));
  const std::string shape = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})";
  std::string l3(8, '\0');
  l3[0] = static_cast<char>(shape.size());
  const auto bad_shape = dir.Write("shape.safetensors", l3 + shape + "abcd");
  EXPECT_THAT(SafetensorsFile::Open(bad_shape).error(), HasSubstr("needs 8 bytes"));
}

TEST(CheckpointTest, MissingAndWrongTensorsAreReported) {
  auto config = LoadModelConfig(kTiny / "config.json");
  ASSERT_TRUE(config);
  auto file = SafetensorsFile::Open(kTiny / "model.safetensors");
  ASSERT_TRUE(file);
  std::vector<const TensorInfo*> present;
  TensorInfo wrong;
  for (const auto& [name, t] : (*file)->tensors()) {
    if (name == "head.weight") continue;  // missing
    if (name == "norm.weight") {
      wrong = t;
      wrong.shape = {64};
      present.push_back(&wrong);
      continue;
    }
    present.push_back(&t);
  }
  TensorInfo extra;
  extra.name = "layers.0.attn.bogus";
  extra.dtype = DType::kF32;
  present.push_back(&extra);
  const InventoryReport r = CheckInventory(*config, present);
  EXPECT_EQ(r.missing, std::vector<std::string>{"head.weight"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"layers.0.attn.bogus"});
  ASSERT_EQ(r.mismatched.size(), 1u);
  EXPECT_THAT(r.mismatched[0], HasSubstr("norm.weight: want BF16[128], got BF16[64]"));
}

}  // namespace
}  // namespace dsagent::engine
