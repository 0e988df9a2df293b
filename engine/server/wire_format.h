// The seam between `dsagent serve`'s request handling (chat_server.cc: auth, limits, the request
// gate, cancellation, the engine call, logging) and the HTTP APIs it speaks. Each API is one
// WireFormat: it turns a request body into a format-neutral ChatRequest (OpenAI-style messages and
// tools, as the V4 chat encoding reads them) and a ChatResult back into its own response body or
// stream of events. Adapters: openai_chat.h (/v1/chat/completions), anthropic_messages.h
// (/v1/messages), openai_responses.h (/v1/responses). No I/O in any of them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/expected.h"
#include "engine/generate/chat_completion.h"

namespace dsagent::engine::server {

// The code of every answer from a server whose model can run nothing more (a lost GPU:
// SequenceModel::Lost). A client must not retry it: the server needs a restart.
inline constexpr const char* kEngineUnavailable = "engine_unavailable";

// An error to send: HTTP status, message, a machine-readable code (OpenAI's `code`, e.g.
// "context_length_exceeded") and the offending field when there is one. Each format renders it
// in its own envelope.
struct WireError {
  int status = 400;
  std::string message;
  std::string code = "invalid_request_error";
  std::string param;  // the offending field, when there is one
};

// Server-side defaults and caps a request is parsed against.
struct RequestDefaults {
  int64_t max_tokens = 4096;  // when the request names none
  int64_t context_limit = 0;  // <= 0: the model's max_position_embeddings
  // A request asking for more completion tokens than this gets this many (<= 0: no cap).
  int64_t max_tokens_limit = 0;
};

// A parsed request: the engine's part and what the adapter needs to answer it.
struct WireRequest {
  ChatRequest chat;
  std::string model;  // as requested ("" if absent)
  bool stream = false;
  bool include_usage = false;  // OpenAI chat: stream_options.include_usage
  // Request fields a format echoes in its response (Responses: instructions, tools, ...).
  OrderedJson echo = OrderedJson::object();
};

// What identifies one response.
struct ResponseInfo {
  std::string id;       // unique per response, with the format's prefix
  int64_t created = 0;  // unix seconds
  std::string model;    // the requested model, else the served model id
};

// One streamed response, as SSE text ("event: ...\ndata: ...\n\n"); each call returns the bytes
// to send next (maybe ""). Called in order: Begin, Delta*, End; or Error at any point.
class WireStream {
 public:
  virtual ~WireStream() = default;
  // Once the request runs and the prompt's cache hit is known (before the first token).
  virtual std::string Begin(const ChatUsage& prompt) = 0;
  // Reasoning and/or content text that became certain.
  virtual std::string Delta(const StreamingCompletionParser::Delta& delta) = 0;
  // The end: tool calls (they are complete only now), finish reason, usage, terminator.
  virtual std::string End(const ChatResult& result) = 0;
  // A failure after the 200 was sent.
  virtual std::string Error(const WireError& error) = 0;
  // Sent about once a second while the request waits in line.
  virtual std::string KeepAlive() { return ": keep-alive\n\n"; }
};

class WireFormat {
 public:
  virtual ~WireFormat() = default;
  // For log lines: "chat", "messages", "responses".
  virtual const char* name() const = 0;
  // The prefix of response ids ("chatcmpl-", "msg_", "resp_").
  virtual const char* id_prefix() const = 0;
  // Parses and checks a body. Error (400): malformed JSON, a missing or mistyped field (named in
  // `param`), an out-of-range value or something the engine cannot do (e.g. images).
  virtual Expected<WireRequest, WireError> Parse(const std::string& body,
                                                 const RequestDefaults& defaults) const = 0;
  // The error body in this format's envelope.
  virtual std::string ErrorBody(const WireError& error) const = 0;
  // The non-streamed response body.
  virtual std::string Body(const WireRequest& request, const ResponseInfo& info,
                           const ChatResult& result) const = 0;
  virtual std::unique_ptr<WireStream> Stream(const WireRequest& request,
                                             const ResponseInfo& info) const = 0;
};

// Never throws on bytes that are not UTF-8 (they become U+FFFD).
std::string DumpJson(const OrderedJson& json);
// "event: NAME\ndata: JSON\n\n".
std::string SseEvent(const std::string& event, const OrderedJson& data);
// A 400 naming `param`.
WireError BadField(const std::string& param, const std::string& message);
// j[key] when j is an object holding a string there, else `fallback` (never throws: a client's
// `"type": 5` must not become a 500).
std::string StringOr(const OrderedJson& j, const char* key, const std::string& fallback = "");
// A request body parsed as a JSON object. Error (400): not JSON, or JSON but not an object.
Expected<OrderedJson, WireError> ParseBodyObject(const std::string& text);
// body.model: "" when absent or null. Error (400): a value that is not a string.
Expected<std::string, WireError> ModelField(const OrderedJson& body);
// "base[i]": how errors name an element of an array field.
std::string ParamAt(const std::string& base, size_t i);
// Appends `text` to the last of the OpenAI-style `messages` if it has `role` (joined with "\n\n"),
// else adds a message. Keeps turns whole: the V4 format would put an empty assistant turn between
// two user turns.
void AppendTextMessage(OrderedJson& messages, const char* role, const std::string& text);
// body[key]; `fallback` when absent or null. Error: a value of another type.
Expected<int64_t, WireError> IntegerField(const OrderedJson& body, const char* key,
                                          int64_t fallback);
Expected<double, WireError> NumberField(const OrderedJson& body, const char* key, double fallback);
Expected<bool, WireError> BoolField(const OrderedJson& body, const char* key, bool fallback);
// temperature, top_p, top_k, min_p, seed: checked sampling parameters (greedy when absent).
Expected<SamplingParams, WireError> ParseSampling(const OrderedJson& body);
// The completion budget: `requested` (the request's value, or defaults.max_tokens) checked to be
// at least 1 and capped at defaults.max_tokens_limit. `param` names the field in errors.
Expected<int64_t, WireError> CompletionBudget(int64_t requested, const std::string& param,
                                              const RequestDefaults& defaults);
// Checks the parsed tool_choice against the parsed tools: a required call needs tools, a named
// tool must be among them, tool names must fit DSML. Error: 400 naming `param`.
Expected<bool, WireError> CheckToolChoice(const ChatRequest& chat, const std::string& param);
// The tool arguments the DSML parser produced (a JSON object as text) as an object: what
// Anthropic's tool_use.input carries. Text that is not a JSON object comes back as
// {"arguments": text} so nothing the model wrote is lost.
OrderedJson ArgumentsObject(const std::string& arguments);

}  // namespace dsagent::engine::server
