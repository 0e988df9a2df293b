#include "agent/core/termination.h"

#include <iterator>

namespace dsagent {
namespace {

struct ReasonRow {
  TerminationReason reason;
  const char* name;
  int exit_code;
};

// The one table of termination reasons: their names in the run contract and their exit codes.
constexpr ReasonRow kReasons[] = {
    {TerminationReason::kDone, "done", kExitDone},
    {TerminationReason::kMaxSteps, "max_steps", kExitLimit},
    {TerminationReason::kMaxCost, "max_cost", kExitLimit},
    {TerminationReason::kTimeout, "timeout", kExitLimit},
    {TerminationReason::kInterrupted, "interrupted", kExitInterrupted},
    {TerminationReason::kErrorUsage, "error:usage", kExitUsage},
    {TerminationReason::kErrorConfig, "error:config", kExitConfigAuth},
    {TerminationReason::kErrorSession, "error:session", kExitError},
    {TerminationReason::kErrorTrace, "error:trace", kExitError},
    {TerminationReason::kErrorGit, "error:git", kExitError},
    {TerminationReason::kErrorAuth, "error:auth", kExitConfigAuth},
    {TerminationReason::kErrorBilling, "error:billing", kExitConfigAuth},
    {TerminationReason::kErrorInvalidRequest, "error:invalid_request", kExitApiFailure},
    {TerminationReason::kErrorRateLimited, "error:rate_limited", kExitApiFailure},
    {TerminationReason::kErrorServer, "error:server", kExitApiFailure},
    {TerminationReason::kErrorTransport, "error:transport", kExitApiFailure},
    {TerminationReason::kErrorProtocol, "error:protocol", kExitApiFailure},
    {TerminationReason::kErrorModelMismatch, "error:model_mismatch", kExitApiFailure},
    {TerminationReason::kErrorEngineLost, "error:engine_lost", kExitApiFailure},
};

const ReasonRow& Row(TerminationReason reason) {
  for (const ReasonRow& row : kReasons) {
    if (row.reason == reason) return row;
  }
  return kReasons[std::size(kReasons) - 1];  // unreachable: every reason has a row
}

TerminationReason FromKind(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::kConfig:
      return TerminationReason::kErrorConfig;
    case ProviderErrorKind::kAuth:
      return TerminationReason::kErrorAuth;
    case ProviderErrorKind::kBilling:
      return TerminationReason::kErrorBilling;
    case ProviderErrorKind::kInvalidRequest:
      return TerminationReason::kErrorInvalidRequest;
    case ProviderErrorKind::kRateLimited:
      return TerminationReason::kErrorRateLimited;
    case ProviderErrorKind::kServer:
      return TerminationReason::kErrorServer;
    case ProviderErrorKind::kTransport:
      return TerminationReason::kErrorTransport;
    case ProviderErrorKind::kProtocol:
      return TerminationReason::kErrorProtocol;
    case ProviderErrorKind::kModelMismatch:
      return TerminationReason::kErrorModelMismatch;
    case ProviderErrorKind::kEngineLost:
      return TerminationReason::kErrorEngineLost;
    case ProviderErrorKind::kCancelled:
      return TerminationReason::kInterrupted;
  }
  return TerminationReason::kErrorProtocol;
}

}  // namespace

const char* TerminationReasonName(TerminationReason reason) { return Row(reason).name; }

Termination FromProviderError(const ProviderError& error) {
  return {FromKind(error.kind), error.message};
}

int Termination::ExitCode() const { return Row(reason).exit_code; }

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
