#include "agent/providers/local_request.h"

#include "agent/providers/chat_completions.h"
#include "engine/server/openai_chat.h"

namespace dsagent {
namespace {

ProviderError Invalid(std::string message) {
  return {ProviderErrorKind::kInvalidRequest, 0, "local engine: " + std::move(message)};
}

// The prompt depends on the tools, thinking and effort only (not on the model name or
// max_tokens, which a router may change from call to call).
bool SameRendering(const engine::ChatRequest& a, const engine::ChatRequest& b) {
  return a.thinking == b.thinking && a.reasoning_effort == b.reasoning_effort && a.tools == b.tools;
}

}  // namespace

Expected<Ok, ProviderError> LocalRequestBuilder::Build(const Request& request,
                                                       int64_t context_limit,
                                                       const CancelToken& cancel) {
  // The body's fields are small (the tool schemas): serialised every call, parsed when changed.
  const std::string fields =
      CanonicalJson(ChatCompletionsFields(request, OpenAiCompatibleDialect()));
  if (request.messages.empty()) {
    return MakeUnexpected(Invalid("messages must be a non-empty array"));
  }
  if (prompt_ == nullptr || fields != fields_bytes_) {
    auto parsed = engine::server::ParseChatFields(
        engine::OrderedJson::parse(fields),
        {.max_tokens = request.max_output_tokens, .context_limit = context_limit});
    if (!parsed) return MakeUnexpected(Invalid(parsed.error().message));
    if (prompt_ != nullptr && !SameRendering(parsed->chat, fields_.chat)) prompt_.reset();
    fields_ = std::move(*parsed);
    fields_bytes_ = fields;
  }
  const bool continues = prompt_ != nullptr && request.messages.storage_id() == storage_id_ &&
                         request.messages.size() >= prompt_->size();
  if (!continues) {
    storage_id_ = request.messages.storage_id();
    prompt_ = std::make_unique<engine::ConversationPrompt>(tokenizer_, fields_.chat);
    ++full_renders_;
  }
  fields_.chat.generate.context_limit = context_limit;
  for (size_t i = prompt_->size(); i < request.messages.size(); ++i) {
    // As in the body: serialised canonically (invalid UTF-8 replaced), then read back.
    const std::string bytes = CanonicalJson(ChatCompletionsMessage(request.messages[i], false));
    auto message = engine::server::CheckChatMessage(engine::OrderedJson::parse(bytes), i);
    auto added = message ? prompt_->Append(*message)
                         : Expected<Ok, std::string>(MakeUnexpected(message.error().message));
    if (!added) {
      prompt_.reset();  // part of the conversation is in; start over next time
      return MakeUnexpected(Invalid(added.error()));
    }
  }
  if (!prompt_->Update(&cancel)) {
    return MakeUnexpected(
        ProviderError{ProviderErrorKind::kCancelled, 0, "local engine: cancelled"});
  }
  return Ok{};
}

}  // namespace dsagent
