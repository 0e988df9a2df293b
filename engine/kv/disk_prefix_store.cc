#include "engine/kv/disk_prefix_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "common/file_io.h"
#include "common/xdg.h"
#include "engine/kv/prefix_key.h"
#include "engine/kv/record_format.h"
#include "engine/kv/state_codec.h"
#include "engine/kv/store_lock.h"
#include "engine/kv/store_maintenance.h"

namespace dsagent::engine::kv {
namespace fs = std::filesystem;
namespace {

constexpr int kBlock = static_cast<int>(RecordKind::kBlock);
constexpr int kCheckpoint = static_cast<int>(RecordKind::kCheckpoint);

// Marks a record as just used (LRU recency). Failure only costs recency.
void Touch(const fs::path& path) { ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

}  // namespace

fs::path DefaultKvDir() { return XdgCacheHome() / "dsagent" / "kv"; }

Expected<std::unique_ptr<DiskPrefixStore>, std::string> DiskPrefixStore::Open(
    const ModelConfig& config, std::string model_id, DiskPrefixStoreOptions options) {
  if (model_id.size() != 64) return MakeUnexpected("model identity must be 64 hex characters");
  if (options.dir.empty()) options.dir = DefaultKvDir();
  std::unique_ptr<DiskPrefixStore> s(new DiskPrefixStore());
  s->config_ = config;
  s->model_dir_ = options.dir / model_id.substr(0, 16);
  s->model_id_ = std::move(model_id);
  s->options_ = std::move(options);
  s->align_ = AlignmentTokens(config);
  std::error_code ec;
  fs::create_directories(s->model_dir_, ec);
  if (ec) return MakeUnexpected(s->model_dir_.string() + ": " + ec.message());
  return s;
}

void DiskPrefixStore::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

fs::path DiskPrefixStore::BlockPath(const std::string& key) const {
  return model_dir_ / (key + ".blk");
}
fs::path DiskPrefixStore::CheckpointPath(const std::string& key) const {
  return model_dir_ / (key + ".ckpt");
}

Expected<std::string, std::string> DiskPrefixStore::ReadRecord(const fs::path& path, int kind,
                                                               const std::string& key,
                                                               int64_t end_tokens) const {
  auto bytes = ReadFileToString(path);
  if (!bytes) return MakeUnexpected(bytes.error());
  auto r = DecodeRecord(*bytes);
  if (!r) return MakeUnexpected(r.error());
  const RecordHeader& h = r->header;
  if (h.model_id != model_id_) return MakeUnexpected("record of another model");
  if (h.key != key) return MakeUnexpected("key mismatch");
  if (static_cast<int>(h.kind) != kind) return MakeUnexpected("wrong record kind");
  if (h.block_tokens != align_ || h.end_tokens != end_tokens) {
    return MakeUnexpected("wrong position or block size");
  }
  return std::move(r->payload);
}

DiskPrefixStore::LookupResult DiskPrefixStore::Lookup(std::span<const int32_t> tokens) {
  LookupResult hit;
  const std::vector<std::string> keys = PrefixKeys(model_id_, tokens, align_);
  std::map<size_t, std::string> blocks;  // block index -> payload, read lazily
  auto reject = [&](const fs::path& path, const std::string& why) {
    const std::string line = path.string() + ": " + why + " (skipped)";
    hit.skipped.push_back(line);
    Log("kv: " + line);
    std::lock_guard<std::mutex> lock(mu_);
    bad_paths_.insert(path);
  };
  // Longest first; a bad block b rules out every checkpoint after it.
  size_t limit = keys.size();
  for (size_t n = keys.size(); n > 0; --n) {
    if (n > limit) continue;
    const fs::path ckpt_path = CheckpointPath(keys[n - 1]);
    if (!fs::exists(ckpt_path)) continue;
    const auto end = static_cast<int64_t>(n) * align_;
    auto ckpt = ReadRecord(ckpt_path, kCheckpoint, keys[n - 1], end);
    if (!ckpt) {
      if (fs::exists(ckpt_path)) reject(ckpt_path, ckpt.error());
      continue;
    }
    std::vector<std::string> payloads;
    for (size_t b = 0; b < n; ++b) {
      auto it = blocks.find(b);
      if (it == blocks.end()) {
        const fs::path path = BlockPath(keys[b]);
        auto p = ReadRecord(path, kBlock, keys[b], static_cast<int64_t>(b + 1) * align_);
        if (!p) {
          if (fs::exists(path)) reject(path, p.error());
          limit = b;  // checkpoints up to block b remain possible
          break;
        }
        it = blocks.emplace(b, std::move(*p)).first;
      }
      payloads.push_back(it->second);
    }
    if (payloads.size() != n) continue;
    auto state = AssembleState(config_, payloads, *ckpt, align_);
    if (!state) {
      reject(ckpt_path, state.error());
      continue;
    }
    Touch(ckpt_path);
    for (size_t b = 0; b < n; ++b) Touch(BlockPath(keys[b]));
    hit.tokens = end;
    hit.state = std::move(*state);
    return hit;
  }
  return hit;
}

bool DiskPrefixStore::NeedsWrite(const fs::path& path, const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (bad_paths_.erase(path) > 0) return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return true;
  std::string head(kRecordHeaderBytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  auto h = DecodeRecordHeader(head, ec ? 0 : size);
  return !h || h->model_id != model_id_ || h->key != key;
}

Expected<Ok, std::string> DiskPrefixStore::WriteRecord(const fs::path& path, int kind,
                                                       const std::string& key,
                                                       const std::string& parent,
                                                       int64_t end_tokens,
                                                       const std::string& payload) {
  RecordHeader h;
  h.parent = parent;
  h.kind = static_cast<RecordKind>(kind);
  h.block_tokens = align_;
  h.end_tokens = end_tokens;
  h.model_id = model_id_;
  h.key = key;
  return WriteFileAtomic(path, EncodeRecord(h, payload));
}

std::optional<PrefixCache::Hit> DiskPrefixStore::LongestPrefix(std::span<const int32_t> tokens,
                                                               int64_t max_tokens) {
  const auto n =
      static_cast<size_t>(std::clamp<int64_t>(max_tokens, 0, static_cast<int64_t>(tokens.size())));
  LookupResult r = Lookup(tokens.first(n));
  if (r.tokens == 0) return std::nullopt;
  return Hit{std::move(r.state), r.tokens};
}

void DiskPrefixStore::Store(std::span<const int32_t> tokens, const forward::SequenceState& state) {
  if (auto r = StoreAligned(tokens, state); !r) Log("kv: store: " + r.error());
}

Expected<int64_t, std::string> DiskPrefixStore::StoreAligned(std::span<const int32_t> tokens,
                                                             const forward::SequenceState& state) {
  if (state.pos != static_cast<int64_t>(tokens.size())) {
    return MakeUnexpected("state position " + std::to_string(state.pos) +
                          " != " + std::to_string(tokens.size()) + " tokens");
  }
  if (tokens.empty() || state.pos % align_ != 0) return int64_t{0};
  const std::vector<std::string> keys = PrefixKeys(model_id_, tokens, align_);
  auto lock = StoreLock::Acquire(options_.dir);
  if (!lock) return MakeUnexpected(lock.error());
  for (size_t b = 0; b < keys.size(); ++b) {
    const fs::path path = BlockPath(keys[b]);
    if (!NeedsWrite(path, keys[b])) {
      Touch(path);
      continue;
    }
    auto w = WriteRecord(path, kBlock, keys[b], b > 0 ? keys[b - 1] : std::string(),
                         static_cast<int64_t>(b + 1) * align_,
                         EncodeBlock(state, static_cast<int64_t>(b), align_));
    if (!w) return MakeUnexpected(w.error());  // Store() logs it, once
  }
  const fs::path ckpt = CheckpointPath(keys.back());
  {
    std::lock_guard<std::mutex> l(mu_);
    bad_paths_.erase(ckpt);
  }
  auto w = WriteRecord(ckpt, kCheckpoint, keys.back(), "", state.pos, EncodeCheckpoint(state));
  if (!w) return MakeUnexpected(w.error());
  if (options_.max_bytes > 0) {
    auto pruned = PruneStore(options_.dir, options_.max_bytes, /*locked=*/true);
    if (!pruned) Log("kv: eviction: " + pruned.error());
  }
  return state.pos;
}

}  // namespace dsagent::engine::kv
