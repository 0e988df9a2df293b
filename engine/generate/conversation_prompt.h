// ConversationPrompt: the prompt text and token ids of one growing chat conversation, kept between
// turns so that the next turn renders and tokenizes only its new messages. For the in-process
// `local` provider, whose conversation only grows: at 1M tokens the prompt is megabytes, and
// rendering and tokenizing it whole (or even comparing it with the last one) every turn made the
// harness's work per turn grow with the session.
//
// Contract: text() == RenderChatPrompt of a request with these messages, tools and options, and
// ids() == tokenizer.Encode(text()), for every sequence of Append calls (tested against both).
// Rendering falls back to the whole prompt where the chat template rewrites earlier text
// (incremental_chat_encoding.h) and when tools are given but the first message is not a system
// message (the template then decides where the tools go only once it has seen every message).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/chat/incremental_chat_encoding.h"
#include "engine/generate/chat_completion.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

class ConversationPrompt {
 public:
  // A conversation of `request`'s shape: its tools, thinking mode and reasoning effort (its
  // messages are ignored; Append them). `tokenizer` must outlive this object.
  ConversationPrompt(const BpeTokenizer& tokenizer, const ChatRequest& request);

  // Appends the next message (OpenAI style, as ChatRequest::messages holds them). Error: a
  // message the encoder rejects (naming its index); it is then not added.
  Expected<Ok, std::string> Append(const OrderedJson& message);
  size_t size() const { return messages_; }

  // Renders and tokenizes the messages appended since the last Update. Returns false when
  // `cancel` fired while tokenizing: ids() is then incomplete, and the next Update tokenizes
  // the whole prompt again.
  bool Update(const CancelToken* cancel = nullptr);
  const std::string& text() const { return *text_; }
  const std::vector<int32_t>& ids() const { return encoding_.ids; }

  // How many Updates rendered the whole prompt again (tests, benchmarks).
  size_t full_renders() const;
  // Bytes of text() the last Update tokenized: those after the resume point it kept (tests,
  // benchmarks).
  size_t tokenized_bytes() const { return tokenized_bytes_; }

 private:
  const BpeTokenizer& tokenizer_;
  ChatRequest shape_;  // tools, thinking, reasoning effort; messages only when whole_
  size_t messages_ = 0;
  IncrementalChatEncoder encoder_;
  // Tools given and the first message is not a system one: rendered whole every time.
  bool whole_ = false;
  std::string whole_text_;
  size_t whole_renders_ = 0;

  const std::string* text_ = &whole_text_;
  BpeTokenizer::Encoding encoding_;
  bool encoding_valid_ = true;  // encoding_ is of the last text (not cancelled part-way)
  size_t tokenized_bytes_ = 0;
};

}  // namespace dsagent::engine
