#include "agent/providers/http_provider.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "agent/providers/http_client.h"
#include "agent/providers/provider_errors.h"
#include "agent/providers/retry.h"

namespace dsagent {
namespace {

ProviderError Cancelled() { return {ProviderErrorKind::kCancelled, 0, "cancelled"}; }

// The error code of `dsagent serve` whose GPU is lost (engine/server/wire_format.h).
constexpr const char* kEngineUnavailableCode = "engine_unavailable";

std::string EnvName(const ProviderOptions& o) {
  return o.api_key_env.empty() ? std::string("DEEPSEEK_API_KEY") : o.api_key_env;
}

}  // namespace

HttpProvider::HttpProvider(std::unique_ptr<WireFormat> wire, ProviderOptions options)
    : wire_(std::move(wire)), options_(std::move(options)), url_(wire_->Url(options_.base_url)) {}

std::string HttpProvider::ServiceName() const {
  if (wire_->Name().rfind("deepseek", 0) == 0) return "DeepSeek";
  return "The server at " + options_.base_url;
}

std::string HttpProvider::EngineLostMessage(const std::string& how,
                                            const std::string& server_said) const {
  return ServiceName() + " can run nothing more (" + how + ")." + server_said;
}

Expected<Response, ProviderError> HttpProvider::Complete(const Request& request, StreamSink& sink,
                                                         const CancelToken& cancel) {
  // The contract is "never throws"; nothing below is expected to, but a provider must not take the
  // agent down with it if a library surprises us.
  try {
    return CompleteWithRetries(request, sink, cancel);
  } catch (const std::exception& e) {
    return MakeUnexpected(ProviderError{
        ProviderErrorKind::kProtocol, 0,
        RedactSecret(std::string("internal error while calling ") + url_ + ": " + e.what(),
                     options_.api_key)});
  }
}

Expected<Response, ProviderError> HttpProvider::CompleteWithRetries(const Request& request,
                                                                    StreamSink& sink,
                                                                    const CancelToken& cancel) {
  auto fail = [&](ProviderError e) -> Expected<Response, ProviderError> {
    e.message = RedactSecret(std::move(e.message), options_.api_key);
    return MakeUnexpected(std::move(e));
  };
  if (cancel.IsCancelled()) return fail(Cancelled());

  const int max_attempts = std::max(1, options_.retry.max_attempts);
  Backoff backoff(options_.retry);
  bool repaired = false;
  WireBody body = wire_->BuildBody(request, /*reasoning_on_every_assistant=*/false);
  int http_attempts = 0;   // every POST, reported in Response::attempts
  int retry_attempts = 0;  // POSTs counted against max_attempts (the repair resend is free)
  while (true) {
    ++http_attempts;
    ++retry_attempts;
    auto result = Attempt(body, request, sink, cancel);
    if (result.has_value()) {
      result->attempts = http_attempts;
      return std::move(result).value();
    }
    AttemptFailure& f = result.error();
    if (f.error.kind == ProviderErrorKind::kCancelled || cancel.IsCancelled()) {
      return fail(Cancelled());
    }
    if (f.asks_for_reasoning) {
      if (repaired) {
        f.error.message +=
            " (already resent once with reasoning_content on every assistant "
            "message; the stored history may be damaged)";
        return fail(std::move(f.error));
      }
      repaired = true;
      --retry_attempts;
      body = wire_->BuildBody(request, /*reasoning_on_every_assistant=*/true);
      continue;
    }
    if (!f.retryable) return fail(std::move(f.error));
    if (retry_attempts >= max_attempts) {
      f.error.message = "gave up after " + std::to_string(http_attempts) + " attempt" +
                        (http_attempts == 1 ? "" : "s") + "; last error: " + f.error.message;
      return fail(std::move(f.error));
    }
    const auto delay = backoff.Delay(retry_attempts, f.retry_after_s);
    sink.OnRetry(retry_attempts, RedactSecret(f.error.message, options_.api_key), delay);
    if (!SleepUnlessCancelled(delay, cancel)) return fail(Cancelled());
  }
}

Expected<Response, HttpProvider::AttemptFailure> HttpProvider::Attempt(
    const WireBody& body, const Request& request, StreamSink& sink,
    const CancelToken& cancel) const {
  using Outcome = HttpResult::Outcome;
  auto failure = [](ProviderErrorKind kind, int status, std::string message, bool retryable) {
    return MakeUnexpected(AttemptFailure{{kind, status, std::move(message)}, retryable, false, {}});
  };

  auto decoder =
      wire_->NewDecoder(sink, options_.check_served_model ? request.lane.model : std::string());
  HttpRequest http{url_,
                   wire_->Headers(options_.api_key),
                   body.pieces(),
                   options_.connect_timeout_s,
                   options_.idle_timeout_s,
                   &connections_};
  const auto start = std::chrono::steady_clock::now();
  int64_t received = 0;
  bool too_large = false;
  HttpResult r = HttpPost(
      http,
      [&](std::string_view bytes) {
        received += static_cast<int64_t>(bytes.size());
        if (options_.max_response_bytes > 0 && received > options_.max_response_bytes) {
          too_large = true;
          return false;
        }
        return decoder->Feed(bytes);
      },
      cancel);
  const auto end = std::chrono::steady_clock::now();
  if (too_large) {
    return failure(ProviderErrorKind::kProtocol, r.status,
                   "the response grew past " + std::to_string(options_.max_response_bytes) +
                       " bytes; stopped reading it (a broken or hostile endpoint?)",
                   false);
  }

  if (r.outcome == Outcome::kCancelled) {
    return failure(ProviderErrorKind::kCancelled, 0, "cancelled", false);
  }
  if (r.status != 0 && (r.status < 200 || r.status >= 300)) {
    AttemptFailure f = FailureFromStatus(r.status, r.error_body);
    f.retry_after_s = r.retry_after_s;
    if (r.server_says_no_retry) f.retryable = false;
    return MakeUnexpected(std::move(f));
  }
  if (r.status == 0) {
    return failure(ProviderErrorKind::kTransport, 0,
                   "could not reach " + url_ + ": " + r.transport_error, true);
  }

  DecodedStream d = decoder->Finish();
  if (d.error) {
    switch (d.error->kind) {
      case StreamError::Kind::kModelMismatch:
        return failure(ProviderErrorKind::kModelMismatch, r.status,
                       ServiceName() + " " + d.error->message +
                           ". Use the served model's id, or set check_served_model: false to "
                           "accept aliases.",
                       false);
      case StreamError::Kind::kProtocol:
        return failure(ProviderErrorKind::kProtocol, r.status, d.error->message, false);
      case StreamError::Kind::kServer:
        if (d.error->code == kEngineUnavailableCode) {
          // `dsagent serve` lost its GPU after the stream began: the 503's meaning, mid-stream.
          return failure(ProviderErrorKind::kEngineLost, r.status,
                         EngineLostMessage("engine_unavailable inside the response stream",
                                           " Server said: " + d.error->message),
                         false);
        }
        if (d.error->type == "invalid_request_error") {
          return failure(ProviderErrorKind::kInvalidRequest, r.status,
                         "error inside the response stream: " + d.error->message, false);
        }
        return failure(ProviderErrorKind::kServer, r.status,
                       "error inside the response stream" +
                           (d.error->type.empty() ? "" : " (" + d.error->type + ")") + ": " +
                           d.error->message,
                       true);
    }
  }
  if (r.outcome == Outcome::kTransport) {
    return failure(ProviderErrorKind::kTransport, r.status,
                   "the response stream was cut: " + r.transport_error, true);
  }
  if (!d.complete) {
    return failure(ProviderErrorKind::kTransport, r.status,
                   "the response stream ended before its final event", true);
  }

  Response response;
  response.message = std::move(d.message);
  response.finish_reason = std::move(d.finish_reason);
  response.usage = d.usage;
  response.usage_reported = d.usage_reported;
  response.served_model = std::move(d.served_model);
  response.request_id = r.request_id.empty() ? std::move(d.response_id) : r.request_id;
  response.latency_s = std::chrono::duration<double>(end - start).count();
  return response;
}

HttpProvider::AttemptFailure HttpProvider::FailureFromStatus(int status,
                                                             const std::string& error_body) const {
  const std::string said = ServerErrorMessage(error_body);
  const std::string server_said = said.empty() ? "" : " Server said: " + said;
  AttemptFailure f;
  f.error.http_status = status;
  if (status == 401) {
    f.error.kind = ProviderErrorKind::kAuth;
    f.error.message = ServiceName() + " rejected the API key (HTTP 401). Check " +
                      EnvName(options_) + " (api_key_env) or providers." + wire_->Name() +
                      ".api_key in the config." + server_said;
  } else if (status == 402) {
    f.error.kind = ProviderErrorKind::kBilling;
    f.error.message = ServiceName() +
                      " reports insufficient balance (HTTP 402); top up at "
                      "https://platform.deepseek.com." +
                      server_said;
  } else if (status == 429) {
    f.error.kind = ProviderErrorKind::kRateLimited;
    f.error.message = "rate limited (HTTP 429)." + server_said;
    f.retryable = true;
  } else if (status == 503 && ServerErrorCode(error_body) == kEngineUnavailableCode) {
    // `dsagent serve` whose GPU is lost (engine/server/chat_server.cc): no retry brings it back.
    f.error.kind = ProviderErrorKind::kEngineLost;
    f.error.message = EngineLostMessage("HTTP 503 engine_unavailable", server_said);
  } else if (status >= 500) {
    f.error.kind = ProviderErrorKind::kServer;
    f.error.message = "server error (HTTP " + std::to_string(status) + ")." + server_said;
    f.retryable = IsRetryableHttpStatus(status);
  } else if (status >= 400) {
    f.error.kind = ProviderErrorKind::kInvalidRequest;
    f.error.message = ServiceName() + " rejected the request (HTTP " + std::to_string(status) +
                      ")." + server_said;
    f.asks_for_reasoning = AsksForReasoningContent(status, said);
  } else {
    f.error.kind = ProviderErrorKind::kProtocol;
    f.error.message = "unexpected HTTP status " + std::to_string(status) + "." + server_said;
  }
  return f;
}

}  // namespace dsagent
