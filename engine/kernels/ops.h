// The op interface the forward pass (engine/forward/) calls through for the math between the weight
// products: one abstract class, `Ops`, with the named ops of the V4 forward, over plain views
// (pointer + element type + shape). A backend implements it: the CPU one is cpu/cpu_ops.h; a CUDA
// one (issue 17) implements the same ops over device pointers, so forward/ keeps the orchestration
// (which op, on which rows, in which order) and knows no backend.
//
// Numerics: every op states its arithmetic and rounding points; they are the reference's (see
// engine/README.md, "Fidelity to the reference"). The CPU backend computes exactly what the forward
// pass computed inline before these ops existed (the golden tests are bit-identical); another
// backend is held to the `fast` contract of numerics_mode.h against it.
//
// Weights (norm vectors, biases, mixing scales) are passed as the model's host arrays; a device
// backend uploads them at load and finds its copy by their address.
//
// Thread-safety: an Ops object is immutable after construction; its ops may be called from any
// thread, concurrently on disjoint outputs. Their scratch is a Workspace per thread
// (workspace.h), kept between calls, not a buffer allocated per call.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "engine/kernels/numerics_mode.h"
#include "engine/kernels/op_shapes.h"
#include "engine/kernels/weight_format.h"

namespace dsagent::engine::kernels {

// What a view's elements are. Activations are fp32 arrays whose values the reference holds in
// bf16 or fp32 (kF32); the KV cache holds bf16 bit patterns (kBF16Bits).
enum class ElemType { kF32, kBF16Bits, kI32, kI64 };

template <class T>
constexpr ElemType ElemTypeOf();
template <>
constexpr ElemType ElemTypeOf<float>() {
  return ElemType::kF32;
}
template <>
constexpr ElemType ElemTypeOf<uint16_t>() {
  return ElemType::kBF16Bits;
}
template <>
constexpr ElemType ElemTypeOf<int32_t>() {
  return ElemType::kI32;
}
template <>
constexpr ElemType ElemTypeOf<int64_t>() {
  return ElemType::kI64;
}

// A non-owning view of `rows` rows of `cols` elements of `type`, row r at data + r * stride
// elements (stride 0: cols, the rows are contiguous). T is const-qualified for read-only views.
// The memory is the backend's (host for the CPU backend, device memory for CUDA).
template <class T>
struct BasicView {
  T* data = nullptr;
  ElemType type = ElemType::kF32;
  int64_t rows = 0, cols = 0, stride = 0;

  BasicView() = default;
  BasicView(T* d, ElemType t, int64_t r, int64_t c, int64_t s = 0)
      : data(d), type(t), rows(r), cols(c), stride(s) {}
  // A mutable view converts to a read-only one.
  template <class U>
  requires(std::is_const_v<T> && !std::is_const_v<U>)
      BasicView(const BasicView<U>& v)  // NOLINT(google-explicit-constructor)
      : data(v.data), type(v.type), rows(v.rows), cols(v.cols), stride(v.stride) {}

