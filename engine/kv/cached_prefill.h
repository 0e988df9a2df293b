// CachedPrefill: prefill a prompt through a PrefixCache — restore the longest cached prefix,
// compute only the rest, and store the state at the last aligned position on the way — so that a
// later prompt sharing the prefix (a resumed session, a new turn) skips it. The result equals a
// cold prefill of the whole prompt (Model::Forward with state.pos == 0) bit for bit wherever
// chunked forwards do (engine/README.md: always for index lists of at most 64 entries).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/generate/prefix_cache.h"

namespace dsagent::engine::kv {

struct CachedPrefillResult {
  forward::SequenceState state;    // after all of the prompt
  std::vector<float> last_logits;  // logits of the prompt's last token [vocab]
  int64_t cached_tokens = 0;       // restored from the cache (prompt_cache_hit_tokens)
  int64_t computed_tokens = 0;     // prefilled here (prompt_cache_miss_tokens)
  int64_t offered_tokens = 0;      // prefix length offered to cache.Store (0: none)
};

// `tokens` must be non-empty. The cache is asked for all but the last token, so at least one
// token is computed and its logits returned. The state is offered to cache.Store at the last
// multiple of `alignment_tokens` in the prompt (if past the hit). Error: what Model::Forward
// reports (e.g. an out-of-vocabulary id).
Expected<CachedPrefillResult, std::string> CachedPrefill(forward::Model& model, PrefixCache& cache,
                                                         std::span<const int32_t> tokens,
                                                         int64_t alignment_tokens);

}  // namespace dsagent::engine::kv
