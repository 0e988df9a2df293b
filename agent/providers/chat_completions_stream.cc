#include "agent/providers/chat_completions_stream.h"

#include <algorithm>

#include "agent/providers/json_fields.h"

namespace dsagent {

Usage ChatCompletionsUsage(const Json& usage) {
  Usage u;
  const int64_t prompt = OptionalInt(usage, "prompt_tokens").value_or(0);
  if (auto hit = OptionalInt(usage, "prompt_cache_hit_tokens")) {
    u.input_cache_hit = *hit;
  } else {
    u.input_cache_hit =
        OptionalInt(FieldOrNull(usage, "prompt_tokens_details"), "cached_tokens").value_or(0);
  }
  if (auto miss = OptionalInt(usage, "prompt_cache_miss_tokens")) {
    u.input_cache_miss = *miss;
  } else {
    u.input_cache_miss = std::max<int64_t>(0, prompt - u.input_cache_hit);
  }
  u.output = OptionalInt(usage, "completion_tokens").value_or(0);
  u.reasoning =
      OptionalInt(FieldOrNull(usage, "completion_tokens_details"), "reasoning_tokens").value_or(0);
  return u;
}

ChatCompletionsDecoder::ChatCompletionsDecoder(StreamSink& sink, std::string expected_model)
    : sink_(sink),
      expected_model_(std::move(expected_model)),
      parser_([this](const SseEvent& e) { return OnEvent(e); }) {
  out_.message.role = Role::kAssistant;
}

bool ChatCompletionsDecoder::Feed(std::string_view bytes) { return parser_.Feed(bytes); }

DecodedStream ChatCompletionsDecoder::Finish() {
  parser_.Finish();
  for (auto& [index, call] : calls_) {
    out_.message.tool_calls.push_back({call.id, call.name, call.arguments});
  }
  calls_.clear();
  return std::move(out_);
}

bool ChatCompletionsDecoder::Fail(StreamError::Kind kind, std::string type, std::string message) {
  out_.error = StreamError{kind, std::move(type), std::move(message)};
  return false;
}

bool ChatCompletionsDecoder::OnEvent(const SseEvent& event) {
  if (event.data == "[DONE]") {
    out_.complete = true;
    return true;
  }
  Json chunk = Json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (chunk.is_discarded() || !chunk.is_object()) {
    return Fail(StreamError::Kind::kProtocol, "",
                "unparseable stream event: " + event.data.substr(0, 200));
  }
  return OnChunk(chunk);
}

bool ChatCompletionsDecoder::OnChunk(const Json& chunk) {
  if (chunk.contains("error")) {
    const Json& err = chunk["error"];
    std::string message = err.is_string() ? err.get<std::string>()
                                          : OptionalString(err, "message").value_or(err.dump());
    Fail(StreamError::Kind::kServer, OptionalString(err, "type").value_or(""), std::move(message));
    out_.error->code = OptionalString(err, "code").value_or("");
    return false;
  }
  if (auto model = OptionalString(chunk, "model"); model && !model->empty()) {
    out_.served_model = *model;
    if (!expected_model_.empty() && *model != expected_model_) {
      return Fail(StreamError::Kind::kModelMismatch, "",
                  "requested model " + expected_model_ + " but the server answered as " + *model);
    }
  }
  if (out_.response_id.empty()) out_.response_id = OptionalString(chunk, "id").value_or("");
  if (const Json& usage = FieldOrNull(chunk, "usage"); usage.is_object()) {
    out_.usage = ChatCompletionsUsage(usage);
    out_.usage_reported = true;
  }
  const Json& choices = FieldOrNull(chunk, "choices");
  if (!choices.is_array()) return true;
  for (const Json& choice : choices) {
    if (OptionalInt(choice, "index").value_or(0) != 0) continue;  // n > 1 is never requested
    const Json& delta = FieldOrNull(choice, "delta");
    auto reasoning = OptionalString(delta, "reasoning_content");
    if (!reasoning) reasoning = OptionalString(delta, "reasoning");
    if (reasoning) {
      out_.message.reasoning += *reasoning;
      out_.message.has_reasoning = true;
      if (!reasoning->empty()) sink_.OnReasoningDelta(*reasoning);
    }
    if (auto content = OptionalString(delta, "content"); content && !content->empty()) {
      out_.message.content += *content;
      sink_.OnContentDelta(*content);
    }
    if (const Json& calls = FieldOrNull(delta, "tool_calls"); calls.is_array()) {
      for (const Json& call : calls) OnToolCallDelta(call);
    }
    if (auto finish = OptionalString(choice, "finish_reason")) out_.finish_reason = *finish;
  }
  return true;
}

void ChatCompletionsDecoder::OnToolCallDelta(const Json& delta) {
  const auto id = OptionalString(delta, "id");
  int index;
  if (auto i = OptionalInt(delta, "index")) {
    index = static_cast<int>(*i);
  } else if (id && !id->empty() &&
             (last_index_ < 0 ||
              (!calls_[last_index_].id.empty() && calls_[last_index_].id != *id))) {
    index = last_index_ + 1;  // a server without `index`: a new id starts a new call
  } else {
    index = std::max(last_index_, 0);
  }
  last_index_ = std::max(last_index_, index);
  PartialCall& call = calls_[index];
  if (id && !id->empty() && call.id.empty()) call.id = *id;
  const Json& function = FieldOrNull(delta, "function");
  if (auto name = OptionalString(function, "name"); name && call.name.empty()) call.name = *name;
  if (auto args = OptionalString(function, "arguments")) call.arguments += *args;
  if (!call.announced && !call.id.empty() && !call.name.empty()) {
    call.announced = true;
    sink_.OnToolCallStart(call.id, call.name);
  }
}

}  // namespace dsagent
