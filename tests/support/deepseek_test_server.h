// DeepSeekTestServer: a real HTTP server on 127.0.0.1 that speaks DeepSeek's API the way the hosted
// service does — OpenAI Chat Completions at /chat/completions and /v1/chat/completions, Anthropic
// Messages at /anthropic/v1/messages — including its quirks (keep-alive comments, the usage-only
// final chunk, the reasoning_content 400, the rejected `developer` role, prefix-cache accounting).
// Each test scripts the replies; protocol violations are answered the way DeepSeek answers them.
// Used by the provider tests and by end-to-end tests that run the real `dsagent` binary.
//
// Protocol checks applied to every chat request BEFORE a scripted reply is consumed (a failing
// check answers and leaves the script untouched):
//   1. wrong or missing key (Bearer or x-api-key)      -> 401 "Authentication Fails, Your api key:
//                                                          ****<last 4> is invalid"
//   2. malformed JSON                                   -> 400
//   3. a role outside system/user/assistant/tool/latest_reminder (Anthropic: user/assistant), e.g.
//      `developer`                                      -> 400 "unknown variant `developer`, ..."
//   4. thinking mode (the default unless thinking.type == "disabled") and an assistant message with
//      tool calls that lacks `reasoning_content` (Anthropic: a `thinking` block)
//                                                       -> 400 "The `reasoning_content` in the
//                                                          thinking mode must be passed back to
//                                                          the API."
//      With SetStrictReasoningAll(true), ANY assistant message lacking it (V3.2-era behaviour)
//                                                       -> 400 "Missing `reasoning_content` field
//                                                          in the assistant message at message
//                                                          index N"
//   5. no scripted reply left                           -> 500 naming the exhausted script
//
// Prefix-cache model (so cache-hit accounting can be tested), after DeepSeek's documented V4
// behaviour: per (model, user_id) the server keeps "persisted units" — the full prompt of every
// served request, and that prompt plus the assistant reply it produced, written the way the client
// is expected to replay it (reasoning only on tool-call turns). A request's hit is the longest
// persisted unit that is an exact message-level prefix of it, with identical tools (and, for the
// Anthropic format, system). Token counts are an approximation: ceil(bytes / 4) of the canonical
// JSON of the covered items (one item for tools/system, one per message). miss = total - hit;
// completion tokens ~ ceil(bytes / 4) of the reply text, reasoning and tool calls; reasoning tokens
// ~ ceil(bytes / 4) of the reasoning.
//
// Thread-safety: every public member may be called from any thread while the server runs.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/providers/message.h"
#include "agent/providers/provider.h"

namespace dsagent::testing {

struct ScriptedReply {
  enum class Kind {
    kAssistant,
    kHttpError,
    kCutStream,
    kBlock,
    // Faults (the API fault campaign, scripts/campaign-api-faults.sh):
    kDrop,       // the connection is shut down before any response byte (a reset)
    kMalformed,  // a streamed reply whose second event is a JSON object cut in half
    kDrip,       // the reply (content, tool calls) streamed one SSE piece every `drip_ms` ms
    kOversized,  // the reply with `oversized_bytes` bytes of 'x' before its content
  };
  Kind kind = Kind::kAssistant;
  // kAssistant: streamed as SSE in the requested wire format (OpenAI chunks or Anthropic events).
  std::string content;
  std::string reasoning;                      // streamed as reasoning_content / thinking deltas
  std::vector<dsagent::ToolCall> tool_calls;  // arguments streamed in 2+ fragments
  std::string finish_reason;                  // default: "tool_calls" if tool_calls else "stop"
  std::string model;                          // echoed model; default: the requested model
  int keep_alives = 1;  // `: keep-alive` comments (and blank lines) before the first chunk
  std::optional<dsagent::Usage> usage;  // default: computed by the server's prefix-cache model
  bool send_usage = true;               // false: omit the usage-only final chunk
  // kHttpError: this status and body (default body: DeepSeek-style {"error":{"message":...,
  // "type":...}}, or the Anthropic error shape on the Anthropic path).
  int status = 0;
  std::string error_message;
  std::optional<int> retry_after_s;  // adds a Retry-After header
  bool no_retry = false;             // adds `x-should-retry: false` (the SDKs' extension)
  std::string body;                  // when non-empty, sent verbatim instead of the default body
  // kCutStream: sends some content deltas (`content`), then closes the connection without
  // [DONE] / usage (Anthropic: without message_delta / message_stop).
  // kBlock: holds the request open until ReleaseBlocked() (or server shutdown), then serves
  // `then` (a 500 when `then` is null).
  std::shared_ptr<ScriptedReply> then;
  int drip_ms = 0;             // kDrip
  size_t oversized_bytes = 0;  // kOversized

