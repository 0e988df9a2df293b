// KV cache benchmark (engine/kv): time to first token cold vs warm at several context lengths on a
// checkpoint (the tiny one by default, or a Flash-shaped synthetic one from `dsagent engine
// synth`), disk bytes per token against the accounting formula, and snapshot / restore bandwidth
// on that model's state and on a Flash-shaped synthetic state (no weights needed: the state is
// filled with values on the reference's FP8 / FP4 grids).
//
// Usage: kv_cache_bench [--model DIR] [--contexts 128,256,384] [--tail 16] [--runs 3]
//                       [--flash-config FILE] [--flash-tokens 8192]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/kv_accounting.h"
#include "engine/kv/record_format.h"
#include "engine/kv/state_codec.h"
#include "engine/kv/store_maintenance.h"

namespace {
using namespace dsagent::engine;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

template <typename F>
double Best(int runs, F f) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto t = Clock::now();
    f();
    best = std::min(best, Since(t));
  }
  return best;
}

int64_t DirBytes(const fs::path& dir, const std::string& ext) {
  int64_t n = 0;
  for (const auto& f : kv::ListRecordFiles(dir)) {
    if (f.path.extension() == ext) n += f.bytes;
  }
  return n;
}

// Snapshot (encode blocks + checkpoint + LZ4 records) and restore (decode + assemble) timings.
void Bandwidth(const char* name, const ModelConfig& c, const forward::SequenceState& s) {
  const int64_t align = kv::AlignmentTokens(c);
  const int64_t blocks = s.pos / align;
  std::vector<std::string> files;
  int64_t raw = 0, stored = 0, block_stored = 0;
  const double t_save = Best(3, [&] {
    files.clear();
    raw = stored = block_stored = 0;
    for (int64_t b = 0; b <= blocks; ++b) {
      const bool ckpt = b == blocks;
      const std::string payload = ckpt ? kv::EncodeCheckpoint(s) : kv::EncodeBlock(s, b, align);
      kv::RecordHeader h;
      h.kind = ckpt ? kv::RecordKind::kCheckpoint : kv::RecordKind::kBlock;
      h.model_id = std::string(64, '0');
      h.key = std::string(64, '0');
      files.push_back(kv::EncodeRecord(h, payload));
      raw += static_cast<int64_t>(payload.size());
      stored += static_cast<int64_t>(files.back().size());
      if (!ckpt) block_stored += static_cast<int64_t>(files.back().size());
    }
  });
  const double t_load = Best(3, [&] {
    std::vector<std::string> payloads;
    std::string ckpt;
    for (size_t i = 0; i < files.size(); ++i) {
      auto r = kv::DecodeRecord(files[i]);
      if (i + 1 == files.size())
        ckpt = std::move(r->payload);
      else
        payloads.push_back(std::move(r->payload));
    }
    auto st = kv::AssembleState(c, payloads, ckpt, align);
    if (!st) std::fprintf(stderr, "assemble: %s\n", st.error().c_str());
  });
  const auto ref = kv::ComputeKvFootprint(c, kv::KvLayout::kReference);
  const auto packed = kv::ComputeKvFootprint(c, kv::KvLayout::kPacked);
  std::printf(
      "%s: %lld tokens, raw %.2f MiB -> %.2f MiB on disk (lz4 %.2fx); blocks %.1f B/token on disk "
      "vs formula %.1f (bf16) / %.1f (packed); checkpoint %.2f MiB on disk vs fixed %.2f MiB; "
      "save %.1f ms (%.0f MB/s raw), restore %.1f ms (%.0f MB/s raw)\n",
      name, static_cast<long long>(s.pos), raw / 1048576.0, stored / 1048576.0,
      static_cast<double>(raw) / static_cast<double>(stored),
      static_cast<double>(block_stored) / static_cast<double>(std::max<int64_t>(1, s.pos)),
      ref.bytes_per_token, packed.bytes_per_token, (stored - block_stored) / 1048576.0,
      ref.fixed_bytes() / 1048576.0, t_save * 1e3, raw / t_save / 1e6, t_load * 1e3,
      raw / t_load / 1e6);
}

