#include "engine/model/synthetic_checkpoint.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string_view>

#include "common/file_io.h"
#include "engine/forward/numerics.h"
#include "engine/forward/thread_pool.h"
#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;

// ---- deterministic random numbers ------------------------------------------------------------

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// xoshiro256**, seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) w = SplitMix64(seed);
  }
  uint64_t Next() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  // Approximately N(0, 1), within +-2*sqrt(3): the centred sum of four 16-bit uniforms (each of
  // variance 65536^2 / 12), in integer arithmetic so the value does not depend on libm.
  float Normal() {
    const uint64_t r = Next();
    const int64_t sum = static_cast<int64_t>((r & 0xffff) + ((r >> 16) & 0xffff) +
                                             ((r >> 32) & 0xffff) + (r >> 48));
    return static_cast<float>(sum - 131070) * 2.6429508e-05f;  // sqrt(3) / 65536
  }
  // The same distribution, coarser, for the quantised formats: the sum of four 8-bit uniforms,
  // 0..1020, an index into a table of encoded values (QuantTables).
  int SmallSum() {
    const auto r = static_cast<uint32_t>(Next() >> 32);
    return static_cast<int>((r & 255) + ((r >> 8) & 255) + ((r >> 16) & 255) + (r >> 24));
  }
  uint64_t Below(uint64_t n) {  // uniform in [0, n) (Lemire's multiply-shift; bias < n / 2^64)
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

 private:
  uint64_t s_[4];
};

// Tensors are generated in chunks of 128 rows (the height of an FP8 scale block), each with its
// own generator, so chunks can be filled in parallel and a tensor's values depend only on the seed,
// its name and its shape.
constexpr int64_t kChunkRows = 128;

Rng ChunkRng(uint64_t seed, std::string_view name, int64_t chunk) {
  return Rng(seed ^ Fnv1a(name) ^ (static_cast<uint64_t>(chunk) * 0xd1b54a32d192ed03ull));
}

// ---- what goes into each tensor ---------------------------------------------------------------

enum class Fill { kConstant, kNormal, kFp8, kFp4, kScale, kExpertIds };

struct Plan {
  Fill fill = Fill::kNormal;
  float value = 0;  // kConstant: the value; kNormal: the standard deviation
  float mean = 0;   // kNormal: the mean
};

int64_t Product(const std::vector<int64_t>& shape, size_t from) {
  return std::accumulate(shape.begin() + static_cast<std::ptrdiff_t>(from), shape.end(), int64_t{1},
                         std::multiplies<>());
}

// Logical input width of a matrix [out, in] (FP4 is stored as int8 [out, in/2]).
int64_t InputWidth(const ExpectedTensor& t) {
  return Product(t.shape, 1) * (t.dtype == DType::kI8 ? 2 : 1);
}

Plan PlanFor(const ExpectedTensor& t, SyntheticValues values) {
  switch (t.dtype) {
    case DType::kF8E8M0:
      return {Fill::kScale};
    case DType::kF8E4M3:
      return {Fill::kFp8};  // ~N(0, 1/in): see QuantTables
    case DType::kI8:
      return {Fill::kFp4};
    case DType::kI64:
      return {Fill::kExpertIds};
    default:
      break;
  }
  if (values == SyntheticValues::kVaried) {  // see SyntheticValues
    switch (t.values) {
      case V4Values::kNormWeight:
        return {Fill::kNormal, 0.1f, 1.0f};
      case V4Values::kAttnSink:
        return {Fill::kNormal, 0.7f};
      case V4Values::kGateBias:
        return {Fill::kNormal, 0.1f};
      case V4Values::kHcBase:
        return {Fill::kNormal, 0.5f};
      case V4Values::kHcScale:
        return {Fill::kNormal, 0.25f, 1.0f};
      case V4Values::kApe:
        return {Fill::kNormal, 0.5f};
      default:
        break;
    }
  }
  switch (t.values) {
    case V4Values::kNormWeight:  // every RMSNorm, q/kv/e/h norms too
      return {Fill::kConstant, 1.0f};
    case V4Values::kAttnSink:
    case V4Values::kGateBias:
    case V4Values::kHcBase:
      return {Fill::kConstant, 0.0f};
    // hc_*_scale multiply mixing logits that are ~N(0, 1) (hc_*_fn ~N(0, 1/in) on an
    // RMS-normalised input): 0.5 keeps the sigmoids and the Sinkhorn softmax away from saturation.
    case V4Values::kHcScale:
      return {Fill::kConstant, 0.5f};
    case V4Values::kApe:  // small next to the ~N(0, 1) gate logits
      return {Fill::kNormal, 0.02f};
    case V4Values::kEmbedding:  // the residual stream's scale
      return {Fill::kNormal, 1.0f};
    default:
      return {Fill::kNormal, 1.0f / std::sqrt(static_cast<float>(InputWidth(t)))};
  }
}

