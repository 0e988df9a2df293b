// The persistent KV prefix store's files (engine/kv): records on disk may be torn, corrupt or
// planted. The first input byte picks what the rest is fed to:
//   0: DecodeRecord on the bytes as they are;
//   1: DecodeRecord after the checksum field is recomputed, so the sizes, codec, LZ4 decompression
//      and hex fields are reached by inputs that are not valid records;
//   2: DeserializeState for the tiny test checkpoint's config (the payload decoder, which checks
//      every shape before the engine may use the state).
// A record that decodes re-encodes to a record that decodes to the same payload.
#include <cstring>
#include <filesystem>
#include <string>

#include "common/sha256.h"
#include "engine/kv/record_format.h"
#include "engine/kv/state_codec.h"
#include "engine/model/model_config.h"
#include "tests/fuzz/fuzz_target.h"

namespace kv = dsagent::engine::kv;

namespace {

const dsagent::engine::ModelConfig& TinyConfig() {
  static const dsagent::engine::ModelConfig config = [] {
    auto c = dsagent::engine::LoadModelConfig(std::filesystem::path(DSAGENT_SOURCE_DIR) /
                                              "tests/data/v4-tiny/config.json");
    if (!c) {
      std::fprintf(stderr, "fuzz_kv_record: %s\n", c.error().c_str());
      std::abort();
    }
    return *c;
  }();
  return config;
}

// The checksum covers bytes [0, 248) and the stored payload; it sits at [248, 280).
void FixChecksum(std::string* file) {
  if (file->size() < kv::kRecordHeaderBytes) return;
  const std::string covered = file->substr(0, 248) + file->substr(kv::kRecordHeaderBytes);
  const std::string hex = dsagent::Sha256Hex(covered);
  for (size_t i = 0; i < 32; ++i) (*file)[248 + i] = static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string bytes(dsagent::fuzz::AsText(data + 1, size - 1));
  switch (data[0] % 3) {
    case 2:
      (void)kv::DeserializeState(TinyConfig(), bytes);
      return 0;
    case 1:
      FixChecksum(&bytes);
      break;
    default:
      break;
  }
  auto record = kv::DecodeRecord(bytes);
  if (!record) return 0;
  auto header_only = kv::DecodeRecordHeader(bytes, bytes.size());
  FUZZ_CHECK(header_only.has_value(), "a record that decodes has a header that does not");
  const std::string again = kv::EncodeRecord(record->header, record->payload);
  auto reread = kv::DecodeRecord(again);
  FUZZ_CHECK(reread.has_value() && reread->payload == record->payload,
             "a decoded record does not survive re-encoding");
  return 0;
}
