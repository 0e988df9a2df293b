// GET /v1/models (and /v1/models/{id}) in the two shapes clients expect. OpenAI clients read
// {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}; Anthropic's
// (Claude Code, the Anthropic SDKs) read {"data": [{"type": "model", "id", "display_name",
// "created_at"}], "has_more", "first_id", "last_id"} and identify themselves with an
// `anthropic-version` header or by sending the key as `x-api-key`. serve offers one model.
#pragma once

#include <cstdint>
#include <string>

#include "engine/chat/python_json.h"

namespace dsagent::engine::server {

struct ServedModel {
  std::string id;              // --model-id
  int64_t context_length = 0;  // tokens a request may use
  int64_t created = 0;         // unix seconds: when this server started
};

// True when the request comes from an Anthropic-style client.
bool WantsAnthropicModelList(bool has_anthropic_version_header, bool has_x_api_key_header);

OrderedJson OpenAiModel(const ServedModel& model);
OrderedJson OpenAiModelList(const ServedModel& model);
OrderedJson AnthropicModel(const ServedModel& model);
OrderedJson AnthropicModelList(const ServedModel& model);

// RFC 3339 UTC with seconds ("2026-12-02T17:00:00Z").
std::string Rfc3339Utc(int64_t unix_seconds);

}  // namespace dsagent::engine::server