  int64_t row_stride() const { return stride != 0 ? stride : cols; }
  // Row r as U (the view's element type; a mismatch is a programming error and throws).
  template <class U>
  U* row(int64_t r) const {
    if (type != ElemTypeOf<std::remove_const_t<U>>()) {
      throw std::logic_error("kernels::View: element type mismatch");
    }
    using Byte = std::conditional_t<std::is_const_v<T>, const char, char>;
    return reinterpret_cast<U*>(reinterpret_cast<Byte*>(data) +
                                r * row_stride() * static_cast<int64_t>(sizeof(U)));
  }
};
using View = BasicView<void>;
using ConstView = BasicView<const void>;

// Views of typed rows: `rows` x `cols` values, `stride` apart (0: contiguous).
inline View F32Rows(float* x, int64_t rows, int64_t cols, int64_t stride = 0) {
  return {x, ElemType::kF32, rows, cols, stride};
}
inline ConstView F32Rows(const float* x, int64_t rows, int64_t cols, int64_t stride = 0) {
  return {x, ElemType::kF32, rows, cols, stride};
}
inline View Bf16BitRows(uint16_t* x, int64_t rows, int64_t cols, int64_t stride = 0) {
  return {x, ElemType::kBF16Bits, rows, cols, stride};
}
inline ConstView Bf16BitRows(const uint16_t* x, int64_t rows, int64_t cols, int64_t stride = 0) {
  return {x, ElemType::kBF16Bits, rows, cols, stride};
}

// The KV rows sparse attention reads, numbered across up to kMaxParts parts in order: row i is row
// i of the first part, i - parts[0].rows of the second, and so on (the CPU forward pass: the
// window ring, then the compressed entries, then the chunk's own new rows, all read in place).
// Each part is kBF16Bits with head_dim columns.
struct KvRowSet {
  static constexpr int kMaxParts = 3;
  ConstView parts[kMaxParts];
  int count = 0;
};

// One call of SparseAttention: `rows` query rows of `heads` heads each, every row with its own
// list of KV row numbers (-1 = masked, the reference's padding).
struct SparseAttentionArgs {
  ConstView q;  // [rows, heads * head_dim] kF32 (bf16 values)
  View out;     // [rows, heads * head_dim] kF32, gets bf16 values
  int64_t heads = 0, head_dim = 0;
  float scale = 0;               // softmax scale, fl32(head_dim^-0.5)
  const float* sinks = nullptr;  // [heads] each head's sink logit
  KvRowSet kv;
  // Row t attends to indices[list_begin[t] .. list_begin[t + 1]), numbers into kv.
  const int32_t* indices = nullptr;
  const int64_t* list_begin = nullptr;  // [rows + 1]
};

// A 2-D weight [rows, cols] as the checkpoint stores it (weight_format.h): row r's bytes from
// data, the block scales at scale [.., scale_cols]. The model's host memory (the mapped
// checkpoint); a device backend uploads the weights at load and finds its copy by `data`.
struct WeightView {
  WeightFormat format = WeightFormat::kBF16;
  const uint8_t* data = nullptr;
  const uint8_t* scale = nullptr;  // kFP8 / kFP4 only
  int64_t rows = 0, cols = 0;
  int64_t scale_cols = 0;
};

// What a weight product does to its input first: nothing (plain F.linear / einsum, BF16 or F32
// weights), or the reference linear()'s act_quant per 128 (FP8/FP4 weights).
enum class ProductInput { kNone, kFp8Per128 };
// What a product's results are rounded to: the dtype the reference holds them in.
enum class ProductRound { kF32, kBF16 };

// One call of WeightProduct: y[t, o] = sum_k x[t, k] * W[out_begin + o, k] for the y.cols weight
// rows from out_begin.
struct WeightProductArgs {
  ConstView x;  // [rows, W.cols] kF32, any row stride
  View y;       // [rows, n] kF32, any row stride
  int64_t out_begin = 0;
  ProductInput input = ProductInput::kNone;
  ProductRound round = ProductRound::kBF16;
  // Per call: the model's mode, except that the products feeding a discrete step (router scores,
  // compressor projections, mHC mixes) are exact in both (numerics_mode.h).
  Numerics numerics = Numerics::kExact;
};

// One product of a group (Ops::WeightProducts).
struct WeightProductJob {
  WeightView w;
  WeightProductArgs args;
};

class Ops {
 public:
  virtual ~Ops() = default;
  // The backend's name for logs and errors ("cpu").
  virtual std::string name() const = 0;