// Quantised weights ~N(0, 1/in) are stored as q = w / scale with power-of-two block scales of
// 2^(base + j), j = 0 or 1 at random per block. `base` is the smallest exponent for which q has a
// standard deviation of at most 32 for FP8 (normal range, far from the 448 limit) or 1.5 for FP4
// (within +-6 even at the +-2*sqrt(3) tails of the draws). ceil(log2) is taken exactly via frexp,
// so the bytes do not depend on libm.
int BaseScaleExponent(const ExpectedTensor& weight) {
  const double sigma = 1.0 / std::sqrt(static_cast<double>(InputWidth(weight)));
  int e = 0;
  const double m = std::frexp(sigma / (weight.dtype == DType::kI8 ? 1.5 : 32.0), &e);
  return m == 0.5 ? e - 1 : e;
}

// A weight's e8m0 block scale bytes: a pure function of seed and name, so the weight (which needs
// them to place its values) and its .scale tensor (written after it) agree without storing them.
std::vector<uint8_t> BlockScaleBytes(uint64_t seed, const ExpectedTensor& scale,
                                     const ExpectedTensor& weight) {
  const int base = BaseScaleExponent(weight);
  std::vector<uint8_t> bytes(static_cast<size_t>(Product(scale.shape, 0)));
  Rng rng = ChunkRng(seed, scale.name, 0);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(127 + base + static_cast<int>(rng.Next() & 1));
  return bytes;
}

// The encoded value (e4m3 byte or e2m1 nibble) of every Rng::SmallSum() under either block scale:
// [j][sum] for scale 2^(base + j). Quantised weights are most of a checkpoint's bytes, and a lookup
// is ~10x faster than rounding each value.
constexpr int kSmallSums = 1021;
using QuantTables = std::array<std::array<uint8_t, kSmallSums>, 2>;

QuantTables MakeQuantTables(const ExpectedTensor& weight) {
  const double sigma = 1.0 / std::sqrt(static_cast<double>(InputWidth(weight)));
  const int base = BaseScaleExponent(weight);
  QuantTables tables{};
  for (int j = 0; j < 2; ++j) {
    for (int sum = 0; sum < kSmallSums; ++sum) {
      const double z = (sum - 510) / 147.80138;  // sqrt((256^2 - 1) / 3): unit variance
      const auto q = static_cast<float>(std::ldexp(sigma * z, -(base + j)));
      tables[j][sum] =
          weight.dtype == DType::kI8 ? forward::Fp4E2M1Nibble(q) : forward::Fp8E4M3Byte(q);
    }
  }
  return tables;
}

struct TensorJob {
  const ExpectedTensor* tensor = nullptr;
  Plan plan;
  int64_t in = 0;              // logical input width of the weight (kFp8, kFp4)
  std::vector<uint8_t> scale;  // block scale bytes (kFp8, kFp4: of this weight; kScale: its own)
  int64_t scale_cols = 0;
  int scale_base_byte = 0;  // kFp8, kFp4: 127 + BaseScaleExponent
  QuantTables codes{};      // kFp8, kFp4
  int n_experts = 0;        // kExpertIds
};

void Store(DType dtype, float v, uint8_t* out) {
  if (dtype == DType::kBF16) {
    const uint16_t bits = forward::FloatToBf16Bits(v);
    std::memcpy(out, &bits, 2);
  } else {
    std::memcpy(out, &v, 4);
  }
}