  // Helpers.
  static ScriptedReply Text(std::string content, std::string reasoning = "");
  static ScriptedReply Calls(std::vector<dsagent::ToolCall> calls,
                             std::string reasoning = "thinking...");
  static ScriptedReply Error(int status, std::string message,
                             std::optional<int> retry_after_s = {});
  static ScriptedReply Cut(std::string partial_content);
  static ScriptedReply Block(ScriptedReply then);
  static ScriptedReply Fault(Kind kind);  // kDrop or kMalformed
  // What `dsagent serve` answers once its GPU is lost (engine/server/chat_server.cc): 503 with
  // code engine_unavailable and the device's reason, in the OpenAI envelope, or in Anthropic's
  // (`anthropic`: type api_error, and the code serve adds to it). Without serve's
  // x-should-retry header, so that the code alone is what a client goes by.
  static ScriptedReply EngineLost(bool anthropic = false);
};

// One tool call for ScriptedReply::Calls: `args` becomes the canonical JSON arguments string.
dsagent::ToolCall ScriptedCall(std::string id, std::string name, const nlohmann::json& args);
// A `bash` tool call running `command`.
dsagent::ToolCall ScriptedBash(std::string id, const std::string& command);

struct ReceivedRequest {
  std::string path;     // "/chat/completions", "/v1/chat/completions" or "/anthropic/v1/messages"
  int remote_port = 0;  // the client's port: equal ports mean one reused connection
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;                            // raw bytes as received
  nlohmann::json json;                         // parsed body (null if unparseable)
  int status = 0;        // the status the server answered with (0 while a kBlock reply is held)
  dsagent::Usage usage;  // what the server accounted for this request (zeros unless served)
};

class DeepSeekTestServer {
 public:
  DeepSeekTestServer();   // binds 127.0.0.1 on a free port and starts serving
  ~DeepSeekTestServer();  // releases held requests, stops and joins
  DeepSeekTestServer(const DeepSeekTestServer&) = delete;
  DeepSeekTestServer& operator=(const DeepSeekTestServer&) = delete;

  std::string BaseUrl() const;  // "http://127.0.0.1:<port>"
  int Port() const;
  void Enqueue(ScriptedReply reply);  // replies are consumed in order by chat requests
  void SetApiKey(std::string key);    // expected key (Bearer or x-api-key); default "test-key"
  // V3.2-era quirk: 400 "Missing `reasoning_content` field in the assistant message at message
  // index N" for ANY assistant message lacking it (not just tool-call turns), in thinking mode.
  void SetStrictReasoningAll(bool on);
  std::vector<ReceivedRequest> Requests() const;  // every chat request so far (thread-safe copy)
  // Blocks until at least n chat requests have arrived or the timeout passes; returns whether
  // they did.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  // Lets every chat request that has arrived so far continue past its kBlock reply (including
  // one that arrived but has not reached the block yet); later requests block again.
  void ReleaseBlocked();
  size_t Remaining() const;  // scripted replies not yet consumed
  // Consulted for a chat request (with its parsed body) when the script is empty, so that a
  // long-running server can answer from the conversation itself (e.g. the campaign server's
  // "N tool steps, then done"). Without one, an empty script answers 500.
  using Responder = std::function<ScriptedReply(const nlohmann::json& body)>;
  void SetResponder(Responder responder);
  // Keep only the last `n` requests' bodies in Requests() (a server answering thousands of
  // requests); default: all.
  void KeepBodies(size_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsagent::testing
