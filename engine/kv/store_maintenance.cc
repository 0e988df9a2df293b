#include "engine/kv/store_maintenance.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>

#include "common/file_io.h"
#include "engine/kv/record_format.h"
#include "engine/kv/store_lock.h"

namespace dsagent::engine::kv {
namespace fs = std::filesystem;
namespace {

bool IsRecordName(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] != '.' && (p.extension() == ".blk" || p.extension() == ".ckpt");
}

std::string ReadHeaderBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string out(kRecordHeaderBytes, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// The header's claims checked against the file's place in the store; the error names the mismatch.
Expected<Ok, std::string> CheckPlacement(const fs::path& path, const RecordHeader& h) {
  if (path.parent_path().filename().string() != h.model_id.substr(0, 16)) {
    return MakeUnexpected("record of another model (identity " + h.model_id.substr(0, 16) + ")");
  }
  if (path.stem().string() != h.key) return MakeUnexpected("key does not match the file name");
  const bool ckpt = path.extension() == ".ckpt";
  if (ckpt != (h.kind == RecordKind::kCheckpoint))
    return MakeUnexpected("record kind does not match the name");
  return Ok{};
}

}  // namespace

std::vector<RecordFile> ListRecordFiles(const fs::path& dir) {
  std::vector<RecordFile> out;
  std::error_code ec;
  for (const auto& model : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (!model.is_directory(ec2)) continue;
    for (const auto& e : fs::directory_iterator(model.path(), ec2)) {
      if (!IsRecordName(e.path())) continue;
      std::error_code ec3;
      RecordFile f;
      f.path = e.path();
      f.bytes = static_cast<int64_t>(e.file_size(ec3));
      f.mtime = e.last_write_time(ec3);
      if (!ec3) out.push_back(std::move(f));
    }
  }
  return out;
}

StoreStats ComputeStoreStats(const fs::path& dir) {
  StoreStats s;
  for (const auto& f : ListRecordFiles(dir)) {
    s.records += 1;
    s.bytes += f.bytes;
    std::string head = ReadHeaderBytes(f.path);
    auto h = DecodeRecordHeader(head, static_cast<uint64_t>(f.bytes));
    if (!h) {
      s.unreadable += 1;
      continue;
    }
    auto& m = s.models[h->model_id];
    m.bytes += f.bytes;
    m.raw_bytes += static_cast<int64_t>(h->raw_bytes);
    if (h->kind == RecordKind::kCheckpoint) {
      m.checkpoints += 1;
      m.longest_prefix_tokens = std::max(m.longest_prefix_tokens, h->end_tokens);
    } else {
      m.blocks += 1;
    }
  }
  return s;
}

std::vector<BadRecord> VerifyStore(const fs::path& dir, bool remove) {
  std::vector<BadRecord> bad;
  for (const auto& f : ListRecordFiles(dir)) {
    auto bytes = ReadFileToString(f.path);
    if (!bytes) {
      if (fs::exists(f.path)) bad.push_back({f.path, bytes.error()});
      continue;
    }
    auto r = DecodeRecord(*bytes);
    if (!r) {
      bad.push_back({f.path, r.error()});
      continue;
    }
    if (auto placed = CheckPlacement(f.path, r->header); !placed) {
      bad.push_back({f.path, placed.error()});
    }
  }
  if (remove && !bad.empty()) {
    auto lock = StoreLock::Acquire(dir);
    for (const auto& b : bad) {
      std::error_code ec;
      fs::remove(b.path, ec);
    }
  }
  return bad;
}

namespace {

// One model directory's records, seen as chains: a checkpoint at 128k is usable only while its k
// blocks (its own key, then parent by parent down to the first block) are all present.
struct ChainView {
  struct Node {
    RecordFile file;
    RecordHeader header;
    int refs = 0;  // usable checkpoints whose chain holds this block
  };
  std::map<std::string, Node> blocks, checkpoints;  // by key
  std::vector<RecordFile> unreadable;

