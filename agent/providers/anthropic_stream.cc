#include "agent/providers/anthropic_stream.h"

#include "agent/providers/json_fields.h"

namespace dsagent {

Usage AnthropicUsage(const Json& usage) {
  Usage u;
  u.input_cache_hit = OptionalInt(usage, "cache_read_input_tokens").value_or(0);
  u.input_cache_miss = OptionalInt(usage, "input_tokens").value_or(0) +
                       OptionalInt(usage, "cache_creation_input_tokens").value_or(0);
  u.output = OptionalInt(usage, "output_tokens").value_or(0);
  return u;
}

std::string FinishReasonFromStopReason(const std::string& stop_reason) {
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return "stop";
  if (stop_reason == "max_tokens") return "length";
  return stop_reason;
}

AnthropicStreamDecoder::AnthropicStreamDecoder(StreamSink& sink, std::string expected_model)
    : sink_(sink),
      expected_model_(std::move(expected_model)),
      parser_([this](const SseEvent& e) { return OnEvent(e); }) {
  out_.message.role = Role::kAssistant;
}

bool AnthropicStreamDecoder::Feed(std::string_view bytes) { return parser_.Feed(bytes); }

DecodedStream AnthropicStreamDecoder::Finish() {
  parser_.Finish();
  for (auto& [index, b] : blocks_) {
    if (b.type == "text") {
      out_.message.content += b.text;
    } else if (b.type == "thinking") {
      out_.message.reasoning += b.text;
      out_.message.has_reasoning = true;
    } else if (b.type == "tool_use") {
      std::string args = b.partial_json;
      if (args.empty()) args = b.input.is_object() ? CanonicalJson(b.input) : "{}";
      out_.message.tool_calls.push_back({b.id, b.name, std::move(args)});
    }
  }
  blocks_.clear();
  if (out_.usage_reported) out_.usage = AnthropicUsage(usage_);
  return std::move(out_);
}

bool AnthropicStreamDecoder::Fail(StreamError::Kind kind, std::string type, std::string message) {
  out_.error = StreamError{kind, std::move(type), std::move(message)};
  return false;
}

void AnthropicStreamDecoder::MergeUsage(const Json& usage) {
  if (!usage.is_object()) return;
  for (auto it = usage.begin(); it != usage.end(); ++it) usage_[it.key()] = it.value();
  out_.usage_reported = true;
}

bool AnthropicStreamDecoder::OnEvent(const SseEvent& event) {
  Json data = Json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded() || !data.is_object()) {
    return Fail(StreamError::Kind::kProtocol, "",
                "unparseable stream event: " + event.data.substr(0, 200));
  }
  // The `type` inside the data is authoritative; the `event:` line repeats it.
  const std::string type = OptionalString(data, "type").value_or(event.event);

  if (type == "message_start") {
    const Json& message = FieldOrNull(data, "message");
    if (auto model = OptionalString(message, "model"); model && !model->empty()) {
      out_.served_model = *model;
      if (!expected_model_.empty() && *model != expected_model_) {
        return Fail(StreamError::Kind::kModelMismatch, "",
                    "requested model " + expected_model_ + " but the server answered as " + *model);
      }
    }
    out_.response_id = OptionalString(message, "id").value_or("");
    MergeUsage(FieldOrNull(message, "usage"));
  } else if (type == "content_block_start") {
    const int64_t index = OptionalInt(data, "index").value_or(0);
    const Json& cb = FieldOrNull(data, "content_block");
    Block& b = blocks_[index];
    b.type = OptionalString(cb, "type").value_or("");
    if (b.type == "text" || b.type == "thinking") {
      b.text = OptionalString(cb, b.type == "text" ? "text" : "thinking").value_or("");
      if (!b.text.empty() && b.type == "text") sink_.OnContentDelta(b.text);
      if (!b.text.empty() && b.type == "thinking") sink_.OnReasoningDelta(b.text);
    } else if (b.type == "tool_use") {
      b.id = OptionalString(cb, "id").value_or("");
      b.name = OptionalString(cb, "name").value_or("");
      b.input = FieldOrNull(cb, "input");
      sink_.OnToolCallStart(b.id, b.name);
    }
  } else if (type == "content_block_delta") {
    Block& b = blocks_[OptionalInt(data, "index").value_or(0)];
    const Json& delta = FieldOrNull(data, "delta");
    const std::string delta_type = OptionalString(delta, "type").value_or("");
    if (delta_type == "text_delta") {
      const std::string text = OptionalString(delta, "text").value_or("");
      b.text += text;
      if (!text.empty()) sink_.OnContentDelta(text);
    } else if (delta_type == "thinking_delta") {
      const std::string text = OptionalString(delta, "thinking").value_or("");
      b.text += text;
      if (!text.empty()) sink_.OnReasoningDelta(text);
    } else if (delta_type == "input_json_delta") {
      b.partial_json += OptionalString(delta, "partial_json").value_or("");
    }
    // signature_delta and unknown delta types carry nothing the message keeps.
  } else if (type == "message_delta") {
    if (auto stop = OptionalString(FieldOrNull(data, "delta"), "stop_reason")) {
      out_.finish_reason = FinishReasonFromStopReason(*stop);
    }
    MergeUsage(FieldOrNull(data, "usage"));
  } else if (type == "message_stop") {
    out_.complete = true;
  } else if (type == "error") {
    const Json& err = FieldOrNull(data, "error");
    Fail(StreamError::Kind::kServer, OptionalString(err, "type").value_or(""),
         OptionalString(err, "message").value_or(event.data));
    out_.error->code = OptionalString(err, "code").value_or("");
    return false;
  }
  // ping, content_block_stop and unknown event types need no action.
  return true;
}

}  // namespace dsagent
