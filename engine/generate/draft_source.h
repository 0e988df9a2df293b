// DraftSource: where speculative decoding's drafts come from (generator.h, Speculative). The
// generator tells it every token the main model runs, in order, and asks it to guess the token
// after the one it is about to feed. A guess is only a proposal: under the match rule the
// generator keeps exactly the tokens plain decoding would sample, under the standard rule tokens
// distributed exactly as plain decoding's, so a bad source costs time, never output.
//
// MtpDrafter (the checkpoint's MTP block) is the one the engine uses; tests substitute sources
// whose guesses they control, and a prompt-lookup or n-gram source would plug in the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent::engine {

// A draft: the source's best guess and, where it has them, its logits over the vocabulary (the
// standard acceptance rule samples the draft from them, with the request's sampler settings, and
// weighs it by them). Without logits the guess is a draft drawn from a distribution that is
// certain of it.
struct DraftGuess {
  int32_t token = 0;
  std::vector<float> logits;  // [vocab] or empty
};

class DraftSource {
 public:
  virtual ~DraftSource() = default;

  // The main model ran `tokens` at the positions after those told before (a row it took back is
  // never told); `streams` are their final hc streams [tokens.size(), hc, dim].
  virtual Expected<Ok, std::string> Fed(std::span<const int32_t> tokens,
                                        std::span<const float> streams) = 0;

  // A guess of the token that follows `token`, which is about to be fed after everything told.
  virtual Expected<DraftGuess, std::string> Draft(int32_t token) = 0;

  // The token after everything told is `next` (known without a forward call: the next prompt
  // token, or a sampled token that will not be fed). A source with a state of its own brings it
  // level with the main model's, so that the main state can be stored (prefix cache) and later
  // continued with drafting. Default: nothing to do.
  virtual Expected<Ok, std::string> CatchUp(int32_t next) {
    (void)next;
    return Ok{};
  }
};

}  // namespace dsagent::engine
