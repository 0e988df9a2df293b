#include "engine/model/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "common/file_io.h"
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