  // The blocks of `ckpt`'s chain, last first; empty when one is missing or does not fit.
  std::vector<Node*> Chain(const Node& ckpt) {
    std::vector<Node*> chain;
    const int64_t step = ckpt.header.block_tokens;
    if (step <= 0 || ckpt.header.end_tokens % step != 0) return {};
    std::string key = ckpt.header.key;
    for (int64_t end = ckpt.header.end_tokens; end > 0; end -= step) {
      auto it = blocks.find(key);
      if (it == blocks.end() || it->second.header.end_tokens != end ||
          it->second.header.block_tokens != step) {
        return {};
      }
      chain.push_back(&it->second);
      key = it->second.header.parent;
    }
    return key.empty() ? chain : std::vector<Node*>{};
  }
};

std::map<fs::path, ChainView> ReadChains(const std::vector<RecordFile>& files) {
  std::map<fs::path, ChainView> views;
  for (const auto& f : files) {
    ChainView& v = views[f.path.parent_path()];
    const std::string head = ReadHeaderBytes(f.path);
    auto h = DecodeRecordHeader(head, static_cast<uint64_t>(f.bytes));
    if (!h || !CheckPlacement(f.path, *h)) {
      v.unreadable.push_back(f);
      continue;
    }
    auto& nodes = h->kind == RecordKind::kCheckpoint ? v.checkpoints : v.blocks;
    nodes[h->key] = {f, *h};
  }
  return views;
}

}  // namespace

Expected<PruneResult, std::string> PruneStore(const fs::path& dir, int64_t max_bytes, bool locked) {
  std::optional<StoreLock> lock;
  if (!locked) {
    auto l = StoreLock::Acquire(dir);
    if (!l) return MakeUnexpected(l.error());
    lock.emplace(std::move(*l));
  }
  PruneResult r;
  // Stale temp files of crashed writers (WriteFileAtomic names them ".<name>.tmp<n>").
  const auto stale = fs::file_time_type::clock::now() - std::chrono::hours(1);
  std::error_code ec;
  for (const auto& model : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (!model.is_directory(ec2)) continue;
    for (const auto& e : fs::directory_iterator(model.path(), ec2)) {
      const std::string name = e.path().filename().string();
      std::error_code ec3;
      if (name.size() > 1 && name[0] == '.' && name.find(".tmp") != std::string::npos &&
          e.last_write_time(ec3) < stale) {
        fs::remove(e.path(), ec3);
      }
    }
  }
  const std::vector<RecordFile> files = ListRecordFiles(dir);
  int64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  auto remove = [&](const RecordFile& f, bool unusable) {
    std::error_code e;
    if (fs::remove(f.path, e)) {
      r.removed_records += 1;
      r.removed_bytes += f.bytes;
      if (unusable) r.removed_unusable += 1;
    }
    total -= f.bytes;
  };

  // Records no lookup can use go first, whatever the budget (writers hold the lock while they
  // write a chain, so under it every chain is complete or garbage): unreadable ones (another
  // format version, a damaged header), checkpoints missing a block, blocks no checkpoint reaches.
  std::map<fs::path, ChainView> views = ReadChains(files);
  struct Usable {
    ChainView::Node* ckpt;
    std::vector<ChainView::Node*> chain;
  };
  std::vector<Usable> usable;
  for (auto& [model, v] : views) {
    for (const auto& f : v.unreadable) remove(f, true);
    for (auto& [key, ckpt] : v.checkpoints) {
      std::vector<ChainView::Node*> chain = v.Chain(ckpt);
      if (chain.empty()) {
        remove(ckpt.file, true);
        continue;
      }
      for (auto* b : chain) b->refs += 1;
      usable.push_back({&ckpt, std::move(chain)});
    }
    for (auto& [key, b] : v.blocks) {
      if (b.refs == 0) remove(b.file, true);
    }
  }

  // Then least recently used checkpoints, each with the blocks only it still needed, so that
  // eviction never strands a chain (a shared early block stays while any checkpoint uses it).
  std::sort(usable.begin(), usable.end(), [](const Usable& a, const Usable& b) {
    return a.ckpt->file.mtime < b.ckpt->file.mtime;
  });
  for (auto& u : usable) {
    if (total <= max_bytes) break;
    remove(u.ckpt->file, false);
    for (auto* b : u.chain) {
      if (--b->refs == 0) remove(b->file, false);
    }
  }
  r.remaining_bytes = total;
  return r;
}

}  // namespace dsagent::engine::kv
