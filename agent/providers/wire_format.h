// The seam between the shared HTTP/retry machinery (HttpProvider) and one wire format: where to
// POST, which headers, how a Request becomes bytes and how streamed bytes become a Response.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/providers/provider.h"
#include "agent/providers/wire_body.h"

namespace dsagent {

// A tool's JSON Schema as sent on the wire: an empty object schema when the tool declared none.
inline Json ParametersSchema(const ToolSpec& tool) {
  if (!tool.parameters.is_null()) return tool.parameters;
  return Json{{"type", "object"}, {"properties", Json::object()}};
}

// Something the server said inside an otherwise successful (HTTP 200) stream.
struct StreamError {
  enum class Kind {
    kServer,    // an error object/event from the server (`data: {"error":...}`, `event: error`)
    kProtocol,  // bytes that are not the documented format (unparseable JSON, ...)
    kModelMismatch,  // the stream names another model than the one requested
  };
  Kind kind = Kind::kServer;
  std::string type;     // the server's error type, e.g. "overloaded_error" (kServer only)
  std::string message;  // human-readable detail
  // The error's `code` where it has one (kServer only): OpenAI's, e.g. "context_length_exceeded";
  // `dsagent serve` also sends it in Anthropic's envelope, e.g. "engine_unavailable".
  std::string code;
};

// Everything one streamed response decoded to.
struct DecodedStream {
  Message message;            // role kAssistant, assembled from the deltas
  std::string finish_reason;  // normalised to Chat Completions names: stop, tool_calls, length
  Usage usage;
  bool usage_reported = false;  // the server sent usage
  std::string served_model;     // the `model` the stream named ("" if none)
  std::string response_id;      // the stream's id (chatcmpl-..., msg_...)
  bool complete = false;        // the terminal event arrived ([DONE] / message_stop)
  std::optional<StreamError> error;
};

// Decodes one response body as it arrives. Deltas are forwarded to the StreamSink as soon as they
// are parsed. Not thread-safe; one decoder per HTTP attempt.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // Consumes the next piece of the body (split at any byte). Returns false when decoding must stop
  // (an error event, a model mismatch, unparseable data); the reason is in Finish().error.
  virtual bool Feed(std::string_view bytes) = 0;
  // Call once, after the body ended or was cut. Returns what was decoded so far.
  virtual DecodedStream Finish() = 0;
};

class WireFormat {
 public:
  virtual ~WireFormat() = default;
  // The provider kind: "deepseek", "deepseek-anthropic", "openai-compatible".
  virtual std::string Name() const = 0;
  // The endpoint for `base_url` (no trailing slash).
  virtual std::string Url(const std::string& base_url) const = 0;
  // Header lines for one call; `api_key` may be empty (then no auth header is sent).
  virtual std::vector<std::string> Headers(const std::string& api_key) const = 0;
  // The request body as canonical JSON bytes (in pieces that may share the encoder's cache, so
  // building it costs what is new since the last body): equal Requests give equal bytes. With
  // `reasoning_on_every_assistant`, every assistant message carries its reasoning ("" when it has
  // none) — the repair for servers that reject history without it.
  virtual WireBody BuildBody(const Request& request, bool reasoning_on_every_assistant) const = 0;
  // A decoder that streams deltas to `sink`. When `expected_model` is non-empty, a response naming
  // another model stops with StreamError::kModelMismatch before any of its deltas reach the sink.
  virtual std::unique_ptr<StreamDecoder> NewDecoder(StreamSink& sink,
                                                    std::string expected_model) const = 0;
};

}  // namespace dsagent
