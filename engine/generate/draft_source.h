// DraftSource: where speculative decoding's drafts come from (generator.h, Speculative). The
// generator tells it every token the main model runs, in order, and asks it to guess the token
// after the one it is about to feed. A guess is only a proposal: the generator keeps exactly the
// tokens plain decoding would sample, so a bad source costs time, never output.
//
// MtpDrafter (the checkpoint's MTP block) is the one the engine uses; tests substitute sources
// whose guesses they control, and a prompt-lookup or n-gram source would plug in the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/expected.h"

namespace dsagent::engine {

class DraftSource {
 public:
  virtual ~DraftSource() = default;

  // The main model ran `tokens` at the positions after those told before (a row it took back is
  // never told); `streams` are their final hc streams [tokens.size(), hc, dim].
  virtual Expected<Ok, std::string> Fed(std::span<const int32_t> tokens,
                                        std::span<const float> streams) = 0;

  // A guess of the token that follows `token`, which is about to be fed after everything told.
  virtual Expected<int32_t, std::string> Draft(int32_t token) = 0;
};

}  // namespace dsagent::engine
