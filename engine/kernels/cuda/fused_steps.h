// Whether the decode and rows steps take the fused launches of sessions 26-27 (docs/BENCHMARKS.md):
// - a many-CTA product and the small step on its whole output in one launch, a last-CTA
//   epilogue (last_cta.cuh): the mHC fn products with HcPreNorm (HcFnPreNorm), the gate with the
//   router (GateAndRoute), the split attention's second phase with its combine (SparseAttention's
//   arrivals), and its first phase (the splits' maxima) with both through a look-back between
//   the splits;
// - a step computed in the tiled product's staging: w2 on the experts' SwiGLU
//   (ExpertMatVecOnSwiGlu, MatVecOnSwiGlu), both wq_b on the query's q_norm (MatVecOnRmsNorm);
// - a compressor's two exact projections in one launch (MatVecExactPair), and a completed entry
//   taken through its cache steps in the token's own launch (CompressToken);
// - a small step computed by each CTA of its consumer on its own copy: the attention's HcPost in
//   the FFN's fn products (HcPostFnPreNorm), the query heads' norm and RoPE in the attention
//   (QueryPrep), the indexer query's RoPE, Hadamard and FP4 in its scores (IndexerQueryPrep).
// Off, each op runs its pair as two launches: the same bits, one kernel more on the path per pair
// (the GPU check's A/B run). The many-CTA top-k's epilogues have no switch.
// Plain C++, for the tests and benches that run both ways.
#pragma once

namespace dsagent::engine::kernels::cuda {

// Yes, unless the environment has DSAGENT_CUDA_FUSED_STEPS=off. The setter overrides it for the
// process; not to be changed while kernels are being queued from another thread.
bool FusedStepsOn();
void SetFusedSteps(bool on);

}  // namespace dsagent::engine::kernels::cuda
