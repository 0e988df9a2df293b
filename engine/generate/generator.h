// Generator: the decode loop. Feeds prompt tokens to a ModelSequence (prefill), then samples one
// token at a time until a stop token (EOS), a stop string, max_tokens, the context limit or
// cancellation, streaming each token's text as it becomes safe to show (see TextStream).
//
// The caller owns the sequence, so one made from a prefix cache's state can be continued:
// `prompt` holds only the tokens not yet in it. The model is a SequenceModel (sequence_model.h):
// the CPU's (cpu_sequence_model.h) or any other. Thread-safety: as SequenceModel — one
// Generate() per sequence at a time; several Generators may share one model.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/generate/draft_source.h"
#include "engine/generate/forward_batcher.h"
#include "engine/generate/sampler.h"
#include "engine/generate/sequence_model.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

// Constrained decoding: which tokens may come next. The Generator samples as usual and keeps the
// token when Allows() says so; otherwise it masks the logits (Mask) and samples again, which for
// plain temperature sampling is exactly sampling from the allowed tokens (greedy: the most likely
// allowed token). Accept() is told every kept token, the stop token included.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual bool Allows(int32_t token) const = 0;
  // Sets the logit of every token Allows() refuses to -inf. Returns false when none is left.
  virtual bool Mask(std::span<float> logits) const;
  virtual void Accept(int32_t token) = 0;
};

// Speculative decoding. kMtp: the checkpoint's MTP block drafts the token after the one about to
// be fed, the main model runs both in one forward call (2 rows), and the draft's row is kept or
// taken back (SequenceModel::TakeBackLastRow) by the acceptance rule (SpeculativeAcceptance).
enum class Speculative { kOff, kMtp };
// "off" | "mtp"; nullopt for anything else.
std::optional<Speculative> ParseSpeculative(std::string_view name);

// How a draft is verified.
// - kMatch: the draft is the drafter's most likely token and is kept when it equals the token
//   sampled from the first row's logits. Every token is sampled from the same logits with the
//   same random draws as plain decoding, so the tokens are exactly plain decoding's for every
//   sampler setting (greedy, seeded sampling, constraints); a draft only decides whether its
//   forward row is reused.
// - kStandard: speculative sampling (Leviathan et al. 2023, Chen et al. 2023): the draft is
//   sampled from the drafter's distribution q (its logits under the request's temperature,
//   top-k, top-p and min-p), kept with probability min(1, p/q) against the main model's p, and
//   on rejection the token is drawn from norm(max(0, p - q)) (VerifyDraft). The tokens are
//   distributed exactly as plain sampling's, not the same tokens; deterministic for a seed. A
//   draft is kept with probability sum(min(p, q)), under kMatch with p(argmax q). Greedy
//   (temperature 0) reduces to kMatch, and so does a call with a TokenConstraint (the
//   constrained distribution is not one the drafter's logits can be weighed against); both then
//   give plain decoding's tokens.
enum class SpeculativeAcceptance { kMatch, kStandard };
// "match" | "standard"; nullopt for anything else.
std::optional<SpeculativeAcceptance> ParseSpeculativeAcceptance(std::string_view name);
const char* SpeculativeAcceptanceName(SpeculativeAcceptance acceptance);

struct GenerateOptions {
  SamplingParams sampling;
  int64_t max_tokens = 256;       // sampled tokens at most, >= 1 (a final stop token included)
  std::vector<std::string> stop;  // stop strings; the text ends before the first match
  std::vector<int32_t> stop_token_ids;  // e.g. EOS; the token is kept in `tokens`, not in text
  int64_t context_limit = 0;            // positions; <= 0: the model's max_position_embeddings
  CancelToken cancel;                   // polled before every forward call
  TokenConstraint* constraint = nullptr;  // may be null; owned by the caller, one per Generate
  // Called after each prefill chunk (kPrefillChunkTokens), on the generating thread: lets a
  // server keep a stream alive while a long prompt is computed (clients give up on a silent one).
  std::function<void()> on_prefill_chunk;
  // Off by default: on random-weight checkpoints drafts are almost never accepted, and a
  // rejected draft costs an MTP block and a second row. Needs an MTP block and a state whose MTP
  // part kept up (a fresh one); otherwise the call decodes plainly (GenerateResult::
  // speculative_off says why). The state is left with its MTP part level with the main part
  // (the MTP state is fed up to its pos(), both at the prefill hook and on return), so it can be
  // stored in a prefix cache and continued speculatively.
  Speculative speculative = Speculative::kOff;
  SpeculativeAcceptance speculative_acceptance = SpeculativeAcceptance::kMatch;
  // Speculative decoding with the caller's drafts instead (tests; a prompt-lookup source would
  // fit here too): overrides `speculative`. Owned by the caller, one per Generate, told about
  // this call's tokens only.
  DraftSource* drafts = nullptr;
  // Decode steps batched with other generations' (forward_batcher.h); may be null. The tokens are
  // the same either way. Not used with speculative decoding (its steps take rows back).
  ForwardBatcher* batcher = nullptr;
};

