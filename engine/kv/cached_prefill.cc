#include "engine/kv/cached_prefill.h"

namespace dsagent::engine::kv {

Expected<CachedPrefillResult, std::string> CachedPrefill(forward::Model& model, PrefixCache& cache,
                                                         std::span<const int32_t> tokens,
                                                         int64_t alignment_tokens) {
  if (tokens.empty()) return MakeUnexpected("no tokens to prefill");
  const auto n = static_cast<int64_t>(tokens.size());
  CachedPrefillResult r;
  if (auto hit = cache.LongestPrefix(tokens, n - 1)) {
    r.state = std::move(hit->state);
    r.cached_tokens = hit->tokens;
  } else {
    r.state = model.NewSequence();
  }
  // Stop at the last aligned position (if it adds anything) to store the state there.
  const int64_t aligned = n / alignment_tokens * alignment_tokens;
  int64_t at = r.cached_tokens;
  for (int64_t stop : {aligned, n}) {
    if (stop <= at) continue;
    auto logits = model.ForwardLast(
        r.state, tokens.subspan(static_cast<size_t>(at), static_cast<size_t>(stop - at)));
    if (!logits) return MakeUnexpected(logits.error());
    r.last_logits = std::move(*logits);
    r.computed_tokens += stop - at;
    at = stop;
    if (stop == aligned) {
      cache.Store(tokens.first(static_cast<size_t>(aligned)), r.state);
      r.offered_tokens = aligned;
    }
  }
  return r;
}

}  // namespace dsagent::engine::kv
