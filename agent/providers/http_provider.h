// HttpProvider: a Provider that talks to a model API over HTTP in one WireFormat. It owns what
// every HTTP provider shares: the streaming POST, the retry loop, the reasoning_content repair, the
// served-model check and the mapping of HTTP statuses to ProviderError.
//
// Retry rules (DESIGN.md §4):
//  - 429, 500, 502, 503, 504, transport failures and streams cut before their final event are
//    retried with the byte-identical body (the prefix cache depends on it), up to
//    RetryPolicy::max_attempts attempts, waiting Backoff::Delay (Retry-After honoured, capped)
//    after calling StreamSink::OnRetry(retry_number, reason, delay). The wait ends early on cancel.
//  - A cut stream is retried as a whole request: the sink may see the deltas of the cut attempt
//    and then the deltas of the retry again from the beginning. The returned Response holds only
//    the successful attempt.
//  - HTTP 400 asking for reasoning_content: resent once with reasoning on every assistant message
//    (this resend does not use up a retry); a second such 400 is kInvalidRequest.
//  - 401 -> kAuth, 402 -> kBilling, other 4xx -> kInvalidRequest; all fatal at once.
//  - After the last attempt: kRateLimited, kServer or kTransport naming the attempt count and the
//    last error.
// Error messages never contain the API key. Thread-safety: Complete() may be called from several
// threads at once (no mutable state is shared between calls).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "agent/providers/http_client.h"
#include "agent/providers/provider_factory.h"
#include "agent/providers/wire_format.h"

namespace dsagent {

class HttpProvider : public Provider {
 public:
  // `options.base_url` must already be validated (http(s)://, no trailing slash).
  HttpProvider(std::unique_ptr<WireFormat> wire, ProviderOptions options);

  Expected<Response, ProviderError> Complete(const Request& request, StreamSink& sink,
                                             const CancelToken& cancel) override;
  std::string Name() const override { return wire_->Name(); }

 private:
  struct AttemptFailure {
    ProviderError error;
    bool retryable = false;
    bool asks_for_reasoning = false;
    std::optional<int> retry_after_s;
  };
  Expected<Response, ProviderError> CompleteWithRetries(const Request& request, StreamSink& sink,
                                                        const CancelToken& cancel);
  Expected<Response, AttemptFailure> Attempt(const WireBody& body, const Request& request,
                                             StreamSink& sink, const CancelToken& cancel) const;
  AttemptFailure FailureFromStatus(int status, const std::string& error_body) const;
  // "DeepSeek" for the DeepSeek kinds, "The server at <base_url>" otherwise.
  std::string ServiceName() const;
  // The kEngineLost message: `dsagent serve` lost its GPU (`how` it said so; then its words).
  std::string EngineLostMessage(const std::string& how, const std::string& server_said) const;

  std::unique_ptr<WireFormat> wire_;
  ProviderOptions options_;
  std::string url_;
  // The session's model calls reuse one connection (no TCP/TLS handshake per step).
  mutable HttpConnectionPool connections_;
};

}  // namespace dsagent
