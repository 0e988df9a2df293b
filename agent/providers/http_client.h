// One streaming HTTP POST over libcurl, cancellable from another thread. Providers use it for every
// model call; it knows nothing about JSON, SSE or retries.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancel.h"

namespace dsagent {

// Connections, TLS sessions and DNS answers kept between calls, so that the next model call of a
// session reuses the open connection instead of a new TCP and TLS handshake each step (what
// curl's share interface offers), and the curl handles of finished calls, so that the next call
// does not allocate and set up its buffers again. Thread-safe: calls on several threads may use
// one pool (each takes its own handles).
class HttpConnectionPool {
 public:
  HttpConnectionPool();
  ~HttpConnectionPool();
  HttpConnectionPool(const HttpConnectionPool&) = delete;
  HttpConnectionPool& operator=(const HttpConnectionPool&) = delete;

  struct Impl;  // the curl share handle and its locks; only http_client.cc uses it
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct HttpRequest {
  std::string url;
  // Full header lines ("Authorization: Bearer ..."). Never logged and never copied into errors.
  std::vector<std::string> headers;
  // The body as pieces sent one after another (a session's body can be megabytes, most of it
  // shared with the encoder's cache): not copied, must outlive the call.
  std::span<const std::string_view> body;
  int connect_timeout_s = 30;
  // The transfer fails as kTransport when no response byte at all (headers, body, keep-alive
  // comments) arrives for this long, counted from the start of the call. Minimum 1 s.
  int idle_timeout_s = 600;
  // Where open connections are kept for the next call; null: a new connection per call.
  HttpConnectionPool* connections = nullptr;
};

struct HttpResult {
  enum class Outcome {
    kCompleted,  // the server answered and the body ended normally (any status)
    kTransport,  // connect failure, reset, stall past idle_timeout_s, body cut mid-way
    kCancelled,  // the CancelToken fired
    kAborted,    // the body callback returned false
  };
  Outcome outcome = Outcome::kTransport;
  int status = 0;                    // HTTP status of the final response; 0 if none arrived
  std::optional<int> retry_after_s;  // Retry-After in seconds (the HTTP-date form is ignored)
  std::string request_id;            // x-request-id (or request-id) response header, if any
  // `x-should-retry: false`: the server says a retry cannot help (the OpenAI and Anthropic SDKs
  // honour it; `dsagent serve` sends it when its GPU is lost).
  bool server_says_no_retry = false;
  std::string error_body;       // body of a non-2xx answer, at most 64 KiB
  std::string transport_error;  // curl's description when outcome == kTransport
};

// Called with each piece of a 2xx response body as it arrives, at arbitrary byte boundaries.
// Return false to abort the transfer (the result is then Outcome::kAborted).
using BodyCallback = std::function<bool(std::string_view bytes)>;

// Performs one POST. Never throws. Cancellation is noticed within ~50 ms, also while waiting for a
// server that sends nothing. Thread-safe: every call uses its own curl handles, taken from
// `request.connections` when it has idle ones (curl's global initialisation happens once, on
// first use).
HttpResult HttpPost(const HttpRequest& request, const BodyCallback& on_body,
                    const CancelToken& cancel);

}  // namespace dsagent
