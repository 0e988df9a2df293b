// The safetensors reader (engine/model/safetensors.h): a checkpoint file may be truncated, corrupt
// or hostile. Open either fails with a message or returns tensors whose byte ranges lie inside the
// mapped file (every first and last byte is read, so a bad range faults here, not in the engine).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/model/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("dsagent-fuzz-safetensors-" + std::to_string(getpid()) + ".safetensors");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto file = dsagent::engine::SafetensorsFile::Open(path);
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
