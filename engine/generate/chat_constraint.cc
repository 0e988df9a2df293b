#include "engine/generate/chat_constraint.h"

#include <limits>

#include "engine/chat/chat_encoding.h"

namespace dsagent::engine {

TokenBytesTable::TokenBytesTable(const BpeTokenizer& tokenizer, size_t model_vocab) {
  bytes_.resize(model_vocab);
  const size_t known = std::min(model_vocab, tokenizer.vocab_size());
  for (size_t id = 0; id < known; ++id) {
    auto text = tokenizer.Decode({static_cast<int32_t>(id)});
    if (text) bytes_[id] = std::move(*text);
  }
}

const std::string& TokenBytesTable::bytes(int32_t id) const {
  static const std::string kNone;
  return id >= 0 && static_cast<size_t>(id) < bytes_.size() ? bytes_[static_cast<size_t>(id)]
                                                            : kNone;
}

ChatOutputConstraint::ChatOutputConstraint(const TokenBytesTable& table,
                                           const ChatConstraintOptions& options)
    : table_(table), options_(options), in_reasoning_(options.thinking) {
  if (options.grammar != nullptr) grammar_.emplace(*options.grammar);
}

bool ChatOutputConstraint::ForcedEndThink() const {
  return in_reasoning_ && options_.thinking_budget > 0 && options_.end_think >= 0 &&
         reasoning_tokens_ + 1 >= options_.thinking_budget;
}

bool ChatOutputConstraint::Allows(int32_t token) const {
  if (ForcedEndThink()) return token == options_.end_think;
  if (token == options_.eos) return !grammar_ || grammar_->MayEnd();
  if (!grammar_) return true;
  const std::string& bytes = table_.bytes(token);
  if (bytes.empty()) return false;
  DsmlGrammar copy = *grammar_;
  return copy.Feed(bytes);
}

bool ChatOutputConstraint::Mask(std::span<float> logits) const {
  constexpr float kOff = -std::numeric_limits<float>::infinity();
  // Most tokens fail on their first byte: test the 256 bytes once, then only the survivors.
  std::array<bool, 256> first{};
  if (grammar_) {
    for (int b = 0; b < 256; ++b) first[b] = grammar_->AcceptsByte(static_cast<unsigned char>(b));
  }
  bool any = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string& bytes = table_.bytes(id);
    const bool ok = (grammar_ && !ForcedEndThink() && id != options_.eos && !bytes.empty() &&
                     !first[static_cast<unsigned char>(bytes[0])])
                        ? false
                        : Allows(id);
    if (ok) {
      any = true;
    } else {
      logits[i] = kOff;
    }
  }
  return any;
}

void ChatOutputConstraint::Accept(int32_t token) {
  if (token == options_.eos) return;
  const std::string& bytes = table_.bytes(token);
  if (in_reasoning_) {
    ++reasoning_tokens_;
    think_tail_ += bytes;
    const std::string_view close = tokens::kEndThink;
    if (token == options_.end_think || think_tail_.find(close) != std::string::npos) {
      in_reasoning_ = false;
    } else if (think_tail_.size() > close.size()) {
      think_tail_.erase(0, think_tail_.size() - close.size());
    }
  }
  if (grammar_) grammar_->Feed(bytes);
}

}  // namespace dsagent::engine
