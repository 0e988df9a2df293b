// The steps of EncodeMessages (chat_encoding.h), shared by the one-shot encoder and the
// incremental one (incremental_chat_encoding.h) so that both render with the same code. Internal
// to engine/chat; everything else calls EncodeMessages or IncrementalChatEncoder.
//
// The encoding is a left fold over the preprocessed messages with a small state, except for what
// the whole list decides (EncodeScope): whether old reasoning is dropped (thinking mode, no message
// carrying tools) and which message is the last user turn.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/chat/chat_encoding.h"

namespace dsagent::engine::chat_steps {

// Tool messages become user messages of tool_result blocks; consecutive results (and a plain user
// text right after them) merge, ordered like the preceding assistant's tool_calls. Fed one input
// message at a time.
class MessagePreprocessor {
 public:
  // Adds input message `index`. Error: an unknown role (naming the index); nothing is added.
  Expected<Ok, std::string> Add(const OrderedJson& message, size_t index);
  // Closes a merged tool-result message (orders its blocks). Call at the end of the input.
  void Finish();

  // The preprocessed messages. While open(), the last one is a merged tool-result message that
  // the next input may still extend, its blocks in arrival order.
  const std::vector<OrderedJson>& messages() const { return out_; }
  bool open() const { return merging_; }
  // The last message as Finish() would leave it (a copy). Requires !messages().empty().
  OrderedJson ClosedLast() const;

 private:
  std::vector<OrderedJson> out_;
  std::vector<std::string> call_order_;  // tool_call ids of the last assistant message
  bool merging_ = false;                 // the last output message is a merged tool-result user
};

// What the whole (preprocessed) message list decides.
struct EncodeScope {
  const ChatEncodeOptions* options = nullptr;
  bool drop_thinking = true;  // options.drop_thinking, unless a message carries tools
  int last_user = -1;         // index of the last user or developer message; -1: none
};

// The fold's state between messages.
struct EncodeState {
  bool pending_transition = false;  // a user/developer message awaits "<｜Assistant｜>..."
  bool pending_think = false;       // ... and whether it opens <think>
  bool after_task = false;          // the previous message carried a task
};

bool CarriesTools(const OrderedJson& message);  // a non-empty "tools"
bool IsUserTurn(const OrderedJson& message);    // role user or developer
// Developer messages before the last user turn are left out when old reasoning is dropped.
bool Skipped(const OrderedJson& message, int index, const EncodeScope& scope);

std::string RenderStart(const ChatEncodeOptions& options);  // BOS and the max-effort preamble
// Appends preprocessed message `index` (not Skipped) to `out`.
void RenderMessage(const OrderedJson& message, int index, const EncodeScope& scope,
                   EncodeState& state, std::string& out);
// Appends the assistant transition the last message still awaits, if any.
void RenderEnd(const EncodeState& state, std::string& out);

}  // namespace dsagent::engine::chat_steps
