// IncrementalChatEncoder: EncodeMessages (chat_encoding.h) for a conversation that grows by
// appending messages, re-rendering only what the new messages can change. A session's prompt is
// megabytes at 1M tokens; rendering it whole every turn made each turn O(session).
//
// The prompt is a fold over the preprocessed messages (chat_encoding_steps.h). The encoder keeps
// the text of the messages that can no longer change and the fold's state after them; Encode()
// appends the messages closed since, then renders the open tail (a merged tool-result message
// that more results may still join, and the closing "<｜Assistant｜>" transition) on top. Earlier
// text changes only where the template itself rewrites it: when old reasoning is dropped (thinking
// mode, no message carrying tools), a new user turn turns the previous one's "<think>" into
// "</think>" and drops the reasoning of the turns after it. Then the whole prompt is rendered
// again (the fallback), as also when a message carrying tools first appears in such a list.
//
// Contract: after any sequence of Append calls, Encode() == EncodeMessages(all appended messages,
// options), byte for byte. Not thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "common/expected.h"
#include "engine/chat/chat_encoding.h"
#include "engine/chat/chat_encoding_steps.h"

namespace dsagent::engine {

class IncrementalChatEncoder {
 public:
  explicit IncrementalChatEncoder(ChatEncodeOptions options);

  // Appends the next message. Error: as EncodeMessages (an unknown role, naming the message's
  // index); the message is then not added.
  Expected<Ok, std::string> Append(const OrderedJson& message);
  size_t size() const { return appended_; }

  // The prompt of every message appended so far. O(new messages) unless the fallback applies.
  const std::string& Encode();
  // Bytes at the start of the last Encode() that equal the start of the one before it (all of
  // them: what the tokenizer may keep); 0 for the first. O(the open tail) to find.
  size_t reused_bytes() const { return reused_bytes_; }
  // How many Encode() calls rendered the whole prompt again (tests, benchmarks).
  size_t full_renders() const { return full_renders_; }

 private:
  chat_steps::EncodeScope Scope() const;
  void Refold();

  ChatEncodeOptions options_;
  chat_steps::MessagePreprocessor pre_;
  size_t appended_ = 0;
  bool any_tools_ = false;  // a preprocessed message carries tools
  int last_user_ = -1;      // index of the last user/developer preprocessed message

  // The fold: text_[0, stable_bytes_) renders pre_.messages()[0, folded_) with the scope it was
  // computed under; text_ past it is the open tail of the last Encode().
  std::string text_;
  size_t stable_bytes_ = 0;
  size_t folded_ = 0;
  chat_steps::EncodeState fold_state_;
  bool fold_drop_thinking_ = true;
  int fold_last_user_ = -1;

  std::string previous_tail_;  // the open tail of the last Encode(), while Encode() runs
  bool encoded_once_ = false;
  size_t reused_bytes_ = 0;
  size_t full_renders_ = 0;
};

}  // namespace dsagent::engine
