// ChatOutputConstraint: the TokenConstraint (generator.h) a chat turn runs under when its request
// asks for one:
//  - a DSML grammar (engine/chat/dsml_grammar.h): a required / named tool call, or no DSML at all
//    (tool_choice none);
//  - a thinking budget: once the reasoning has used budget - 1 tokens, only "</think>" may come,
//    so the think block closes within `thinking_budget` tokens (the close tag included) and the
//    answer follows.
// Tokens are judged by their bytes (TokenBytesTable); EOS only where the grammar may end.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat/dsml_grammar.h"
#include "engine/generate/generator.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

// The bytes of every token id (what the decode loop appends to the text). Immutable once built.
class TokenBytesTable {
 public:
  TokenBytesTable(const BpeTokenizer& tokenizer, size_t model_vocab);
  // "" for ids without text (unused ids, ids past the tokenizer's vocabulary).
  const std::string& bytes(int32_t id) const;
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<std::string> bytes_;
};

struct ChatConstraintOptions {
  const DsmlGrammarSpec* grammar = nullptr;  // null: no grammar (only the budget)
  bool thinking = false;                     // the reply starts inside <think>
  int64_t thinking_budget = 0;               // <= 0: none
  int32_t eos = 1;
  int32_t end_think = -1;  // the </think> token id
};

class ChatOutputConstraint : public TokenConstraint {
 public:
  // `table` and options.grammar must outlive the constraint.
  ChatOutputConstraint(const TokenBytesTable& table, const ChatConstraintOptions& options);

  bool Allows(int32_t token) const override;
  bool Mask(std::span<float> logits) const override;
  void Accept(int32_t token) override;

 private:
  bool ForcedEndThink() const;

  const TokenBytesTable& table_;
  ChatConstraintOptions options_;
  std::optional<DsmlGrammar> grammar_;
  bool in_reasoning_;
  int64_t reasoning_tokens_ = 0;
  std::string think_tail_;  // the last bytes of the reasoning (a "</think>" spelt in pieces)
};

}  // namespace dsagent::engine