  // ---- the weight products: y = x . W^T for weight rows [out_begin, out_begin + y.cols), the
  // input first FP8-quantised per 128 (a copy; x is not written) when args.input says so. `exact`:
  // exact products (every stored weight times an activation is exact in double) summed in double,
  // rounded once to args.round; `fast`: fp32 accumulation per 128-column block, block sums in
  // double, in the summation order of numerics_mode.h's contract. Either way a row's result does
  // not depend on the other rows, the threads or the tiling. The CPU backend splits the output
  // rows over its threads.
  virtual void WeightProduct(const WeightView& w, const WeightProductArgs& args) const = 0;
  // Several independent products (their y must not overlap), each giving WeightProduct's results
  // bit for bit: one call for a step's many small products (the MoE's experts) lets a backend run
  // them as one pass (the CPU: one loop over all their output rows, instead of one hand-off and
  // one uneven split per product).
  virtual void WeightProducts(std::span<const WeightProductJob> jobs) const = 0;

  // ---- the embedding lookup: row r of out [rows, copies * W.cols] (kF32) gets row ids[r] of the
  // stored table W, dequantised exactly (every stored value times its power-of-two block scale is
  // a float), in each of its `copies` = out.cols / W.cols column groups (the hc residual streams
  // each start as the token's embedding). ids are in [0, W.rows) (the caller checks token ids).
  virtual void EmbedRows(const WeightView& table, const int32_t* ids, View out) const = 0;

  // ---- act_quant: quantise -> dequantise, in place (reference kernel.py act_quant /
  // fp4_act_quant, power-of-two ue8m0 scales). Each row's cols values in consecutive blocks of
  // `block` (cols % block == 0): s = Fp8BlockScale(amax) / Fp4BlockScale(amax), x <- round(x / s) *
  // s to e4m3 / e2m1, ties to even. x is kF32.
  virtual void ActQuantFp8(View x, int64_t block) const = 0;
  virtual void ActQuantFp4(View x, int64_t block) const = 0;

  // ---- Walsh-Hadamard rotation, in place on each row (cols a power of two, kF32 with bf16
  // values): x <- bf16(H x * cols^-0.5), H the Sylvester (natural order) Hadamard matrix; the sums
  // are exact (double), the scaled result rounded double -> float -> bf16.
  virtual void HadamardBf16(View x) const = 0;

  // ---- RMSNorm with a weight (the reference's RMSNorm module), row by row: y = bf16(w * (x * r))
  // with r = fl32(1 / sqrt(fl32(mean(x^2)) + eps)): the squares in fp32 summed in double, the mean
  // rounded to fp32, + eps in fp32, the rsqrt in double rounded to fp32, the products in fp32.
  // x and y [rows, cols] kF32 (y may be x); weight [cols].
  virtual void RmsNormBf16(ConstView x, const float* weight, float eps, View y) const = 0;

  // ---- per-head RMSNorm (the query heads' weightless norm), in place on each row (one head of
  // cols values, kF32 bf16 values), every step in bf16: q *= rsqrt(mean(q^2) + eps) with q^2, the
  // mean, mean + eps and the rsqrt each rounded to bf16, the squares summed in double.
  virtual void HeadRmsNormBf16(View x, float eps) const = 0;

  // ---- RoPE, in place: the last 2 * freqs.size() columns of every row of x (kF32) are pairs
  // (2i, 2i+1) rotated by angle fl32(pos * freqs[i]) (inverse: by minus it), cos and sin in double
  // rounded to fp32, the rotation in double rounded to fp32 then bf16. x.rows is a multiple of
  // positions.size(): rows [j*g, (j+1)*g) are at positions[j], g = x.rows / positions.size().
  virtual void RopeRotate(View x, std::span<const float> freqs, std::span<const int64_t> positions,
                          bool inverse) const = 0;

  // ---- SwiGLU, in place on g [rows, inter] (kF32, bf16 values) with u of the same shape:
  // g <- bf16(w_t * (silu(g) * u)) where limit > 0 first clamps u to [-limit, limit] and g from
  // above at limit; silu in double rounded to fp32, the products in fp32. row_weight [rows] may
  // be null (weight 1, and no multiplication).
  virtual void SwiGlu(View g, ConstView u, const float* row_weight, float limit) const = 0;

