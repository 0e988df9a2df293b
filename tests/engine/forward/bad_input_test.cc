// Bad inputs to the forward pass are clear errors, never crashes: out-of-vocabulary ids, a
// missing tensor, a wrong shape or dtype, a corrupt routing table, bad token files, a state from
// another model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "common/file_io.h"
#include "common/json.h"
#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::forward {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::kTinyModel;

// Copies the tiny checkpoint to `dir` with its safetensors header (and optionally its tensor
// bytes, offsets relative to the data section) edited.
void WriteEditedCheckpoint(const fs::path& dir, const std::function<void(Json&)>& edit_header,
                           const std::function<void(const Json&, std::string&)>& edit_data = {}) {
  fs::copy_file(kTinyModel / "config.json", dir / "config.json");
  const std::string bytes = *ReadFileToString(kTinyModel / "model.safetensors");
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  Json header = Json::parse(bytes.substr(8, header_len));
  std::string data = bytes.substr(8 + header_len);
  edit_header(header);
  if (edit_data) edit_data(header, data);
  const std::string h = header.dump();
  const uint64_t len = h.size();
  std::string out(reinterpret_cast<const char*>(&len), 8);
  out += h + data;
  ASSERT_TRUE(WriteFileAtomic(dir / "model.safetensors", out));
}

TEST(ForwardBadInputTest, OutOfVocabularyIdsAreRejectedBeforeAnyWork) {
  auto model = Model::Load(kTinyModel);
  ASSERT_TRUE(model) << model.error();
  SequenceState seq = (*model)->NewSequence();
  const std::vector<int32_t> bad = {0, 5, 512};
  auto r = (*model)->Forward(seq, bad);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("token id 512 at position 2"));
  EXPECT_THAT(r.error(), HasSubstr("[0, 512)"));
  EXPECT_EQ(seq.pos, 0);  // untouched
  const std::vector<int32_t> negative = {-1};
  EXPECT_THAT((*model)->Forward(seq, negative).error(), HasSubstr("token id -1"));
  EXPECT_THAT((*model)->Forward(seq, {}).error(), HasSubstr("no tokens"));
  // ComputeLogits checks every id up front, also those that would only be decoded later.
  const std::vector<int32_t> late = {0, 1, 2, 7000};
  auto l = ComputeLogits(**model, late, 1);
  ASSERT_FALSE(l);
  EXPECT_THAT(l.error(), HasSubstr("token id 7000 at position 3"));
  EXPECT_THAT(ComputeLogits(**model, late, 5).error(), HasSubstr("--prefill 5 exceeds"));
}

TEST(ForwardBadInputTest, StatesAndStreamsMustFitTheModel) {
  auto model = Model::Load(kTinyModel);
  ASSERT_TRUE(model);
  SequenceState foreign;  // not from NewSequence()
  const std::vector<int32_t> one = {3};
  EXPECT_THAT((*model)->Forward(foreign, one).error(), HasSubstr("not made for this model"));
  SequenceState seq = (*model)->NewSequence();
  const std::vector<float> streams(10, 0.0f);
  EXPECT_THAT((*model)->ForwardMtp(seq, streams, one).error(), HasSubstr("stream values"));
  EXPECT_THAT((*model)->ForwardMtp(seq, streams, one, 3).error(), HasSubstr("MTP block 3"));
}

TEST(ForwardBadInputTest, AnOpsBackendThisBuildLacksIsRefusedNamingTheOneToPass) {
  auto model = Model::Load(kTinyModel, {.threads = 1, .backend = kernels::OpsBackend::kCuda});
  ASSERT_FALSE(model);
  EXPECT_THAT(model.error(), HasSubstr("'cuda' is not available"));
  EXPECT_THAT(model.error(), HasSubstr("'cpu'"));
  auto cpu = Model::Load(kTinyModel, {.threads = 1, .backend = kernels::OpsBackend::kCpu});
  ASSERT_TRUE(cpu) << cpu.error();
}

TEST(ForwardBadInputTest, MissingTensorNamesTheTensorAndTheCheckpoint) {
  TempDir dir;
  WriteEditedCheckpoint(dir.path(), [](Json& h) {
    h["layers.2.attn.wkv.scal_"] = h["layers.2.attn.wkv.scale"];
    h.erase("layers.2.attn.wkv.scale");
  });
  auto model = Model::Load(dir.path());
  ASSERT_FALSE(model);
  EXPECT_THAT(model.error(), HasSubstr("tensor 'layers.2.attn.wkv.scale' is missing"));
  EXPECT_THAT(model.error(), HasSubstr(dir.path().string()));
}

TEST(ForwardBadInputTest, WrongShapeOrDtypeNamesTheTensorAndTheFile) {
  {
    TempDir dir;
    WriteEditedCheckpoint(dir.path(), [](Json& h) {
      h["layers.1.attn.attn_sink"]["shape"] = {2, 2};
    });
    auto model = Model::Load(dir.path());
    ASSERT_FALSE(model);
    EXPECT_THAT(model.error(), HasSubstr("tensor 'layers.1.attn.attn_sink' in model.safetensors"));
    EXPECT_THAT(model.error(), HasSubstr("expected BF16|F32 [4], got F32 [2,2]"));
  }
  {
    TempDir dir;
    WriteEditedCheckpoint(dir.path(), [](Json& h) {
      h["layers.0.attn.wq_a.weight"]["dtype"] = "I8";  // same byte size as F8_E4M3
    });
    auto model = Model::Load(dir.path());
    ASSERT_FALSE(model);
    EXPECT_THAT(model.error(), HasSubstr("'layers.0.attn.wq_a.weight'"));
    EXPECT_THAT(model.error(), HasSubstr("expected F8_E4M3 [128,128], got I8 [128,128]"));
  }
}

TEST(ForwardBadInputTest, HashRoutingTableMustNameExperts) {
  TempDir dir;
  WriteEditedCheckpoint(
      dir.path(), [](Json&) {},
      [](const Json& h, std::string& data) {
        const size_t at = h["layers.0.ffn.gate.tid2eid"]["data_offsets"][0].get<size_t>();
        const int64_t bad = 99;
        std::memcpy(&data[at + 8 * 5], &bad, 8);  // entry 5
      });
  auto model = Model::Load(dir.path());
  ASSERT_FALSE(model);
  EXPECT_THAT(model.error(), HasSubstr("'layers.0.ffn.gate.tid2eid'"));
  EXPECT_THAT(model.error(), HasSubstr("entry 5 is expert 99, outside [0, 8)"));
}

TEST(ForwardBadInputTest, TokenFilesAreValidated) {
  TempDir dir;
  EXPECT_THAT(ReadTokenFile(dir.path() / "absent.i32").error(), HasSubstr("absent.i32"));
  EXPECT_THAT(ReadTokenFile(dir.Write("odd.i32", "12345")).error(),
              HasSubstr("5 bytes is not a non-empty array of int32"));
  EXPECT_THAT(ReadTokenFile(dir.Write("empty.i32", "")).error(), HasSubstr("0 bytes"));
  const int32_t ids[2] = {7, 300};
  auto ok = ReadTokenFile(dir.Write("ok.i32", std::string(reinterpret_cast<const char*>(ids), 8)));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<int32_t>{7, 300}));
}

}  // namespace
}  // namespace dsagent::engine::forward