// Writes rows [row_begin, row_end) of the tensor (row = first dimension) to `out`.
void FillRows(const TensorJob& job, uint64_t seed, int64_t row_begin, int64_t row_end,
              uint8_t* out) {
  const ExpectedTensor& t = *job.tensor;
  const int64_t row_elements = Product(t.shape, 1);
  const size_t esize = DTypeBytes(t.dtype);
  const size_t row_bytes = static_cast<size_t>(row_elements) * esize;
  Rng rng = ChunkRng(seed, t.name, row_begin / kChunkRows);
  const float v = job.plan.value;
  std::vector<int64_t> ids;  // kExpertIds: a permutation of the experts, reshuffled per token
  if (job.plan.fill == Fill::kExpertIds) {
    ids.resize(static_cast<size_t>(job.n_experts));
    std::iota(ids.begin(), ids.end(), int64_t{0});
  }
  for (int64_t r = row_begin; r < row_end; ++r, out += row_bytes) {
    switch (job.plan.fill) {
      case Fill::kConstant:
        for (int64_t i = 0; i < row_elements; ++i) Store(t.dtype, v, out + i * esize);
        break;
      case Fill::kNormal:
        for (int64_t i = 0; i < row_elements; ++i)
          Store(t.dtype, job.plan.mean + v * rng.Normal(), out + i * esize);
        break;
      case Fill::kFp8: {  // scale block [r / 128, c / 128]
        const uint8_t* scales = job.scale.data() + (r / 128) * job.scale_cols;
        for (int64_t c = 0; c < job.in; ++c) {
          out[c] = job.codes[scales[c / 128] - job.scale_base_byte][rng.SmallSum()];
        }
        break;
      }
      case Fill::kFp4: {  // scale [r, c / 32]; two values per byte, the even column low
        const uint8_t* scales = job.scale.data() + r * job.scale_cols;
        for (int64_t c = 0; c < job.in; c += 2) {
          const auto& codes = job.codes[scales[c / 32] - job.scale_base_byte];
          const uint8_t low = codes[rng.SmallSum()], high = codes[rng.SmallSum()];
          out[c / 2] = static_cast<uint8_t>(low | (high << 4));
        }
        break;
      }
      case Fill::kScale:
        std::memcpy(out, job.scale.data() + r * row_elements, row_bytes);
        break;
      case Fill::kExpertIds: {  // distinct experts: a partial Fisher-Yates shuffle per token
        for (int64_t k = 0; k < row_elements; ++k) {
          const auto j =
              k + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(job.n_experts - k)));
          std::swap(ids[static_cast<size_t>(k)], ids[static_cast<size_t>(j)]);
        }
        std::memcpy(out, ids.data(), row_bytes);
        break;
      }
    }
  }
}

// The safetensors header: tensors in inventory order, packed back to back; the JSON padded with
// spaces so the data starts 8-byte aligned.
std::string SafetensorsHeader(const std::vector<ExpectedTensor>& tensors, int64_t* data_bytes) {
  Json header = Json::object();
  header["__metadata__"] = {{"format", "pt"}};
  int64_t offset = 0;
  for (const ExpectedTensor& t : tensors) {
    const int64_t bytes = Product(t.shape, 0) * static_cast<int64_t>(DTypeBytes(t.dtype));
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  *data_bytes = offset;
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>(json.size() >> (8 * i));
  return out + json;
}

}  // namespace

Expected<Json, std::string> DeriveSyntheticConfig(const Json& base,
                                                  const SyntheticOptions& options) {
  auto parsed = ParseModelConfig(base, "base config");
  if (!parsed) return MakeUnexpected(parsed.error());
  const ModelConfig& b = *parsed;
  std::string errors;
  const auto problem = [&](const std::string& what) {
    errors += (errors.empty() ? "" : "\n") + what;
  };
  const int layers = options.layers.value_or(
      options.ratios.empty() ? b.n_layers : static_cast<int>(options.ratios.size()));
  if (layers < 1) problem("layers: must be at least 1 (got " + std::to_string(layers) + ")");
  if (!options.ratios.empty() && static_cast<int>(options.ratios.size()) != layers) {
    problem("ratios: " + std::to_string(options.ratios.size()) + " given for " +
            std::to_string(layers) + " layers (one per decoder layer)");
  }
  if (options.ratios.empty() && layers > b.n_layers) {
    problem("layers: the base config has " + std::to_string(b.n_layers) +
            " decoder layers; give ratios to choose the ratio of each of " +
            std::to_string(layers));
  }
  const int experts = options.routed_experts.value_or(b.n_routed_experts);
  if (experts < b.n_activated_experts) {
    problem("routed experts: " + std::to_string(experts) + " is fewer than the " +
            std::to_string(b.n_activated_experts) +
            " each token is routed to (num_experts_per_tok)");
  }
  const int64_t vocab = options.vocab_size.value_or(b.vocab_size);
  if (vocab <= std::max(b.bos_token_id, b.eos_token_id)) {
    problem("vocab_size: " + std::to_string(vocab) + " does not hold the bos/eos token ids");
  }
  if (!errors.empty()) return MakeUnexpected(errors);

  const auto decoder = b.compress_ratios.begin();
  std::vector<int> ratios = options.ratios;
  if (ratios.empty()) {
    const auto first_compressed =
        std::find_if(decoder, decoder + b.n_layers, [](int r) { return r > 0; }) - decoder;
    const auto start = std::min<std::ptrdiff_t>(first_compressed, b.n_layers - layers);
    ratios.assign(decoder + start, decoder + start + layers);
  }
  ratios.insert(ratios.end(), decoder + b.n_layers, b.compress_ratios.end());  // the MTP blocks

  Json out = base;
  out["num_hidden_layers"] = layers;
  out["compress_ratios"] = ratios;
  if (out.contains("num_hash_layers")) out["num_hash_layers"] = std::min(b.n_hash_layers, layers);
  out["n_routed_experts"] = experts;
  out["vocab_size"] = vocab;
  out["synthetic_weights"] = {
      {"seed", options.seed},
      {"note", "random weights written by `dsagent engine synth`, not a trained model"}};
  if (auto check = ParseModelConfig(out, "synthetic config"); !check) {
    return MakeUnexpected(check.error());
  }
  return out;
}

