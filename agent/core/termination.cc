#include "agent/core/termination.h"

namespace dsagent {

const char* ProviderErrorKindName(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::kConfig: return "config";
    case ProviderErrorKind::kAuth: return "auth";
    case ProviderErrorKind::kBilling: return "billing";
    case ProviderErrorKind::kInvalidRequest: return "invalid_request";
    case ProviderErrorKind::kRateLimited: return "rate_limited";
    case ProviderErrorKind::kServer: return "server";
    case ProviderErrorKind::kTransport: return "transport";
    case ProviderErrorKind::kProtocol: return "protocol";
    case ProviderErrorKind::kModelMismatch: return "model_mismatch";
    case ProviderErrorKind::kCancelled: return "cancelled";
  }
  return "unknown";
}

Termination FromProviderError(const ProviderError& error) {
  if (error.kind == ProviderErrorKind::kCancelled) return {"interrupted", error.message};
  return {std::string("error:") + ProviderErrorKindName(error.kind), error.message};
}

int Termination::ExitCode() const {
  if (reason == "done") return kExitDone;
  if (reason == "max_steps" || reason == "max_cost" || reason == "timeout") return kExitLimit;
  if (reason == "interrupted") return kExitInterrupted;
  if (reason == "error:usage") return kExitUsage;
  if (reason == "error:config" || reason == "error:auth" || reason == "error:billing") {
    return kExitConfigAuth;
  }
  if (reason == "error:invalid_request" || reason == "error:rate_limited" ||
      reason == "error:server" || reason == "error:transport" || reason == "error:protocol" ||
      reason == "error:model_mismatch") {
    return kExitApiFailure;
  }
  return kExitError;
}

std::string Termination::Status() const {
  switch (ExitCode()) {
    case kExitDone: return "success";
    case kExitLimit: return "limit";
    case kExitInterrupted: return "interrupted";
    default: return "error";
  }
}

}  // namespace dsagent