// Evicts the record files from the page cache (clean pages; no root needed), so the next
// lookup reads them from the disk.
void DropFromPageCache(const fs::path& dir) {
  for (const auto& f : kv::ListRecordFiles(dir)) {
    const int fd = ::open(f.path.c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// The whole store path for `s`: StoreAligned into a fresh directory (encode, compress, checksum,
// fsync, rename), then Lookup with the records in the page cache and again after evicting them.
void StoreRoundTrip(const char* name, const ModelConfig& c, const forward::SequenceState& s) {
  const fs::path dir = fs::temp_directory_path() / ("kv_bench_rt_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::vector<int32_t> tokens(static_cast<size_t>(s.pos));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i % 1000);
  auto store = kv::DiskPrefixStore::Open(c, std::string(64, 'b'), {.dir = dir});
  if (!store) return;
  auto t = Clock::now();
  auto stored = (*store)->StoreAligned(tokens, s);
  const double t_store = Since(t);
  int64_t bytes = 0;
  for (const auto& f : kv::ListRecordFiles(dir)) bytes += f.bytes;
  double t_cached = 1e30, t_disk = 1e30;
  int64_t hit_cached = 0, hit_disk = 0;
  for (int i = 0; i < 3; ++i) {
    t = Clock::now();
    hit_cached = (*store)->Lookup(tokens).tokens;
    t_cached = std::min(t_cached, Since(t));
    DropFromPageCache(dir);
    t = Clock::now();
    hit_disk = (*store)->Lookup(tokens).tokens;
    t_disk = std::min(t_disk, Since(t));
  }
  std::printf(
      "%s through the store: %lld tokens stored (%s) in %.1f ms, %.2f MiB on disk; lookup+restore "
      "%.1f ms from the page cache (%lld tokens), %.1f ms from disk (%lld tokens, %.0f MB/s)\n",
      name, static_cast<long long>(s.pos), stored ? "ok" : stored.error().c_str(), t_store * 1e3,
      bytes / 1048576.0, t_cached * 1e3, static_cast<long long>(hit_cached), t_disk * 1e3,
      static_cast<long long>(hit_disk), bytes / t_disk / 1e6);
  fs::remove_all(dir);
}

// A state of `tokens` tokens for `c` filled like the model fills it: window and compressed entries
// bf16 with FP8-simulated non-RoPE dims, indexer keys FP4-simulated, compressor state fp32 (at an
// aligned position the ratio-r>4 partial rows are empty).
forward::SequenceState SyntheticState(const ModelConfig& c, int64_t tokens) {
  forward::SequenceState s = forward::NewSequenceState(c);
  s.pos = tokens;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto fill = [&](std::vector<uint16_t>& v, int64_t width, bool fp4) {
    std::vector<float> row(static_cast<size_t>(width));
    for (size_t at = 0; at < v.size(); at += static_cast<size_t>(width)) {
      for (auto& x : row) x = nd(rng);
      if (fp4) {
        kernels::cpu::QuantizeFp4Blocks(row.data(), width, 32);
      } else {
        kernels::cpu::QuantizeFp8Blocks(row.data(), width - c.rope_head_dim, 64);
      }
      for (int64_t i = 0; i < width; ++i)
        v[at + static_cast<size_t>(i)] = forward::FloatToBf16Bits(row[static_cast<size_t>(i)]);
    }
  };
  for (auto& l : s.layers) {
    fill(l.window, l.head_dim, false);
    if (l.ratio == 0) continue;
    const int64_t n = tokens / l.ratio;
    l.compressed.resize(static_cast<size_t>(n * l.head_dim));
    fill(l.compressed, l.head_dim, false);
    l.index_keys.resize(static_cast<size_t>(n * l.index_head_dim));
    if (l.index_head_dim) fill(l.index_keys, l.index_head_dim, true);
    if (l.ratio == 4) {  // previous block rows in use
      for (auto* cs : {&l.kv_compressor, &l.index_compressor}) {
        for (int64_t i = 0; i < 4 * cs->width; ++i) {
          cs->kv[static_cast<size_t>(i)] = nd(rng);
          cs->score[static_cast<size_t>(i)] = nd(rng);
        }
      }
    }
  }
  for (auto& l : s.mtp) fill(l.window, l.head_dim, false);
  return s;
}

// The model's golden prompt if it has one (tokens.i32), then deterministic pseudo-random ids.
std::vector<int32_t> Prompt(const fs::path& model_dir, int64_t vocab, size_t n) {
  auto t = forward::ReadTokenFile(model_dir / "tokens.i32");
  std::vector<int32_t> v = t ? *t : std::vector<int32_t>{};
  uint32_t x = 12345;
  while (v.size() < n) {
    x = x * 1664525u + 1013904223u;
    v.push_back(
        static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(std::min<int64_t>(vocab, 512))));
  }
  v.resize(n);
  return v;
}

struct Options {
  fs::path model_dir = DSAGENT_SOURCE_DIR "/tests/data/v4-tiny";
  std::vector<int64_t> contexts = {128, 256, 384};
  int64_t tail = 16;
  int runs = 3;
  fs::path flash_config = DSAGENT_SOURCE_DIR "/tests/data/v4-flash-config.json";
  int64_t flash_tokens = 8192;
};

bool ParseOptions(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") {
      o.model_dir = value;
    } else if (flag == "--contexts") {
      o.contexts.clear();
      for (size_t at = 0; at < value.size();) {
        const size_t comma = std::min(value.find(',', at), value.size());
        o.contexts.push_back(std::atoll(value.substr(at, comma - at).c_str()));
        at = comma + 1;
      }
    } else if (flag == "--tail") {
      o.tail = std::atoll(value.c_str());
    } else if (flag == "--runs") {
      o.runs = std::atoi(value.c_str());
    } else if (flag == "--flash-config") {
      o.flash_config = value;
    } else if (flag == "--flash-tokens") {
      o.flash_tokens = std::atoll(value.c_str());
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.runs > 0 && o.tail > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: kv_cache_bench [--model DIR] [--contexts 128,256,384] [--tail 16] "
                 "[--runs 3] [--flash-config FILE] [--flash-tokens 8192]\n");
    return 2;
  }
  auto model = forward::Model::Load(o.model_dir);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().c_str());
    return 1;
  }
  forward::Model& m = **model;
  const int64_t vocab = m.config().vocab_size;
  const fs::path dir = fs::temp_directory_path() / ("kv_bench_" + std::to_string(::getpid()));
  const std::string id(64, 'a');
  const auto packed = kv::ComputeKvFootprint(m.config(), kv::KvLayout::kPacked);
  std::printf(
      "%s: time to first token (best of %d), tail = %lld new tokens; packed formula "
      "%.1f B/token:\n",
      o.model_dir.string().c_str(), o.runs, static_cast<long long>(o.tail), packed.bytes_per_token);
  forward::SequenceState last_stored;  // the longest prefix's state, for the bandwidth line
  for (int64_t prefix : o.contexts) {
    const auto prompt = Prompt(o.model_dir, vocab, static_cast<size_t>(prefix + o.tail));
    const auto head = std::span(prompt).first(static_cast<size_t>(prefix));
    fs::remove_all(dir);
    forward::SequenceState stored = m.NewSequence();
    (void)m.ForwardLast(stored, head);
    {
      auto store = kv::DiskPrefixStore::Open(m.config(), id, {.dir = dir});
      (void)(*store)->StoreAligned(head, stored);
    }
    last_stored = stored;
    std::vector<float> cold_logits, warm_logits;
    const double cold = Best(o.runs, [&] {
      forward::SequenceState s = m.NewSequence();
      auto l = m.ForwardLast(s, prompt);
      if (l) cold_logits = std::move(*l);
    });
    int64_t hit = 0;
    double restore = 1e30;
    const double warm = Best(o.runs, [&] {
      const auto t = Clock::now();
      auto store = kv::DiskPrefixStore::Open(m.config(), id, {.dir = dir});
      auto r = (*store)->Lookup(std::span(prompt).first(prompt.size() - 1));
      restore = std::min(restore, Since(t));
      hit = r.tokens;
      auto l = m.ForwardLast(r.state, std::span(prompt).subspan(static_cast<size_t>(hit)));
      if (l) warm_logits = std::move(*l);
    });
    // The warm run is a chunked forward (prefix, then tail); the same chunking from scratch is
    // its bit-exact reference (one-shot prefill may differ in bf16 roundings on Flash-sized
    // index lists: engine/README.md).
    auto chunked = m.ForwardLast(stored, std::span(prompt).subspan(static_cast<size_t>(prefix)));
    const bool same = chunked && *chunked == warm_logits;
    float max_delta = 0;
    for (size_t i = 0; i < warm_logits.size() && i < cold_logits.size(); ++i) {
      max_delta = std::max(max_delta, std::fabs(warm_logits[i] - cold_logits[i]));
    }
    std::printf(
        "  context %5lld: cold %.1f ms, warm %.1f ms (restore %.1f ms; %lld cached + %lld "
        "computed), %.1fx; warm == chunked cold: %s, max |warm - one-shot cold| %.3g; disk %lld B "
        "blocks (%.1f B/token), %lld B checkpoint\n",
        static_cast<long long>(prompt.size()), cold * 1e3, warm * 1e3, restore * 1e3,
        static_cast<long long>(hit),
        static_cast<long long>(prompt.size() - static_cast<size_t>(hit)), cold / warm,
        same ? "bit-identical" : "DIFFERENT", static_cast<double>(max_delta),
        static_cast<long long>(DirBytes(dir, ".blk")),
        static_cast<double>(DirBytes(dir, ".blk")) / static_cast<double>(prefix),
        static_cast<long long>(DirBytes(dir, ".ckpt")));
  }
  fs::remove_all(dir);
  if (last_stored.pos > 0) Bandwidth("model state", m.config(), last_stored);
  auto flash = LoadModelConfig(o.flash_config);
  if (!flash) {
    std::fprintf(stderr, "%s\n", flash.error().c_str());
    return 1;
  }
  const forward::SequenceState synthetic = SyntheticState(*flash, o.flash_tokens);
  Bandwidth("flash-shaped synthetic state", *flash, synthetic);
  StoreRoundTrip("flash-shaped synthetic state", *flash, synthetic);
  return 0;
}
