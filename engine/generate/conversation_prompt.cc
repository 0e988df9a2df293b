#include "engine/generate/conversation_prompt.h"

#include <algorithm>

namespace dsagent::engine {
namespace {

ChatEncodeOptions EncodeOptions(const ChatRequest& request) {
  ChatEncodeOptions options;
  options.thinking = request.thinking;
  options.reasoning_effort = request.reasoning_effort;
  return options;
}

bool HasTools(const OrderedJson& tools) { return tools.is_array() && !tools.empty(); }

}  // namespace

ConversationPrompt::ConversationPrompt(const BpeTokenizer& tokenizer, const ChatRequest& request)
    : tokenizer_(tokenizer), encoder_(EncodeOptions(request)) {
  shape_.tools = HasTools(request.tools) ? request.tools : OrderedJson();
  shape_.thinking = request.thinking;
  shape_.reasoning_effort = request.reasoning_effort;
}

Expected<Ok, std::string> ConversationPrompt::Append(const OrderedJson& message) {
  const bool has_tools = !shape_.tools.is_null();
  const bool is_system = message.is_object() && message.value("role", "") == "system";
  if (messages_ == 0 && has_tools && !is_system) {
    // RenderChatPrompt puts the tools on the first system message, or on one it inserts at the
    // front when there is none: where they go is known only at the end, so render whole.
    whole_ = true;
  }
  if (whole_) {
    // Checked by the encoder like any message, so errors read the same.
    if (auto added = encoder_.Append(message); !added) return added;
    shape_.messages.push_back(message);
  } else if (messages_ == 0 && has_tools) {
    OrderedJson system = message;
    system["tools"] = shape_.tools;
    if (auto added = encoder_.Append(system); !added) return added;
  } else {
    if (auto added = encoder_.Append(message); !added) return added;
  }
  ++messages_;
  return Ok{};
}

bool ConversationPrompt::Update(const CancelToken* cancel) {
  size_t shared = 0;
  if (whole_) {
    auto rendered = RenderChatPrompt(shape_);
    // The same messages passed the encoder in Append, so rendering cannot fail here.
    std::string text = rendered ? std::move(*rendered) : std::string();
    shared = static_cast<size_t>(
        std::mismatch(text.begin(), text.end(), whole_text_.begin(), whole_text_.end()).first -
        text.begin());
    whole_text_ = std::move(text);
    text_ = &whole_text_;
    ++whole_renders_;
  } else {
    text_ = &encoder_.Encode();
    shared = encoder_.reused_bytes();
  }
  if (!encoding_valid_) shared = 0;
  tokenized_bytes_ = text_->size() - tokenizer_.EncodeInPlace(encoding_, *text_, shared, cancel);
  encoding_valid_ = cancel == nullptr || !cancel->IsCancelled();
  return encoding_valid_;
}

size_t ConversationPrompt::full_renders() const {
  return whole_ ? whole_renders_ : encoder_.full_renders();
}

}  // namespace dsagent::engine
