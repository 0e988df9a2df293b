#include "engine/server/wire_format.h"

#include <algorithm>

namespace dsagent::engine::server {

std::string DumpJson(const OrderedJson& json) {
  return json.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string SseEvent(const std::string& event, const OrderedJson& data) {
  return "event: " + event + "\ndata: " + DumpJson(data) + "\n\n";
}

WireError BadField(const std::string& param, const std::string& message) {
  return WireError{400, message, "invalid_request_error", param};
}

OrderedJson ArgumentsObject(const std::string& arguments) {
  OrderedJson parsed = OrderedJson::parse(arguments, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object()) return parsed;
  return OrderedJson{{"arguments", arguments}};
}

Expected<OrderedJson, WireError> ParseBodyObject(const std::string& text) {
  OrderedJson body = OrderedJson::parse(text, nullptr, false);
  if (body.is_discarded()) {
    return MakeUnexpected(BadField("", "the request body is not valid JSON"));
  }
  if (!body.is_object()) {
    return MakeUnexpected(BadField("", "the request body must be a JSON object"));
  }
  return body;
}

Expected<std::string, WireError> ModelField(const OrderedJson& body) {
  const auto it = body.find("model");
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) return MakeUnexpected(BadField("model", "model must be a string"));
  return it->get<std::string>();
}

std::string ParamAt(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

void AppendTextMessage(OrderedJson& messages, const char* role, const std::string& text) {
  if (!messages.empty() && messages.back().value("role", "") == role &&
      messages.back()["content"].is_string()) {
    messages.back()["content"] = messages.back()["content"].get<std::string>() + "\n\n" + text;
  } else {
    messages.push_back({{"role", role}, {"content", text}});
  }
}

std::string StringOr(const OrderedJson& j, const char* key, const std::string& fallback) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return fallback;
  return j[key].get<std::string>();
}

Expected<int64_t, WireError> IntegerField(const OrderedJson& body, const char* key,
                                          int64_t fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number_integer()) {
    return MakeUnexpected(BadField(key, std::string(key) + " must be an integer"));
  }
  return body[key].get<int64_t>();
}

Expected<double, WireError> NumberField(const OrderedJson& body, const char* key, double fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number()) {
    return MakeUnexpected(BadField(key, std::string(key) + " must be a number"));
  }
  return body[key].get<double>();
}

Expected<bool, WireError> BoolField(const OrderedJson& body, const char* key, bool fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_boolean()) {
    return MakeUnexpected(BadField(key, std::string(key) + " must be a boolean"));
  }
  return body[key].get<bool>();
}

Expected<SamplingParams, WireError> ParseSampling(const OrderedJson& body) {
  auto temperature = NumberField(body, "temperature", 0.0);
  if (!temperature) return MakeUnexpected(temperature.error());
  auto top_p = NumberField(body, "top_p", 1.0);
  if (!top_p) return MakeUnexpected(top_p.error());
  auto min_p = NumberField(body, "min_p", 0.0);
  if (!min_p) return MakeUnexpected(min_p.error());
  auto top_k = IntegerField(body, "top_k", 0);
  if (!top_k) return MakeUnexpected(top_k.error());
  auto seed = IntegerField(body, "seed", 0);
  if (!seed) return MakeUnexpected(seed.error());
  if (*temperature < 0 || *temperature > 2) {
    return MakeUnexpected(BadField("temperature", "temperature must be in [0, 2]"));
  }
  SamplingParams s{.temperature = *temperature,
                   .top_k = static_cast<int>(std::clamp<int64_t>(*top_k, -1, int64_t{1} << 30)),
                   .top_p = *top_p,
                   .min_p = *min_p,
                   .seed = static_cast<uint64_t>(*seed)};
  if (auto ok = CheckSamplingParams(s); !ok) {
    const std::string& bad = ok.error();
    return MakeUnexpected(BadField(bad.substr(0, bad.find(' ')), bad));
  }
  return s;
}

Expected<int64_t, WireError> CompletionBudget(int64_t requested, const std::string& param,
                                              const RequestDefaults& defaults) {
  if (requested < 1) return MakeUnexpected(BadField(param, param + " must be at least 1"));
  if (defaults.max_tokens_limit > 0) return std::min(requested, defaults.max_tokens_limit);
  return requested;
}

}  // namespace dsagent::engine::server

namespace dsagent::engine::server {

Expected<bool, WireError> CheckToolChoice(const ChatRequest& chat, const std::string& param) {
  auto grammar = ToolChoiceGrammar(chat);
  if (!grammar) return MakeUnexpected(BadField(param, param + ": " + grammar.error()));
  return true;
}

}  // namespace dsagent::engine::server
