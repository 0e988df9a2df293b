#include "engine/server/model_list.h"

#include <ctime>

namespace dsagent::engine::server {

bool WantsAnthropicModelList(bool has_anthropic_version_header, bool has_x_api_key_header) {
  return has_anthropic_version_header || has_x_api_key_header;
}

std::string Rfc3339Utc(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

OrderedJson OpenAiModel(const ServedModel& model) {
  return {{"id", model.id},
          {"object", "model"},
          {"created", model.created},
          {"owned_by", "dsagent"},
          {"context_length", model.context_length}};
}

OrderedJson OpenAiModelList(const ServedModel& model) {
  return {{"object", "list"}, {"data", OrderedJson::array({OpenAiModel(model)})}};
}

OrderedJson AnthropicModel(const ServedModel& model) {
  return {{"type", "model"},
          {"id", model.id},
          {"display_name", model.id + " (dsagent serve)"},
          {"created_at", Rfc3339Utc(model.created)}};
}

OrderedJson AnthropicModelList(const ServedModel& model) {
  return {{"data", OrderedJson::array({AnthropicModel(model)})},
          {"has_more", false},
          {"first_id", model.id},
          {"last_id", model.id}};
}

}  // namespace dsagent::engine::server