  // ---- MoE combine: out [rows, dim] = bf16(sum of routed[t * k + j] over the row's distinct
  // experts ids[t * k + j] in ascending id order, in fp32, + shared[t]). routed is [rows * k, dim],
  // shared and out [rows, dim], all kF32; an expert chosen twice counts once (the reference's
  // index_put).
  virtual void CombineExperts(ConstView routed, ConstView shared, const int32_t* ids, int64_t k,
                              View out) const = 0;

  // ---- MoE router, after the gate product: scores [rows, experts] (kF32, the gate's fp32
  // products) become the routing scores in place: softmax (exp in double, rounded once), sigmoid
  // or sqrt(softplus) (each in double, rounded to fp32). ids and weights [rows, k] get each row's
  // experts and their weights: hash_ids [rows, k] (the tokens' tid2eid rows) when not null, else
  // the top-k of fp32(score + bias) in descending order, ties to the lower expert. Weights: the
  // chosen scores divided by their sum (summed in double, rounded to fp32; not for softmax), times
  // route_scale, in fp32.
  virtual void MoeRoute(View scores, const RouterShape& shape, const float* bias,
                        const int32_t* hash_ids, int32_t* ids, float* weights) const = 0;
  // The hash router's expert ids: ids [rows, k] (kI32) = rows tokens[r] of the tid2eid table
  // [vocab, k] (kI32 or kI64, as the checkpoint stores it; the ids are < 2^31), for MoeRoute's
  // hash_ids. tokens are in [0, table.rows).
  virtual void GatherHashIds(ConstView table, const int32_t* tokens, View ids) const = 0;

  // ---- the KV compressor's pooling of a complete block: entry [1, head_dim] (kF32, fp32 values),
  // per channel c a softmax over the candidates' gate logits (exp in double, weights rounded to
  // fp32) times their values (fp32 products), summed in double and rounded to fp32. kv_state and
  // score_state [slots, width] (kF32) hold the block's projections and gate logits (+ position
  // bias); the candidates are column c of slots 0 .. ratio-1, and with `overlap` (2*ratio slots,
  // width 2*head_dim) also column head_dim + c of slots ratio .. 2*ratio-1.
  virtual void CompressorPool(ConstView kv_state, ConstView score_state, int64_t ratio,
                              bool overlap, View entry) const = 0;
  // A token's projections into its slot of the compressor state: kv_state row `slot` = kv,
  // score_state row `slot` = fl32(score + ape) (the gate logits plus the position bias of the
  // token's place in its block). kv, score, ape [1, width]; the states [slots, width]; all kF32.
  virtual void CompressorWriteSlot(ConstView kv, ConstView score, ConstView ape, int64_t slot,
                                   View kv_state, View score_state) const = 0;

  // ---- the lightning indexer's scores of one query token: score [1, n] (kF32) gets, for each
  // key row e of keys [n, hd] (kBF16Bits), bf16(sum_h bf16(relu(bf16(q_h . K_e)) * w_h)): the dots
  // exact products summed in double (rounded double -> fp32 -> bf16), relu * w_h in fp32, the sum
  // over heads in double in head order (rounded double -> fp32 -> bf16). q [heads, hd] (kF32, the
  // FP4-simulated query heads), head_weights [heads]. The CPU backend splits the entries over its
  // threads; each score is computed by one thread with fixed arithmetic.
  virtual void IndexerScores(ConstView q, const float* head_weights, ConstView keys,
                             View score) const = 0;

  // ---- top-k: out [min(k, n)] = the indices of the min(k, n) largest values of score [1, n]
  // (kF32), in descending order, ties to the lower index (a stable sort). Returns min(k, n).
  virtual int64_t StableTopK(ConstView score, int64_t k, int32_t* out) const = 0;

