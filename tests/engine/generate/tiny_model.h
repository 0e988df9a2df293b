// The tiny golden checkpoint (tests/data/v4-tiny, vocab 512) and its test tokenizer
// (tests/data/v4-tiny-tokenizer), loaded once per test binary.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "engine/forward/model.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent::engine::testing {

inline const std::filesystem::path kTinyModelDir =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";
inline const std::filesystem::path kTinyTokenizer =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

inline forward::Model& TinyModel() {
  static std::unique_ptr<forward::Model> model = [] {
    auto m = forward::Model::Load(kTinyModelDir, {.threads = 1});
    if (!m) ADD_FAILURE() << m.error();
    return m ? std::move(*m) : nullptr;
  }();
  return *model;
}

// TinyModel() as generation sees it (the CPU's SequenceModel over it).
inline CpuSequenceModel& TinySequenceModel() {
  static CpuSequenceModel model(TinyModel());
  return model;
}

inline const BpeTokenizer& TinyTokenizer() {
  static std::unique_ptr<BpeTokenizer> tok = [] {
    auto t = LoadModelTokenizer({.tokenizer_file = kTinyTokenizer, .model_vocab_size = 512});
    if (!t) ADD_FAILURE() << t.error();
    return t ? std::move(*t) : nullptr;
  }();
  return *tok;
}

}  // namespace dsagent::engine::testing
