#include "engine/chat/incremental_chat_encoding.h"

#include <algorithm>

namespace dsagent::engine {

using chat_steps::EncodeScope;

IncrementalChatEncoder::IncrementalChatEncoder(ChatEncodeOptions options)
    : options_(std::move(options)) {
  text_ = chat_steps::RenderStart(options_);
  stable_bytes_ = text_.size();
  fold_drop_thinking_ = options_.drop_thinking;
}

Expected<Ok, std::string> IncrementalChatEncoder::Append(const OrderedJson& message) {
  const size_t before = pre_.messages().size();
  auto added = pre_.Add(message, appended_);
  if (!added) return added;
  ++appended_;
  // A message merged into the open tool-result message adds no tools and no new user turn.
  if (pre_.messages().size() > before) {
    const OrderedJson& last = pre_.messages().back();
    any_tools_ = any_tools_ || chat_steps::CarriesTools(last);
    if (chat_steps::IsUserTurn(last)) last_user_ = static_cast<int>(pre_.messages().size()) - 1;
  }
  return Ok{};
}

EncodeScope IncrementalChatEncoder::Scope() const {
  return {.options = &options_,
          .drop_thinking = options_.drop_thinking && !any_tools_,
          .last_user = last_user_};
}

void IncrementalChatEncoder::Refold() {
  text_ = chat_steps::RenderStart(options_);
  stable_bytes_ = text_.size();
  folded_ = 0;
  fold_state_ = {};
}

const std::string& IncrementalChatEncoder::Encode() {
  const EncodeScope scope = Scope();
  // Where the scope matters to the text (old reasoning dropped in thinking mode), the folded
  // text stays valid only while the scope it was folded under does.
  const bool scope_matters = options_.thinking && scope.drop_thinking;
  const bool valid = folded_ == 0 || (fold_drop_thinking_ == scope.drop_thinking &&
                                      (!scope_matters || fold_last_user_ == scope.last_user));
  std::string previous;
  const size_t kept = valid ? stable_bytes_ : 0;
  if (valid) {
    // The open tail is rendered again below, usually to the same bytes (a tool result that a
    // new assistant turn closes, the "<｜Assistant｜>" transition): kept to measure how much of
    // it is shared, so the tokenizer need not encode it again.
    previous_tail_.assign(text_, std::min(stable_bytes_, text_.size()));
    text_.resize(stable_bytes_);
  } else {
    previous = std::move(text_);
    Refold();
    ++full_renders_;
  }

  const auto& msgs = pre_.messages();
  const size_t closed = msgs.size() - (pre_.open() ? 1 : 0);
  for (; folded_ < closed; ++folded_) {
    const int at = static_cast<int>(folded_);
    if (!chat_steps::Skipped(msgs[folded_], at, scope)) {
      chat_steps::RenderMessage(msgs[folded_], at, scope, fold_state_, text_);
    }
  }
  stable_bytes_ = text_.size();
  fold_drop_thinking_ = scope.drop_thinking;
  fold_last_user_ = scope.last_user;

  chat_steps::EncodeState tail = fold_state_;
  if (pre_.open()) {
    const int at = static_cast<int>(msgs.size()) - 1;
    const OrderedJson last = pre_.ClosedLast();
    if (!chat_steps::Skipped(last, at, scope)) {
      chat_steps::RenderMessage(last, at, scope, tail, text_);
    }
  }
  chat_steps::RenderEnd(tail, text_);

  if (!encoded_once_) {
    reused_bytes_ = 0;
  } else if (valid) {
    const auto open = text_.begin() + static_cast<std::ptrdiff_t>(kept);
    reused_bytes_ =
        kept +
        static_cast<size_t>(
            std::mismatch(open, text_.end(), previous_tail_.begin(), previous_tail_.end()).first -
            open);
  } else {
    reused_bytes_ = static_cast<size_t>(
        std::mismatch(text_.begin(), text_.end(), previous.begin(), previous.end()).first -
        text_.begin());
  }
  encoded_once_ = true;
  return text_;
}

}  // namespace dsagent::engine
