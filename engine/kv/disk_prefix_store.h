// DiskPrefixStore: a PrefixCache (engine/generate/prefix_cache.h, the server's seam) persisted in
// a directory, shared safely by several processes and threads. Layout and the reasons for it:
// engine/kv/README.md.
//
// Contract beyond PrefixCache's: a lookup never fails and is never wrong — it returns a state
// equal, bit for bit, to the one Model::Forward produces after hit.tokens tokens, or a miss;
// every record that fails to verify (checksum, version, model identity, key, truncation, shapes)
// is skipped, logged and rewritten by the next Store of that prefix. States are kept only at
// multiples of alignment_tokens() (128 for V4): Store at any other length stores nothing, so a
// caller that wants its prompts cached prefills up to the last aligned position, stores, then
// prefills the rest (cached_prefill.h does exactly that).
//
//   <dir>/<model_id[0,16)>/<key>.blk    block record: compressed KV entries + indexer keys that
//                                        the tokens of one aligned block produced (all layers)
//   <dir>/<model_id[0,16)>/<key>.ckpt   checkpoint record: window rings + compressor state (+ MTP
//                                        state) at the end of the block `key` names
//   <dir>/.lock                          flock: serialises writers and eviction
// key = PrefixKeys(model_id, tokens, AlignmentTokens(config))[k] (prefix_key.h): a chained hash of
// the token ids seeded with the model identity (model_identity.h). Records are content-addressed,
// so writers of the same prefix write the same bytes, and are written atomically (temp + fsync +
// rename), so a reader sees a whole record or none. Lookup takes no lock.
//
// Usage:
//   auto id = ComputeModelIdentity(model_dir);
//   auto store = DiskPrefixStore::Open(model.config(), *id, {.dir = kv_dir, .max_bytes = 8 << 30});
//   auto hit = (*store)->Lookup(prompt);    // state after hit.tokens tokens (0 = miss)
//   ... prefill; at an aligned position P: (*store)->StoreAligned(first P tokens, state);
//
// Thread-safety: Lookup and Store may be called concurrently from any threads and processes.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/generate/prefix_cache.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kv {

struct DiskPrefixStoreOptions {
  std::filesystem::path dir;  // empty: DefaultKvDir()
  int64_t max_bytes = 0;      // size budget of the whole directory (all models); 0 = unlimited
  // Receives one line per skipped record or failed write (never fatal). Default: none.
  std::function<void(const std::string&)> log;
};

// $XDG_CACHE_HOME/dsagent/kv (or ~/.cache/dsagent/kv).
std::filesystem::path DefaultKvDir();

class DiskPrefixStore : public PrefixCache {
 public:
  // Creates the directory if needed. Error: it cannot be created (naming it and the OS error).
  static Expected<std::unique_ptr<DiskPrefixStore>, std::string> Open(
      const ModelConfig& config, std::string model_id, DiskPrefixStoreOptions options = {});

  struct LookupResult {
    int64_t tokens = 0;                // the prefix length `state` belongs to; 0 = miss
    forward::SequenceState state;      // empty on a miss
    std::vector<std::string> skipped;  // "<path>: <reason>" of each record that failed to verify
  };
  // The state after the longest stored aligned prefix of `tokens` (the whole span may be used;
  // pass all but the last prompt token to keep one to compute logits from). Never fails.
  LookupResult Lookup(std::span<const int32_t> tokens);

  // Stores `state` as the state after `tokens` (block records that are missing or bad, then the
  // checkpoint), then evicts down to max_bytes. Returns tokens.size() when that is a multiple of
  // alignment_tokens(), else 0 (nothing stored). Error: state.pos != tokens.size(), or an I/O
  // failure (named; the store stays valid, and the caller may ignore it: a cache costs time only).
  Expected<int64_t, std::string> StoreAligned(std::span<const int32_t> tokens,
                                              const forward::SequenceState& state);

  // PrefixCache: Lookup of the first min(max_tokens, tokens.size()) tokens; nullopt on a miss.
  std::optional<Hit> LongestPrefix(std::span<const int32_t> tokens, int64_t max_tokens) override;
  // PrefixCache: StoreAligned, with errors only logged.
  void Store(std::span<const int32_t> tokens, const forward::SequenceState& state) override;

  int64_t alignment_tokens() const override { return align_; }
  const std::filesystem::path& model_dir() const { return model_dir_; }

 private:
  DiskPrefixStore() = default;
  void Log(const std::string& line) const;
  std::filesystem::path BlockPath(const std::string& key) const;
  std::filesystem::path CheckpointPath(const std::string& key) const;
  // Reads and verifies a record; error: why it is not usable for (kind, key, end_tokens).
  Expected<std::string, std::string> ReadRecord(const std::filesystem::path& path, int kind,
                                                const std::string& key, int64_t end_tokens) const;
  bool NeedsWrite(const std::filesystem::path& path, const std::string& key);
  // `parent`: the previous block's key (blocks after the first), else empty.
  Expected<Ok, std::string> WriteRecord(const std::filesystem::path& path, int kind,
                                        const std::string& key, const std::string& parent,
                                        int64_t end_tokens, const std::string& payload);

  ModelConfig config_;
  std::string model_id_;
  DiskPrefixStoreOptions options_;
  std::filesystem::path model_dir_;
  int64_t align_ = 128;
  std::mutex mu_;                              // guards bad_paths_
  std::set<std::filesystem::path> bad_paths_;  // records Lookup rejected: Store rewrites them
};

}  // namespace dsagent::engine::kv
