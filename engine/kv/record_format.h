// One prefix-store record as a file: a fixed versioned header, then the payload (an encoded
// block or checkpoint, see state_codec.h), LZ4-compressed unless that does not help.
//
//   offset size
//   0      8    magic "DSKVREC\0"
//   8      4    format version (kRecordVersion)
//   12     4    kind (1 block, 2 checkpoint)
//   16     4    codec (0 raw, 1 lz4)
//   20     4    reserved (0)
//   24     8    block_tokens (alignment the key was computed with)
//   32     8    end_tokens: the record covers tokens [0, end_tokens)
//   40     8    raw payload bytes
//   48     8    stored payload bytes
//   56     64   model identity (hex)
//   120    64   key (hex, prefix_key.h)
//   184    64   parent (hex): a block's predecessor's key; zeros for the first block and for
//               checkpoints (a checkpoint's last block has its key). Lets eviction see chains.
//   248    32   SHA-256 of bytes [0, 248) and the stored payload
//   280         stored payload
// Version 1 (no parent field) is not read: such records count as bad and are recomputed.
// Little-endian. Anything that does not verify is an error value naming the reason, never a
// crash, so a bad record is skipped and recomputed. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent::engine::kv {

inline constexpr uint32_t kRecordVersion = 2;
inline constexpr size_t kRecordHeaderBytes = 280;

enum class RecordKind : uint32_t { kBlock = 1, kCheckpoint = 2 };

struct RecordHeader {
  RecordKind kind = RecordKind::kBlock;
  uint32_t codec = 0;
  int64_t block_tokens = 0;
  int64_t end_tokens = 0;
  uint64_t raw_bytes = 0, stored_bytes = 0;
  std::string model_id, key;  // 64 hex chars each
  std::string parent;         // 64 hex chars, or empty (see the layout above)
};

struct Record {
  RecordHeader header;
  std::string payload;  // decompressed
};

// The file bytes for `payload` (compressed with LZ4 when that makes it smaller).
std::string EncodeRecord(const RecordHeader& header, std::string_view payload);

// Only the header (for stats): checks magic, version and the size fields against the file's
// length `file_bytes`, not the checksum. `head` holds at least the first kRecordHeaderBytes bytes.
Expected<RecordHeader, std::string> DecodeRecordHeader(std::string_view head, uint64_t file_bytes);

// Verifies everything: magic, version, sizes (truncation), checksum, decompression. Error: the
// reason ("truncated", "checksum mismatch", "unsupported version 7", ...).
Expected<Record, std::string> DecodeRecord(std::string_view file);

}  // namespace dsagent::engine::kv