enum class FinishReason {
  kStopToken,   // a stop token (EOS) was sampled
  kStopString,  // a stop string appeared in the text
  kLength,      // max_tokens sampled, or the context is full
  kCancelled,   // the cancel token fired or the sink asked to stop
};
const char* FinishReasonName(FinishReason reason);  // "stop_token", "stop_string", ...

struct GenerateResult {
  std::vector<int32_t> tokens;  // every sampled token, in order
  std::string text;             // the streamed text, concatenated (valid UTF-8)
  FinishReason finish = FinishReason::kLength;
  std::string matched_stop;    // the stop string, for kStopString
  int64_t prompt_tokens = 0;   // tokens fed as prompt by this call
  double prefill_seconds = 0;  // wall time of the prompt's forward calls
  double decode_seconds = 0;   // wall time of the sampled tokens' forward calls
  // Speculative decoding: drafts verified and drafts accepted (each accepted draft is a sampled
  // token that needed no forward call of its own), and why speculation did not run when asked.
  int64_t drafted = 0, accepted = 0;
  std::string speculative_off;
  // accepted / drafted; 0 when nothing was drafted.
  double AcceptanceRate() const {
    return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0;
  }
};

// Called with each sampled token and the text that became safe to show with it (maybe empty),
// and once more with token -1 for text held back until the end (an unfinished stop-string
// prefix or UTF-8 character). Return false to stop (finish = kCancelled).
using TokenSink = std::function<bool(int32_t token, std::string_view text)>;
// Called once, when every prompt token but the last is in the sequence (sequence.pos() tokens):
// the point at which a prefix cache can copy its state (ModelSequence::HostState; the last
// token's logits are still needed).
using PrefillHook = std::function<void(ModelSequence& sequence)>;

// Prompt tokens per forward call while prefilling: the cancel token is checked between chunks,
// so a request that is abandoned (client gone, server stopping, time limit) stops within one
// chunk's time. Chunked forwards give the same bits as one call.
inline constexpr size_t kPrefillChunkTokens = 256;

// Feeds `tokens` into `sequence` in chunks of kPrefillChunkTokens, checking `cancel` before each
// and calling `on_chunk` (may be empty) after each. With `drafts` (speculative decoding), every
// chunk is told to the draft source (the MTP block's state keeps up). Returns true when every
// token is in the sequence, false when cancelled (it then holds whole chunks of `tokens`, pos()
// tells how many tokens: a consistent state of that prefix). Error: what SequenceModel::Forward
// or the draft source reports.
Expected<bool, std::string> PrefillInChunks(SequenceModel& model, ModelSequence& sequence,
                                            std::span<const int32_t> tokens,
                                            const CancelToken& cancel,
                                            const std::function<void()>& on_chunk = {},
                                            DraftSource* drafts = nullptr);

class Generator {
 public:
  // `tokenizer` may be null: tokens are generated but no text is produced. Both must outlive the
  // generator.
  Generator(SequenceModel& model, const BpeTokenizer* tokenizer)
      : model_(model), tokenizer_(tokenizer) {}

  // Continues `sequence` with `prompt` (at least one token) and generates. On return the sequence
  // holds the prompt and every sampled token except the last (which was never fed). Error, with no
  // tokens generated: an empty prompt, bad sampling parameters, an out-of-vocabulary id, or a
  // prompt that does not fit the context limit (the message gives both numbers). Error mid-way:
  // a constraint that allows no token at all.
  Expected<GenerateResult, std::string> Generate(ModelSequence& sequence,
                                                 std::span<const int32_t> prompt,
                                                 const GenerateOptions& options,
                                                 const TokenSink& sink = {},
                                                 const PrefillHook& on_prefill = {});

  // The text of one token (its bytes; special tokens as their text); "" for ids the tokenizer
  // does not know or without a tokenizer.
  std::string TokenBytes(int32_t id) const;

 private:
  SequenceModel& model_;
  const BpeTokenizer* tokenizer_;
};

}  // namespace dsagent::engine
