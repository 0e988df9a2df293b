#include "agent/core/termination.h"

namespace dsagent {

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
    case kExitDone:
      return "success";
    case kExitLimit:
      return "limit";
    case kExitInterrupted:
      return "interrupted";
    default:
      return "error";
  }
}

}  // namespace dsagent
