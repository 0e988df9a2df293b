#include "agent/providers/provider.h"

namespace dsagent {

const char* ProviderErrorKindName(ProviderErrorKind kind) {
  switch (kind) {
    case ProviderErrorKind::kConfig:
      return "config";
    case ProviderErrorKind::kAuth:
      return "auth";
    case ProviderErrorKind::kBilling:
      return "billing";
    case ProviderErrorKind::kInvalidRequest:
      return "invalid_request";
    case ProviderErrorKind::kRateLimited:
      return "rate_limited";
    case ProviderErrorKind::kServer:
      return "server";
    case ProviderErrorKind::kTransport:
      return "transport";
    case ProviderErrorKind::kProtocol:
      return "protocol";
    case ProviderErrorKind::kModelMismatch:
      return "model_mismatch";
    case ProviderErrorKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace dsagent