  // ---- the elementwise steps between the ops, each in the reference's dtype. x, y kF32.
  // ScaleBf16: x <- bf16(fl32(x * scale)) (the indexer's head weights times hd^-0.5 * heads^-0.5).
  virtual void ScaleBf16(View x, float scale) const = 0;
  // RoundToBf16: x <- bf16(x), ties to even (the compressor's fp32 pooled entry cast to bf16).
  virtual void RoundToBf16(View x) const = 0;
  // AddBroadcastBf16: y [rows, g * x.cols] += x [rows, x.cols] in each of its g column groups,
  // y <- bf16(fl32(x + y)) (the MTP block's embedding projection added to every residual stream).
  virtual void AddBroadcastBf16(ConstView x, View y) const = 0;
  // ToBf16Bits: bits [rows, cols] (kBF16Bits) = x [rows, cols] rounded to bf16, ties to even (the
  // KV rows, bf16 values already, as the cache stores them).
  virtual void ToBf16Bits(ConstView x, View bits) const = 0;

  // ---- hyper-connections (mHC): each token carries hc residual streams h [rows, hc * dim] (kF32,
  // bf16 values); mixes [rows, m] (kF32) are the products fn . h, scaled in place by each row's
  // fl32(1 / sqrt(fl32(mean(h^2)) + norm_eps)) (squares in fp32, summed in double). All mixing
  // math is fp32, reductions in double rounded once. scale and base are the model's hc_scale and
  // hc_base.
  // HcPre (m = (2+hc)*hc): per row, pre_j = sigmoid(m_j*scale0 + base_j) + hc_eps, post [rows, hc]
  // gets 2 sigmoid(m_{hc+j}*scale1 + base_{hc+j}), comb [rows, hc*hc] (row j = from stream j,
  // column k = to stream k) the Sinkhorn normalisation of m_{2hc+i}*scale2 + base_{2hc+i}: a row
  // softmax (exp in double, rounded once) + hc_eps, then the columns, then sinkhorn_iters - 1 times
  // rows and columns, each divided by fl32(sum) + hc_eps; y [rows, dim] = bf16(fl32(sum_j
  // fl32(pre_j * h_j))) (sigmoid in double rounded to fp32).
  virtual void HcPre(ConstView h, View mixes, const float* scale, const float* base,
                     const HcShape& shape, View y, View post, View comb) const = 0;
  // HcPost: out [rows, hc * dim] = bf16(fl32(post_k * f) + fl32(sum_j fl32(comb_jk * h_j))) for
  // every stream k, f [rows, dim] the sub-layer's output. out may be h.
  virtual void HcPost(ConstView f, ConstView h, ConstView post, ConstView comb,
                      const HcShape& shape, View out) const = 0;
  // HcHead (m = hc): y [rows, dim] = the stream sum of HcPre with weights sigmoid(m_j*scale0 +
  // base_j) + hc_eps.
  virtual void HcHead(ConstView h, View mixes, const float* scale, const float* base,
                      const HcShape& shape, View y) const = 0;

  // ---- window ring write: the rows of `kv` (kBF16Bits [n, head_dim], positions start ..
  // start+n-1) that stay in a window of ring.rows positions go to ring row (start + t) % ring.rows;
  // that is the last min(n, ring.rows) of them.
  virtual void WriteWindowRing(ConstView kv, int64_t start, View ring) const = 0;

  // ---- sparse attention with sink (the reference's tilelang sparse_attn): per row and head, the
  // row's KV list in blocks of 64 with an online softmax (scores q.k in double rounded to fp32,
  // times scale; exp in double rounded to fp32; block sums of P in double), P rounded to bf16
  // before P.V (products exact in double, summed per block in double, accumulated in fp32), the
  // sink's exp in the denominator; out = bf16(acc / denominator). The CPU backend splits the
  // (row, head) pairs over its threads; each is computed by one thread with fixed arithmetic.
  virtual void SparseAttention(const SparseAttentionArgs& args) const = 0;
};

}  // namespace dsagent::engine::kernels
