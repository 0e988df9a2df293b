// Whole-directory operations on a prefix store (disk_prefix_store.h), for `dsagent cache` and for
// the store's own size budget: list records, verify them, evict least recently used ones.
// Recency is the file's mtime: a record's mtime is set when written and refreshed when a Lookup
// uses it. All functions tolerate concurrent writers (files may appear or vanish while they run).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent::engine::kv {

struct RecordFile {
  std::filesystem::path path;
  int64_t bytes = 0;
  std::filesystem::file_time_type mtime;
};

// Every *.blk / *.ckpt under <dir>/<model>/ (temp files and other names are ignored).
std::vector<RecordFile> ListRecordFiles(const std::filesystem::path& dir);

struct StoreStats {
  struct Model {
    int64_t blocks = 0, checkpoints = 0, bytes = 0;
    int64_t longest_prefix_tokens = 0;  // largest checkpoint position
    int64_t raw_bytes = 0;              // payload bytes before compression
  };
  int64_t records = 0, bytes = 0, unreadable = 0;
  std::map<std::string, Model> models;  // by full model identity (hex)
};

// Reads every record's header (not the payload). Records whose header does not decode count as
// unreadable.
StoreStats ComputeStoreStats(const std::filesystem::path& dir);

struct BadRecord {
  std::filesystem::path path;
  std::string reason;
};

// Fully decodes every record (checksum, sizes, decompression) and checks that it lies where its
// header says (model directory, file name = key, extension = kind). Returns the bad ones; with
// `remove`, also deletes them (under the store lock).
std::vector<BadRecord> VerifyStore(const std::filesystem::path& dir, bool remove = false);

struct PruneResult {
  int64_t removed_records = 0, removed_bytes = 0, remaining_bytes = 0;
  int64_t removed_unusable = 0;  // of removed_records: records no lookup could have used
};

// Deletes, in this order: records no lookup can use (a header that does not decode or sits in the
// wrong place, a checkpoint with a missing block, a block no usable checkpoint reaches) —
// always; then least recently used checkpoints, each with the blocks no other checkpoint needs,
// until the records total at most `max_bytes`; and temp files older than an hour. Recency is the
// checkpoint's mtime (Store and Lookup refresh it). Takes the store lock unless `locked`.
Expected<PruneResult, std::string> PruneStore(const std::filesystem::path& dir, int64_t max_bytes,
                                              bool locked = false);

}  // namespace dsagent::engine::kv
