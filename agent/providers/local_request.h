// LocalRequestBuilder: the engine's chat request and prompt for an agent Request, for the
// in-process `local` provider, built so that a turn costs the harness its new messages only.
//
// The request is the one `dsagent serve` parses from the `openai-compatible` body of the same
// Request: its fields go through the server's parser (engine/server/openai_chat.h
// ParseChatFields), and each message is serialised exactly as in that body and checked by the
// server's CheckChatMessage. But no body is built or parsed whole: the prompt's text and token
// ids are kept between calls (engine::ConversationPrompt), and a call whose messages extend the
// last call's (the same MessageList storage, at least as many messages) with the same tools,
// thinking mode and effort converts, renders and tokenizes only the new messages (the model name
// and max_tokens may change). Any other call starts over.
//
// Not thread-safe (the provider serialises calls).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/providers/provider.h"
#include "engine/generate/conversation_prompt.h"
#include "engine/server/wire_format.h"

namespace dsagent {

class LocalRequestBuilder {
 public:
  explicit LocalRequestBuilder(const engine::BpeTokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Brings the request and prompt up to `request`. Errors: kInvalidRequest with the server's
  // message for what it would refuse (e.g. no messages, max_tokens < 1, a message the chat
  // template rejects); kCancelled when `cancel` fired while tokenizing.
  Expected<Ok, ProviderError> Build(const Request& request, int64_t context_limit,
                                    const CancelToken& cancel);

  // After a successful Build: the request's fields (chat.messages stays empty: the prompt below
  // is its rendering) ...
  const engine::ChatRequest& chat() const { return fields_.chat; }
  // ... and the prompt: RenderChatPrompt of the full request, and its token ids.
  const std::string& prompt_text() const { return prompt_->text(); }
  const std::vector<int32_t>& prompt_ids() const { return prompt_->ids(); }
  // How many Builds rendered the whole prompt (starts and the template's fallbacks).
  size_t full_renders() const { return full_renders_ + (prompt_ ? prompt_->full_renders() : 0); }

 private:
  const engine::BpeTokenizer& tokenizer_;
  std::string fields_bytes_;                            // the canonical fields of the last Build
  engine::server::WireRequest fields_;                  // ... parsed
  std::unique_ptr<engine::ConversationPrompt> prompt_;  // null until the first Build succeeds
  uint64_t storage_id_ = 0;  // the MessageList storage prompt_'s messages came from
  size_t full_renders_ = 0;  // of conversations started over (prompt_ counts its own)
};

}  // namespace dsagent
