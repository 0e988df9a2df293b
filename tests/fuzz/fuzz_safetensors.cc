// The safetensors reader (engine/model/safetensors.h): a checkpoint file may be truncated, corrupt
// or hostile. Open either fails with a message or returns tensors whose byte ranges lie inside the
// mapped file (every first and last byte is read, so a bad range faults here, not in the engine).
#include "engine/model/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsagent::fuzz::ScratchPath scratch("model.safetensors");
  dsagent::fuzz::WriteBytes(scratch.path(), dsagent::fuzz::AsText(data, size));
  auto file = dsagent::engine::SafetensorsFile::Open(scratch.path());
  if (file) {
    unsigned sum = 0;
    for (const auto& [name, t] : (*file)->tensors()) {
      if (t.size_bytes == 0) continue;
      FUZZ_CHECK(t.data != nullptr, "a tensor with bytes but no data pointer");
      sum += t.data[0] + t.data[t.size_bytes - 1];
    }
    volatile unsigned sink = sum;
    (void)sink;
  }
  return 0;
}
