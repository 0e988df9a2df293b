// Provider: one model call. Implementations hide every wire-format quirk (OpenAI Chat vs Anthropic
// Messages, DeepSeek's reasoning_content rules, keep-alives, retries); the agent loop sees only
// Request -> Response. See DESIGN.md §4.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/providers/message.h"
#include "agent/providers/message_list.h"
#include "common/cancel.h"
#include "common/expected.h"
#include "common/json.h"

namespace dsagent {

// A lane is what the router chooses per call: which model, thinking on/off, and how hard to think.
struct Lane {
  std::string model;            // e.g. "deepseek-v4-flash"
  bool thinking = true;         // DeepSeek: thinking {"type":"enabled"|"disabled"}
  std::string effort = "high";  // "high" | "max" (ignored when thinking is off)

  bool operator==(const Lane&) const = default;
};

// A tool offered to the model. `parameters` is a JSON Schema object.
struct ToolSpec {
  std::string name;
  std::string description;
  Json parameters;
};

struct Request {
  Lane lane;
  MessageList messages;         // system first; replayed exactly as stored; copies are O(1)
  std::vector<ToolSpec> tools;  // sent in this order (the caller fixes it)
  int64_t max_output_tokens = 32768;
  std::string user_id;  // cache-isolation key; stable per repository ([A-Za-z0-9_-]+)
};

// Token usage normalised across wire formats. `output` includes `reasoning` (reasoning tokens are
// billed as output); input_cache_hit + input_cache_miss = all prompt tokens.
struct Usage {
  int64_t input_cache_hit = 0;
  int64_t input_cache_miss = 0;
  int64_t output = 0;
  int64_t reasoning = 0;

  Usage& operator+=(const Usage& o) {
    input_cache_hit += o.input_cache_hit;
    input_cache_miss += o.input_cache_miss;
    output += o.output;
    reasoning += o.reasoning;
    return *this;
  }
  bool operator==(const Usage&) const = default;
};

struct Response {
  Message message;            // role == kAssistant, exactly as received
  std::string finish_reason;  // "stop", "tool_calls", "length", ...
  Usage usage;
  bool usage_reported = true;  // false when the server never sent usage (e.g. cut stream)
  std::string served_model;    // the `model` the server echoed
  std::string request_id;      // server-assigned id, for support tickets
  int attempts = 1;            // HTTP attempts this call took (retries + 1)
  double latency_s = 0;        // wall time of the successful attempt
};

enum class ProviderErrorKind {
  kConfig,          // missing API key, bad base URL: fix configuration (exit 3)
  kAuth,            // 401: the key is wrong or revoked (exit 3)
  kBilling,         // 402: insufficient balance
  kInvalidRequest,  // 400/422 that could not be repaired
  kRateLimited,     // 429 after all retries
  kServer,          // 5xx after all retries
  kTransport,       // connection failures / cut streams after all retries
  kProtocol,        // the server answered something we cannot parse
  kModelMismatch,   // served model differs from the requested one
  kEngineLost,      // the engine can run nothing more (a GPU lost to a device fault): restart it
  kCancelled,       // the CancelToken fired
};

const char* ProviderErrorKindName(ProviderErrorKind kind);

struct ProviderError {
  ProviderErrorKind kind;
  int http_status = 0;  // 0 when no HTTP status applies
  std::string message;  // actionable, one paragraph, never contains the API key
};

// Receives a response as it streams. Called on the thread that called Complete(). All no-ops by
// default so a caller overrides only what it shows.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void OnReasoningDelta(std::string_view) {}
  virtual void OnContentDelta(std::string_view) {}
  virtual void OnToolCallStart(std::string_view /*id*/, std::string_view /*name*/) {}
  // Informational: a retry is about to happen after `delay`.
  virtual void OnRetry(int /*attempt*/, const std::string& /*why*/,
                       std::chrono::milliseconds /*delay*/) {}
};

class Provider {
 public:
  virtual ~Provider() = default;
  // Performs one model call, retrying transient failures internally. Never throws. Returns
  // kCancelled promptly once `cancel` fires.
  virtual Expected<Response, ProviderError> Complete(const Request& request, StreamSink& sink,
                                                     const CancelToken& cancel) = 0;
  // Short name for traces: "deepseek", "deepseek-anthropic", "openai-compatible".
  virtual std::string Name() const = 0;
};

}  // namespace dsagent