Expected<SyntheticCheckpointSummary, std::string> WriteSyntheticCheckpoint(
    const Json& base, const SyntheticOptions& options, const fs::path& dir) {
  auto config_json = DeriveSyntheticConfig(base, options);
  if (!config_json) return MakeUnexpected(config_json.error());
  SyntheticCheckpointSummary summary;
  summary.config = *ParseModelConfig(*config_json, "synthetic config");
  const std::vector<ExpectedTensor> tensors = ExpectedTensors(summary.config);

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeUnexpected(dir.string() + ": cannot create the directory: " + ec.message());
  if (fs::exists(dir / "model.safetensors.index.json")) {
    return MakeUnexpected(dir.string() +
                          ": holds a sharded checkpoint (model.safetensors.index.json); "
                          "choose an empty directory");
  }
  // Removed before the weights change, so an interrupted run leaves no config that could be
  // loaded with weights it does not describe.
  if (fs::remove(dir / "config.json", ec); ec) {
    return MakeUnexpected((dir / "config.json").string() + ": cannot remove: " + ec.message());
  }

  auto writer = AtomicFileWriter::Create(dir / "model.safetensors");
  if (!writer) return MakeUnexpected(writer.error());
  int64_t data_bytes = 0;
  const std::string header = SafetensorsHeader(tensors, &data_bytes);
  if (auto w = (*writer)->Append(header); !w) return MakeUnexpected(w.error());

  forward::ThreadPool pool(options.threads);
  std::string buffer;
  constexpr size_t kBatchBytes = size_t{16} << 20;  // generated in parallel, then written
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ExpectedTensor& t = tensors[i];
    TensorJob job{&t, PlanFor(t, options.values)};
    job.n_experts = summary.config.n_routed_experts;
    if (job.plan.fill == Fill::kFp8 || job.plan.fill == Fill::kFp4) {
      const ExpectedTensor& scale = tensors[i + 1];  // a weight's scale follows it
      job.in = InputWidth(t);
      job.scale = BlockScaleBytes(options.seed, scale, t);
      job.scale_cols = scale.shape[1];
      job.scale_base_byte = 127 + BaseScaleExponent(t);
      job.codes = MakeQuantTables(t);
    } else if (job.plan.fill == Fill::kScale) {
      const ExpectedTensor& weight = tensors[i - 1];
      job.scale = BlockScaleBytes(options.seed, t, weight);
    }
    const int64_t rows = t.shape.empty() ? 1 : t.shape[0];
    const size_t row_bytes = static_cast<size_t>(Product(t.shape, 1)) * DTypeBytes(t.dtype);
    const int64_t batch_chunks =
        std::max<int64_t>(1, static_cast<int64_t>(kBatchBytes / (row_bytes * kChunkRows)));
    for (int64_t row = 0; row < rows; row += batch_chunks * kChunkRows) {
      const int64_t end = std::min(rows, row + batch_chunks * kChunkRows);
      buffer.resize(static_cast<size_t>(end - row) * row_bytes);
      auto* out = reinterpret_cast<uint8_t*>(buffer.data());
      pool.ParallelFor((end - row + kChunkRows - 1) / kChunkRows, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t r0 = row + c * kChunkRows, r1 = std::min(end, r0 + kChunkRows);
          FillRows(job, options.seed, r0, r1, out + static_cast<size_t>(r0 - row) * row_bytes);
        }
      });
      if (auto w = (*writer)->Append(buffer); !w) return MakeUnexpected(w.error());
      if (options.cancel.IsCancelled()) return MakeUnexpected(dir.string() + ": interrupted");
    }
  }
  if (auto c = (*writer)->Commit(); !c) return MakeUnexpected(c.error());
  if (auto c = WriteFileAtomic(dir / "config.json", config_json->dump(2) + "\n"); !c) {
    return MakeUnexpected(c.error());
  }
  summary.tensors = static_cast<int64_t>(tensors.size());
  summary.file_bytes = static_cast<int64_t>(header.size()) + data_bytes;
  return summary;
}

}  // namespace dsagent::engine
