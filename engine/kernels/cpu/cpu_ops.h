// CpuOps: the CPU backend of the op interface (kernels/ops.h). Each op runs the CPU kernel of its
// family over the views' rows: weight_product.h (the weight products), weight_dequant.h (the
// embedding lookup), elementwise_ops.h (the glue between ops), quant_ops.h (act_quant,
// Hadamard), rms_norm.h, head_norm.h, rope_rotate.h, moe_ops.h (SwiGLU, combine), router.h,
// compressor_pool.h, indexer_ops.h, mixing_ops.h (mHC), attention_ops.h (window ring, sparse
// attention). Views are host memory; the weight products' output rows, the indexer's entries,
// sparse attention's (row, head) pairs and the rows of every row-wise op (act_quant, Hadamard, the
// norms, RoPE, SwiGLU, the MoE combine, the elementwise steps, mHC) are split over the pool, each
// row or pair computed by one thread with the same arithmetic (a decode step's single row stays
// on the caller).
//
// Thread-safety: immutable; ops may run concurrently on disjoint outputs. The pool runs one
// ParallelFor at a time: an op called while it is busy (from inside another op's task, or from a
// second thread) runs its loop inline on the calling thread (thread_pool.h).
#pragma once

#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"

namespace dsagent::engine::kernels::cpu {

class CpuOps final : public Ops {
 public:
  // `pool` must outlive this object.
  explicit CpuOps(ThreadPool& pool) : pool_(pool) {}

  std::string name() const override { return "cpu"; }
  void WeightProduct(const WeightView& w, const WeightProductArgs& args) const override;
  void WeightProducts(std::span<const WeightProductJob> jobs) const override;
  void EmbedRows(const WeightView& table, const int32_t* ids, View out) const override;
  void ActQuantFp8(View x, int64_t block) const override;
  void ActQuantFp4(View x, int64_t block) const override;
  void HadamardBf16(View x) const override;
  void RmsNormBf16(ConstView x, const float* weight, float eps, View y) const override;
  void HeadRmsNormBf16(View x, float eps) const override;
  void RopeRotate(View x, std::span<const float> freqs, std::span<const int64_t> positions,
                  bool inverse) const override;
  void SwiGlu(View g, ConstView u, const float* row_weight, float limit) const override;
  void CombineExperts(ConstView routed, ConstView shared, const int32_t* ids, int64_t k,
                      View out) const override;
  void MoeRoute(View scores, const RouterShape& shape, const float* bias, const int32_t* hash_ids,
                int32_t* ids, float* weights) const override;
  void GatherHashIds(ConstView table, const int32_t* tokens, View ids) const override;
  void CompressorPool(ConstView kv_state, ConstView score_state, int64_t ratio, bool overlap,
                      View entry) const override;
  void CompressorWriteSlot(ConstView kv, ConstView score, ConstView ape, int64_t slot,
                           View kv_state, View score_state) const override;
  void IndexerScores(ConstView q, const float* head_weights, ConstView keys,
                     View score) const override;
  int64_t StableTopK(ConstView score, int64_t k, int32_t* out) const override;
  void ScaleBf16(View x, float scale) const override;
  void RoundToBf16(View x) const override;
  void AddBroadcastBf16(ConstView x, View y) const override;
  void ToBf16Bits(ConstView x, View bits) const override;
  void HcPre(ConstView h, View mixes, const float* scale, const float* base, const HcShape& shape,
             View y, View post, View comb) const override;
  void HcPost(ConstView f, ConstView h, ConstView post, ConstView comb, const HcShape& shape,
              View out) const override;
  void HcHead(ConstView h, View mixes, const float* scale, const float* base, const HcShape& shape,
              View y) const override;
  void WriteWindowRing(ConstView kv, int64_t start, View ring) const override;
  void SparseAttention(const SparseAttentionArgs& args) const override;

 private:
  ThreadPool& pool_;
};

}  // namespace dsagent::engine::kernels::cpu
