// The weights' upload through page-locked staging buffers (kernels/cuda/upload_staging.h): the
// device gets the host's bytes at every size and offset, over many pieces and buffers shared by
// small copies, with the host's memory free to change once a call returns; page-locked sources
// go as they are; a bad shape is a clear error; a set of experts uploads through it. Run under
// the emulator's deferred streams too (tests/cuda_emulator/CMakeLists.txt), where a device copy
// runs only once something waits for it, so that a buffer filled again before its copy ran would
// give the wrong bytes. Skips without a device (fails with DSAGENT_REQUIRE_CUDA=1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/upload_staging.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda::upload_staging_test {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> DownloadAll(const DeviceBuffer& d, CudaStream& stream) {
  std::vector<uint8_t> v(d.bytes());
  d.Download(v.data(), v.size(), stream);
  return v;
}

constexpr size_t kPiece = 64 << 10;

TEST(CudaUploadStagingTest, EverySizeAndOffsetArrivesAndTheHostMayChangeItsBytesAtOnce) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  UploadStaging staging({.piece_bytes = kPiece, .buffers = 2, .threads = 2});
  // Sizes around the piece and the split over threads, and tiny copies that share a buffer, at
  // offsets that are not aligned; a stretch of the buffer between two copies stays as it was.
  const struct {
    size_t offset, n;
  } copies[] = {{0, 1},
                {1, 100},
                {101, kPiece - 101},
                {kPiece, kPiece},
                {2 * kPiece + 3, 3 * kPiece + 7},
                {5 * kPiece + 64, 700001},
                {1500000, 5},
                {1500010, 2 * kPiece}};
  const size_t total = 1500010 + 2 * kPiece;
  DeviceBuffer d(total);
  std::vector<uint8_t> expected(total, 0);
  d.Upload(expected.data(), total, stream);  // zeros, straight
  stream.SetUploadStaging(&staging);
  const int64_t before = StagedCopies();
  uint32_t seed = 1;
  for (const auto& c : copies) {
    std::vector<uint8_t> src = RandomBytes(c.n, seed++);
    std::memcpy(expected.data() + c.offset, src.data(), c.n);
    d.UploadAt(c.offset, src.data(), c.n, stream);
    // Read when the call returns: overwriting the source now must not reach the device.
    std::fill(src.begin(), src.end(), uint8_t{0xA5});
  }
  stream.SetUploadStaging(nullptr);
  EXPECT_EQ(DownloadAll(d, stream), expected);
  // Every byte went through the staging, in pieces of at most one buffer: more copies than calls.
  EXPECT_GT(StagedCopies() - before, static_cast<int64_t>(std::size(copies)));
}

TEST(CudaUploadStagingTest, UploadWholeBuffersThroughTheStreamsStaging) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::vector<DeviceBuffer> buffers;
  std::vector<std::vector<uint8_t>> sources;
  {
    UploadStaging staging({.piece_bytes = kPiece, .buffers = 3, .threads = 1});
    stream.SetUploadStaging(&staging);
    for (size_t n : {size_t{17}, kPiece * 5 + 1, size_t{4096}, kPiece - 1}) {
      sources.push_back(RandomBytes(n, static_cast<uint32_t>(n)));
      buffers.emplace_back(n);
      buffers.back().Upload(sources.back().data(), n, stream);
    }
    stream.SetUploadStaging(nullptr);
  }  // the staging's end waits for its copies
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(DownloadAll(buffers[i], stream), sources[i]) << "buffer " << i;
  }
}

