#include "engine/kv/record_format.h"

#include <lz4.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace dsagent::engine::kv {
namespace {

static_assert(std::endian::native == std::endian::little, "the record format is little-endian");

constexpr char kMagic[8] = {'D', 'S', 'K', 'V', 'R', 'E', 'C', '\0'};
constexpr size_t kParentAt = 184;
constexpr size_t kChecksumAt = 248;

template <typename T>
void Put(std::string& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}
template <typename T>
T Get(std::string_view in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}

std::string Checksum(std::string_view header, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, header.data(), header.size());
  EVP_DigestUpdate(ctx, payload.data(), payload.size());
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

}  // namespace

std::string EncodeRecord(const RecordHeader& h, std::string_view payload) {
  std::string stored;
  uint32_t codec = 0;
  if (payload.size() <= static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
    stored.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(payload.size()))));
    const int n =
        LZ4_compress_default(payload.data(), stored.data(), static_cast<int>(payload.size()),
                             static_cast<int>(stored.size()));
    if (n > 0 && static_cast<size_t>(n) < payload.size()) {
      stored.resize(static_cast<size_t>(n));
      codec = 1;
    }
  }
  if (codec == 0) stored.assign(payload);
  std::string out(kRecordHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  Put<uint32_t>(out, 8, kRecordVersion);
  Put<uint32_t>(out, 12, static_cast<uint32_t>(h.kind));
  Put<uint32_t>(out, 16, codec);
  Put<int64_t>(out, 24, h.block_tokens);
  Put<int64_t>(out, 32, h.end_tokens);
  Put<uint64_t>(out, 40, payload.size());
  Put<uint64_t>(out, 48, stored.size());
  std::memcpy(out.data() + 56, h.model_id.data(), std::min<size_t>(64, h.model_id.size()));
  std::memcpy(out.data() + 120, h.key.data(), std::min<size_t>(64, h.key.size()));
  std::memcpy(out.data() + kParentAt, h.parent.data(), std::min<size_t>(64, h.parent.size()));
  const std::string sum = Checksum(std::string_view(out).substr(0, kChecksumAt), stored);
  std::memcpy(out.data() + kChecksumAt, sum.data(), sum.size());
  out += stored;
  return out;
}

Expected<RecordHeader, std::string> DecodeRecordHeader(std::string_view file, uint64_t file_bytes) {
  // Magic and version first: a record of another format version may have a shorter header.
  if (file.size() < 12) return MakeUnexpected("truncated (header)");
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) return MakeUnexpected("bad magic");
  const auto version = Get<uint32_t>(file, 8);
  if (version != kRecordVersion) {
    return MakeUnexpected("unsupported version " + std::to_string(version));
  }
  if (file.size() < kRecordHeaderBytes || file_bytes < kRecordHeaderBytes) {
    return MakeUnexpected("truncated (header)");
  }
  RecordHeader h;
  const auto kind = Get<uint32_t>(file, 12);
  if (kind != 1 && kind != 2) return MakeUnexpected("unknown record kind " + std::to_string(kind));
  h.kind = static_cast<RecordKind>(kind);
  h.codec = Get<uint32_t>(file, 16);
  if (h.codec > 1) return MakeUnexpected("unknown codec " + std::to_string(h.codec));
  h.block_tokens = Get<int64_t>(file, 24);
  h.end_tokens = Get<int64_t>(file, 32);
  h.raw_bytes = Get<uint64_t>(file, 40);
  h.stored_bytes = Get<uint64_t>(file, 48);
  h.model_id.assign(file.data() + 56, 64);
  h.key.assign(file.data() + 120, 64);
  if (file[kParentAt] != '\0') h.parent.assign(file.data() + kParentAt, 64);
  if (file_bytes - kRecordHeaderBytes < h.stored_bytes) return MakeUnexpected("truncated");
  if (file_bytes - kRecordHeaderBytes > h.stored_bytes) return MakeUnexpected("trailing bytes");
  if (h.codec == 0 && h.raw_bytes != h.stored_bytes) return MakeUnexpected("size fields disagree");
  return h;
}

Expected<Record, std::string> DecodeRecord(std::string_view file) {
  auto h = DecodeRecordHeader(file, file.size());
  if (!h) return MakeUnexpected(h.error());
  const std::string_view stored = file.substr(kRecordHeaderBytes);
  if (Checksum(file.substr(0, kChecksumAt), stored) != file.substr(kChecksumAt, 32)) {
    return MakeUnexpected("checksum mismatch");
  }
  Record r;
  r.header = *h;
  if (h->codec == 0) {
    r.payload.assign(stored);
    return r;
  }
  if (h->raw_bytes > static_cast<uint64_t>(LZ4_MAX_INPUT_SIZE)) {
    return MakeUnexpected("raw size too large for lz4");
  }
  // An LZ4 block expands at most ~255-fold: a larger claimed size is damage, and allocating it
  // would let a corrupt record take gigabytes before the decompression fails.
  if (h->raw_bytes > 255 * static_cast<uint64_t>(stored.size()) + 64) {
    return MakeUnexpected("raw size larger than the stored bytes can decompress to");
  }
  r.payload.resize(h->raw_bytes);
  const int n =
      LZ4_decompress_safe(stored.data(), r.payload.data(), static_cast<int>(stored.size()),
                          static_cast<int>(r.payload.size()));
  if (n < 0 || static_cast<uint64_t>(n) != h->raw_bytes) {
    return MakeUnexpected("lz4 decompression failed");
  }
  return r;
}

}  // namespace dsagent::engine::kv
