// How a run ends: one termination reason per run, and the process exit code it maps to. This is
// part of the `dsagent run` contract that CI bots rely on (documented in README.md).
#pragma once

#include <string>

#include "agent/providers/provider.h"

namespace dsagent {

// Exit codes of `dsagent run` (and `dsagent patch`, which adds 6 and 7).
enum ExitCode : int {
  kExitDone = 0,
  kExitError = 1,        // tool/trace/internal error
  kExitUsage = 2,        // bad command line
  kExitConfigAuth = 3,   // configuration, missing key, 401, 402
  kExitApiFailure = 4,   // the API failed after retries or rejected the request
  kExitLimit = 5,        // max steps / max cost / timeout reached
  kExitNoChange = 6,     // `dsagent patch`: the agent finished but changed nothing
  kExitTestsFailed = 7,  // `dsagent patch`: a patch exists but --test-cmd still fails
  kExitInterrupted = 130,
};

// Why a run ended. The names (the envelope's `termination_reason`: "done", "max_steps",
// "max_cost", "timeout", "interrupted", "error:<kind>") and exit codes come from one table in
// termination.cc.
enum class TerminationReason {
  kDone,
  kMaxSteps,
  kMaxCost,
  kTimeout,
  kInterrupted,
  kErrorUsage,    // bad command line or arguments
  kErrorConfig,   // configuration, missing key
  kErrorSession,  // a resumed session's trace cannot be read
  kErrorTrace,    // the session trace cannot be written
  kErrorGit,      // `dsagent patch`: git failed
  kErrorAuth,     // the provider errors (ProviderErrorKind), after retries
  kErrorBilling,
  kErrorInvalidRequest,
  kErrorRateLimited,
  kErrorServer,
  kErrorTransport,
  kErrorProtocol,
  kErrorModelMismatch,
  kErrorEngineLost,  // the local engine or `dsagent serve` lost its GPU: nothing runs until a
                     // restart
};

// "done", "max_steps", ..., "error:trace".
const char* TerminationReasonName(TerminationReason reason);

struct Termination {
  TerminationReason reason = TerminationReason::kDone;
  std::string message;  // human-readable detail for errors (never a secret)

  const char* Name() const { return TerminationReasonName(reason); }
  int ExitCode() const;
  // "success", "limit", "interrupted" or "error" — the envelope's `status`.
  std::string Status() const;
};

// error:<kind> termination for a provider failure (kind e.g. "auth", "rate_limited").
Termination FromProviderError(const ProviderError& error);

}  // namespace dsagent