// Page-locked memory goes to the device as it is: the staging takes no copy of it.
TEST(CudaUploadStagingTest, PageLockedSourcesGoAsTheyAre) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  PinnedHostBuffer pinned(3 * kPiece);
  const std::vector<uint8_t> bytes = RandomBytes(pinned.bytes(), 7);
  std::memcpy(pinned.as<uint8_t>(), bytes.data(), bytes.size());
  EXPECT_FALSE(UploadStaging::Takes(pinned.as<uint8_t>()));
  EXPECT_TRUE(UploadStaging::Takes(bytes.data()));
  UploadStaging staging({.piece_bytes = kPiece, .buffers = 2});
  stream.SetUploadStaging(&staging);
  DeviceBuffer d(pinned.bytes());
  const int64_t before = StagedCopies();
  d.Upload(pinned.as<uint8_t>(), pinned.bytes(), stream);
  stream.SetUploadStaging(nullptr);
  EXPECT_EQ(StagedCopies(), before);
  EXPECT_EQ(DownloadAll(d, stream), bytes);
}

TEST(CudaUploadStagingTest, AShapeWithoutBuffersOrBytesIsAClearError) {
  REQUIRE_CUDA_DEVICE();
  for (const UploadStagingShape& bad : {UploadStagingShape{.piece_bytes = 0, .buffers = 2},
                                        UploadStagingShape{.piece_bytes = kPiece, .buffers = 0}}) {
    try {
      UploadStaging staging(bad);
      ADD_FAILURE() << "a staging of " << bad.buffers << " x " << bad.piece_bytes;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("needs at least one buffer"));
    }
  }
}

// A set of FP4 experts as UploadModel uploads them (one synchronisation for the set), with
// ScopedUploadStaging on the stream: each expert's bytes and scales on the device; with the switch
// off the scope leaves the stream as it was.
TEST(CudaUploadStagingTest, AnExpertSetUploadsThroughTheScopedStaging) {
  REQUIRE_CUDA_DEVICE();
  const int64_t rows = 64, cols = 256, experts = 9;
  const size_t data_bytes = rows * cols / 2, scale_bytes = rows * (cols / 32);
  std::vector<std::vector<uint8_t>> data, scales;
  std::vector<WeightRows> weights;
  for (int64_t e = 0; e < experts; ++e) {
    data.push_back(RandomBytes(data_bytes, static_cast<uint32_t>(100 + e)));
    // Scales the kernels would accept (e8m0 around 1), though nothing computes with them here.
    scales.push_back(std::vector<uint8_t>(scale_bytes, static_cast<uint8_t>(120 + e)));
    weights.push_back(
        WeightRows{WeightFormat::kFP4, data.back().data(), scales.back().data(), cols, cols / 32});
  }
  const UploadStagingShape shape_before = UploadStagingShapeInUse();
  const bool on_before = UploadStagingOn();
  SetUploadStagingShape({.piece_bytes = 3000, .buffers = 2, .threads = 2});
  for (const bool on : {true, false}) {
    SetUploadStaging(on);
    CudaStream stream;
    const int64_t before = StagedCopies();
    DeviceWeightSet set;
    {
      ScopedUploadStaging staged(stream);
      EXPECT_EQ(stream.upload_staging() != nullptr, on);
      set = DeviceWeightSet::Upload(weights, rows, stream, experts - 2);
    }
    EXPECT_EQ(stream.upload_staging(), nullptr);
    // Each weight's bytes and scales in pieces of at most 3000 bytes; a copy may also end one
    // buffer and go on in the next. Then the views.
    const int64_t bytes = (experts - 2) * static_cast<int64_t>(data_bytes + scale_bytes);
    const int64_t calls = 2 * (experts - 2) + 1;
    if (on) {
      EXPECT_GE(StagedCopies() - before, bytes / 3000 + 1);
      EXPECT_LE(StagedCopies() - before, bytes / 3000 + 1 + calls);
    } else {
      EXPECT_EQ(StagedCopies(), before);
    }
    ASSERT_EQ(static_cast<int64_t>(set.weights.size()), experts - 2);
    for (int64_t e = 0; e < experts - 2; ++e) {
      EXPECT_EQ(DownloadAll(set.weights[e].data, stream), data[e]) << "expert " << e;
      EXPECT_EQ(DownloadAll(set.weights[e].scale, stream), scales[e]) << "expert " << e;
    }
  }
  SetUploadStagingShape(shape_before);
  SetUploadStaging(on_before);
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::upload_staging_test
