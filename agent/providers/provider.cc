#include "agent/providers/provider.h"

#include "common/name_table.h"

namespace dsagent {

namespace {
constexpr EnumName<ProviderErrorKind> kErrorKindNames[] = {
    {ProviderErrorKind::kConfig, "config"},
    {ProviderErrorKind::kAuth, "auth"},
    {ProviderErrorKind::kBilling, "billing"},
    {ProviderErrorKind::kInvalidRequest, "invalid_request"},
    {ProviderErrorKind::kRateLimited, "rate_limited"},
    {ProviderErrorKind::kServer, "server"},
    {ProviderErrorKind::kTransport, "transport"},
    {ProviderErrorKind::kProtocol, "protocol"},
    {ProviderErrorKind::kModelMismatch, "model_mismatch"},
    {ProviderErrorKind::kEngineLost, "engine_lost"},
    {ProviderErrorKind::kCancelled, "cancelled"}};
}  // namespace

const char* ProviderErrorKindName(ProviderErrorKind kind) {
  return NameOf(kErrorKindNames, kind).data();
}

}  // namespace dsagent
