#include "engine/kernels/cuda/device_model_upload.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/forward/moe.h"
#include "engine/kernels/cuda/expert_stream_costs.h"
#include "engine/kernels/cuda/sequence_state_layout.h"
#include "engine/kernels/cuda/upload_staging.h"
#include "engine/kernels/cuda/weight_upload.h"

namespace dsagent::engine::kernels::cuda {

HcKernelShape HcShapeOf(const ModelConfig& c) {
  HcKernelShape s;
  s.hc = c.hc_mult;
  s.dim = c.dim;
  s.sinkhorn_iters = c.hc_sinkhorn_iters;
  s.hc_eps = static_cast<float>(c.hc_eps);
  s.norm_eps = static_cast<float>(c.norm_eps);
  return s;
}

DeviceCompressor UploadCompressor(const forward::CompressorWeights& w, const forward::Rope& rope,
                                  float norm_eps, CudaStream& stream) {
  CompressorShape shape;
  shape.ratio = w.ratio;
  shape.head_dim = w.head_dim;
  shape.rope_dims = rope.dims();
  shape.overlap = w.overlap;
  shape.rotate = w.rotate;
  shape.norm_eps = norm_eps;
  return DeviceCompressor::Create(shape, w.wkv.rows_view(), w.wgate.rows_view(), w.ape, w.norm,
                                  rope.frequencies(), stream);
}

// An attention sub-layer with room for `tokens` positions of compressed entries.
DeviceAttention UploadAttention(const forward::AttentionWeights& w, const ModelConfig& c,
                                const forward::Rope& rope, int64_t tokens, CudaStream& stream) {
  const int ratio = w.ratio;
  const float eps = static_cast<float>(c.norm_eps);
  AttentionShape shape;
  shape.dim = c.dim;
  shape.heads = c.n_heads;
  shape.head_dim = c.head_dim;
  shape.rope_dims = c.rope_head_dim;
  shape.q_lora_rank = c.q_lora_rank;
  shape.o_groups = c.o_groups;
  shape.o_lora_rank = c.o_lora_rank;
  shape.window = c.window_size;
  shape.ratio = ratio;
  shape.capacity = ratio > 0 ? CompressedEntrySlots(tokens, ratio) : 0;
  shape.norm_eps = eps;
  const AttentionWeightRows rows{w.wq_a.rows_view(), w.wq_b.rows_view(), w.wkv.rows_view(),
                                 w.wo_a.rows_view(), w.wo_b.rows_view(), w.q_norm,
                                 w.kv_norm,          w.attn_sink,        rope.frequencies()};
  std::optional<DeviceCompressor> compressor;
  std::optional<DeviceIndexer> indexer;
  if (w.has_compressor) compressor = UploadCompressor(w.compressor, rope, eps, stream);
  if (w.has_indexer) {
    IndexerShape ishape;
    ishape.heads = c.index_n_heads;
    ishape.head_dim = c.index_head_dim;
    ishape.rope_dims = c.rope_head_dim;
    ishape.topk = c.index_topk;
    ishape.ratio = ratio;
    ishape.capacity = CompressedEntrySlots(tokens, ratio);
    indexer = DeviceIndexer::Create(
        ishape, w.indexer.wq_b.rows_view(), w.indexer.weights_proj.rows_view(), rope.frequencies(),
        UploadCompressor(w.indexer.compressor, rope, eps, stream), stream);
  }
  return DeviceAttention::Create(shape, rows, std::move(compressor), std::move(indexer), stream);
}

RouteScoreFunc RouteScoreFuncOf(const std::string& name) {
  switch (forward::ScoreFuncOf(name)) {
    case forward::ScoreFunc::kSoftmax:
      return RouteScoreFunc::kSoftmax;
    case forward::ScoreFunc::kSigmoid:
      return RouteScoreFunc::kSigmoid;
    case forward::ScoreFunc::kSqrtSoftplus:
      break;
  }
  return RouteScoreFunc::kSqrtSoftplus;
}

// A MoE layer; tid2eid (I64 or I32, as the checkpoint stores it) becomes an int32 table.
HostExpertCompute::HostExpertCompute(int threads, Numerics numerics)
    : pool(threads), ops(pool), cx{pool, numerics, ops} {}

DeviceMoe UploadMoe(const forward::MoeWeights& w, const ModelConfig& c, CudaStream& stream,
                    int64_t on_device, const forward::Compute* cx, const MoeStreaming* streaming) {
  MoeShape shape;
  shape.dim = c.dim;
  shape.inter = w.shared.w1.rows;
  shape.route.experts = c.n_routed_experts;
  shape.route.k = c.n_activated_experts;
  shape.route.func = RouteScoreFuncOf(c.score_func);
  shape.route.route_scale = static_cast<float>(c.route_scale);
  shape.swiglu_limit = static_cast<float>(c.swiglu_limit);
  shape.hash = w.hash;
  MoeWeightRows rows;
  rows.gate = w.gate.rows_view();
  rows.bias = w.bias;
  if (w.hash) {
    const bool i64 = w.tid2eid->dtype == DType::kI64;
    const int64_t n = w.tid2eid->elements();
    for (int64_t i = 0; i < n; ++i) {
      if (i64) {
        int64_t v;
        std::memcpy(&v, w.tid2eid->data + 8 * i, 8);
        rows.hash_table.push_back(static_cast<int32_t>(v));
      } else {
        int32_t v;
        std::memcpy(&v, w.tid2eid->data + 4 * i, 4);
        rows.hash_table.push_back(v);
      }
    }
  }
  for (const forward::ExpertWeights& e : w.experts) {
    rows.w1.push_back(e.w1.rows_view());
    rows.w2.push_back(e.w2.rows_view());
    rows.w3.push_back(e.w3.rows_view());
  }
  rows.shared_w1 = w.shared.w1.rows_view();
  rows.shared_w2 = w.shared.w2.rows_view();
  rows.shared_w3 = w.shared.w3.rows_view();
  if (on_device < 0 || on_device >= c.n_routed_experts) return DeviceMoe::Create(shape, rows, stream);
  if (cx == nullptr) {
    throw std::invalid_argument("UploadMoe: experts kept on the host need the CPU's Compute");
  }
  MoeOffload offload;
  offload.on_device = on_device;
  offload.compute = [&w, c, cx](const float* xq, const int64_t* slot_rows, const int32_t* ids,
                                const float* weights, int64_t n, float* out) {
    forward::RoutedExpertsForward(w, c, xq, slot_rows, ids, weights, n, out, *cx);
  };
  if (streaming != nullptr && streaming->pools != nullptr && streaming->min_rows > 0) {
    offload.stream = streaming->pools;
    offload.stream_min_rows = streaming->min_rows;
  }
  return DeviceMoe::Create(shape, rows, stream, &offload);
}

std::vector<HostByteRange> HostExpertRanges(const forward::ModelWeights& w,
                                            const std::vector<int64_t>& on_device,
                                            const std::vector<int64_t>& mtp_on_device) {
  std::vector<HostByteRange> ranges;
  const auto add_matrix = [&ranges](const forward::WeightMatrix& m) {
    auto layout = UploadLayout(m.format, m.rows, m.cols);
    if (!layout) throw std::invalid_argument(m.name + ": " + layout.error());
    const auto at = [](const uint8_t* p) { return reinterpret_cast<uintptr_t>(p); };
    ranges.push_back({at(m.data), at(m.data) + static_cast<uintptr_t>(layout->data_bytes)});
    if (m.scale != nullptr && layout->scale_bytes() > 0) {
      ranges.push_back({at(m.scale), at(m.scale) + static_cast<uintptr_t>(layout->scale_bytes())});
    }
  };
  const auto add_block = [&](const forward::BlockWeights& b, int64_t first_on_host) {
    if (first_on_host < 0) return;
    for (size_t e = static_cast<size_t>(first_on_host); e < b.ffn.experts.size(); ++e) {
      add_matrix(b.ffn.experts[e].w1);
      add_matrix(b.ffn.experts[e].w2);
      add_matrix(b.ffn.experts[e].w3);
    }
  };
  for (size_t l = 0; l < w.layers.size() && l < on_device.size(); ++l) {
    add_block(w.layers[l], on_device[l]);
  }
  for (size_t i = 0; i < w.mtp.size() && i < mtp_on_device.size(); ++i) {
    add_block(w.mtp[i].block, mtp_on_device[i]);
  }
  return ranges;
}

DeviceHcWeights UploadHc(const forward::HcWeights& w, CudaStream& stream) {
  return DeviceHcWeights::Upload(w.fn.rows_view(), w.fn.rows, w.base, w.scale, stream);
}

DeviceBlock UploadBlock(const forward::BlockWeights& w, const ModelConfig& c,
                        const forward::Rope& rope, int64_t tokens, CudaStream& stream,
                        int64_t experts_on_device, const forward::Compute* cx,
                        const MoeStreaming* streaming) {
  return DeviceBlock::Create(HcShapeOf(c), UploadAttention(w.attn, c, rope, tokens, stream),
                             UploadMoe(w.ffn, c, stream, experts_on_device, cx, streaming),
                             UploadHc(w.hc_attn, stream),
                             UploadHc(w.hc_ffn, stream), w.attn_norm, w.ffn_norm, stream);
}

DeviceHead UploadHead(const forward::HcWeights& hc_head, const std::vector<float>& norm,
                      const forward::WeightMatrix& head, const ModelConfig& c, CudaStream& stream) {
  return DeviceHead::Create(HcShapeOf(c), UploadHc(hc_head, stream), norm, head.rows_view(),
                            head.rows, stream);
}

DeviceMtp UploadMtp(const forward::MtpWeights& w, const ModelConfig& c, const forward::Rope& rope,
                    int64_t tokens, CudaStream& stream, int64_t experts_on_device,
                    const forward::Compute* cx, const MoeStreaming* streaming) {
  return DeviceMtp::Create(HcShapeOf(c), w.e_proj.rows_view(), w.h_proj.rows_view(), w.enorm,
                           w.hnorm,
                           UploadBlock(w.block, c, rope, tokens, stream, experts_on_device, cx,
                                       streaming),
                           UploadHc(w.hc_head, stream), w.norm, stream);
}

std::shared_ptr<ExpertStreamPools> MakeExpertStreamPools(const forward::ModelWeights& w,
                                                         int64_t capacity) {
  const forward::ExpertWeights* e = nullptr;
  for (const forward::BlockWeights& b : w.layers) {
    if (!b.ffn.experts.empty()) {
      e = &b.ffn.experts.front();
      break;
    }
  }
  if (e == nullptr || capacity <= 0) return nullptr;
  // The most experts a block has: a call's turns (StreamExperts) are staged for that many.
  int64_t experts = 0;
  for (const forward::BlockWeights& b : w.layers) {
    experts = std::max(experts, static_cast<int64_t>(b.ffn.experts.size()));
  }
  for (const forward::MtpWeights& m : w.mtp) {
    experts = std::max(experts, static_cast<int64_t>(m.block.ffn.experts.size()));
  }
  auto pools = std::make_shared<ExpertStreamPools>();
  const auto pool = [&](const forward::WeightMatrix& m) {
    const WeightRows r = m.rows_view();
    return ExpertStreamPool::Create(r.format, m.rows, r.cols, capacity, experts);
  };
  pools->w1 = pool(e->w1);
  pools->w2 = pool(e->w2);
  pools->w3 = pool(e->w3);
  return pools;
}

// Every decoder layer, the head and the MTP blocks, with room for `tokens` positions.
DeviceModel UploadModel(const forward::ModelWeights& w, const ModelConfig& c, int64_t tokens,
                        CudaStream& stream, const ExpertOffload* offload,
                        const UploadProgress& progress, const CancelToken* cancel) {
  const auto total = static_cast<int64_t>(w.layers.size() + 1 + w.mtp.size());
  int64_t done = 0;
  // A V4-Flash upload takes minutes: a cancel (Ctrl-C, SIGTERM) stops it between blocks.
  const auto stop_if_cancelled = [&] {
    if (cancel != nullptr && cancel->IsCancelled()) {
      throw std::runtime_error("the weights' upload was cancelled after " + std::to_string(done) +
                               " of " + std::to_string(total) + " blocks");
    }
  };
  if (progress) progress(0, total);
  stop_if_cancelled();
  const auto tell = [&] {
    ++done;
    if (progress) progress(done, total);
    if (done < total) stop_if_cancelled();
  };
  const forward::Rope window_rope(c, false), compressed_rope(c, true);
  MoeStreaming streaming;
  if (offload != nullptr && offload->stream_pool_experts > 0 && offload->stream_min_rows > 0) {
    streaming.pools = MakeExpertStreamPools(w, offload->stream_pool_experts);
    streaming.min_rows = offload->stream_min_rows;
  }
  const MoeStreaming* streams = streaming.pools != nullptr ? &streaming : nullptr;
  // The weights' bytes through page-locked staging buffers (upload_staging.h), until the costs'
  // measurement below, which times the copies the offload itself makes.
  std::optional<ScopedUploadStaging> staged(std::in_place, stream);
  std::vector<DeviceBlock> layers;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const forward::BlockWeights& b = w.layers[l];
    const int64_t on_device =
        offload != nullptr && l < offload->on_device.size() ? offload->on_device[l] : -1;
    layers.push_back(UploadBlock(b, c, b.attn.ratio > 0 ? compressed_rope : window_rope, tokens,
                                 stream, on_device, offload != nullptr ? offload->cx : nullptr,
                                 streams));
    tell();
  }
  DeviceModel m = DeviceModel::Create(HcShapeOf(c), w.embed.rows_view(), w.embed.rows, tokens,
                                      std::move(layers),
                                      UploadHead(w.hc_head, w.norm, w.head, c, stream), stream);
  tell();
  for (size_t i = 0; i < w.mtp.size(); ++i) {
    const forward::MtpWeights& mtp = w.mtp[i];
    const int64_t on_device =
        offload != nullptr && i < offload->mtp_on_device.size() ? offload->mtp_on_device[i] : -1;
    m.mtp.push_back(UploadMtp(mtp, c, mtp.block.attn.ratio > 0 ? compressed_rope : window_rope,
                              tokens, stream, on_device,
                              offload != nullptr ? offload->cx : nullptr, streams));
    tell();
  }
  staged.reset();
  // The pools' costs, on the first layer that streams (every layer's experts have one shape).
  if (DeviceMoe* moe = FirstStreamingMoe(m)) {
    moe->stream_pools->costs = MeasureExpertStreamCosts(*moe, stream);
  }
  return m;
}

namespace {

void MarkExact(DeviceWeight& w) { w.exact = true; }

void MarkExact(DeviceWeightSet& set) {
  set.exact = true;
  for (DeviceWeight& w : set.weights) MarkExact(w);
}

void MarkExact(DeviceCompressor& c) {
  MarkExact(c.wkv);
  MarkExact(c.wgate);
}

void MarkExact(DeviceBlock& b) {
  DeviceAttention& a = b.attn;
  for (DeviceWeight* w : {&a.wq_a, &a.wq_b, &a.wkv, &a.wo_a, &a.wo_b}) MarkExact(*w);
  if (a.compressor) MarkExact(*a.compressor);
  if (a.indexer) {
    MarkExact(a.indexer->wq_b);
    MarkExact(a.indexer->weights_proj);
    MarkExact(a.indexer->compressor);
  }
  a.split_attention = false;
  DeviceMoe& f = b.ffn;
  for (DeviceWeight* w : {&f.gate, &f.shared_w1, &f.shared_w2, &f.shared_w3}) MarkExact(*w);
  for (DeviceWeightSet* set : {&f.w1, &f.w2, &f.w3}) MarkExact(*set);
  MarkExact(b.hc_attn.fn);
  MarkExact(b.hc_ffn.fn);
}

}  // namespace

void UseExactNumerics(DeviceModel& m) {
  for (DeviceBlock& b : m.layers) MarkExact(b);
  MarkExact(m.head.hc_head.fn);
  MarkExact(m.head.head);
  for (DeviceMtp& mtp : m.mtp) {
    MarkExact(mtp.e_proj);
    MarkExact(mtp.h_proj);
    MarkExact(mtp.block);
    MarkExact(mtp.hc_head.fn);
  }
}

}  // namespace dsagent::engine::kernels::cuda
