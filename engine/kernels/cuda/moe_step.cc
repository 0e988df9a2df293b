#include "engine/kernels/cuda/moe_step.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/expert_stream_choice.h"
#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/phase_times.h"

namespace dsagent::engine::kernels::cuda {
namespace {

template <class T>
DeviceBuffer Copy(const std::vector<T>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(T));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

}  // namespace

DeviceMoe DeviceMoe::Create(const MoeShape& s, const MoeWeightRows& w, CudaStream& stream,
                            const MoeOffload* offload) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceMoe: " + what);
  };
  const int64_t experts = s.route.experts, k = s.route.k;
  need(s.dim > 0 && s.inter > 0 && s.dim % 128 == 0 && s.inter % 128 == 0,
       "dim and inter must be positive multiples of 128 (FP8 input blocks)");
  need(static_cast<int64_t>(w.w1.size()) == experts && w.w2.size() == w.w1.size() &&
           w.w3.size() == w.w1.size(),
       "w1, w2 and w3 must have one weight per routed expert");
  need(s.hash ? !w.hash_table.empty() && static_cast<int64_t>(w.hash_table.size()) % k == 0
              : static_cast<int64_t>(w.bias.size()) == experts,
       "a hash layer needs its tid2eid table, a scored layer one bias per expert");
  const int64_t on_device = offload != nullptr ? offload->on_device : experts;
  need(on_device >= 0 && on_device <= experts,
       std::to_string(on_device) + " experts on the device of " + std::to_string(experts));
  need(on_device == experts || (offload != nullptr && offload->compute),
       "experts kept on the host need a function that computes them");
  DeviceMoe m;
  m.shape = s;
  m.on_device = on_device;
  m.gate = DeviceWeight::Upload(w.gate, experts, stream);
  m.w1 = DeviceWeightSet::Upload(w.w1, s.inter, stream, on_device);
  m.w2 = DeviceWeightSet::Upload(w.w2, s.dim, stream, on_device);
  m.w3 = DeviceWeightSet::Upload(w.w3, s.inter, stream, on_device);
  if (on_device < experts) {
    m.host_experts = offload->compute;
    m.staged = PinnedHostBuffer(static_cast<size_t>(2 * k + s.dim + k * s.dim) * 4);
    m.staged_ready = std::make_unique<CudaEvent>();
    const ExpertStreamPools* pools = offload->stream.get();
    if (pools != nullptr && offload->stream_min_rows > 0 && pools->w1.capacity > 0) {
      // The pools must take this layer's experts (the planner makes one pool for the model).
      const auto fits = [&](const ExpertStreamPool& p, const WeightRows& expert, int64_t rows) {
        return p.capacity == pools->w1.capacity && !p.entries.empty() &&
               p.entries[0].format == expert.format && p.entries[0].rows == rows &&
               p.entries[0].cols == expert.cols;
      };
      need(fits(pools->w1, w.w1[0], s.inter) && fits(pools->w2, w.w2[0], s.dim) &&
               fits(pools->w3, w.w3[0], s.inter),
           "the expert stream pools do not take this layer's experts (format or shape)");
      m.stream_pools = offload->stream;
      m.stream_min_rows = offload->stream_min_rows;
      m.host_w1 = w.w1;
      m.host_w2 = w.w2;
      m.host_w3 = w.w3;
    }
  }
  m.shared_w1 = DeviceWeight::Upload(w.shared_w1, s.inter, stream);
  m.shared_w2 = DeviceWeight::Upload(w.shared_w2, s.dim, stream);
  m.shared_w3 = DeviceWeight::Upload(w.shared_w3, s.inter, stream);
  if (s.hash) {
    m.hash_table = Copy(w.hash_table, stream);
  } else {
    m.bias = Copy(w.bias, stream);
  }
  m.x_quant = DeviceFloats(k * (s.dim > s.inter ? s.dim : s.inter));
  m.logits = DeviceFloats(experts);
  m.route_arrivals = DeviceBuffer(sizeof(unsigned));
  m.route_arrivals.Zero(stream);
  m.ids = DeviceBuffer(static_cast<size_t>(2 * k) * sizeof(int32_t));
  m.weights = DeviceFloats(k);
  m.g = DeviceFloats(2 * k * s.inter);
  if (m.w1.format == m.w3.format && m.w1.rows == m.w3.rows && m.w1.cols == m.w3.cols &&
      m.w1.exact == m.w3.exact) {
    // Both tables on the host, one after the other, then up (weights only, once).
    std::vector<WeightView> views(static_cast<size_t>(2 * experts));
    const size_t half = static_cast<size_t>(experts) * sizeof(WeightView);
    m.w1.views.Download(views.data(), half, stream);
    m.w3.views.Download(views.data() + experts, half, stream);
    m.w13_views = DeviceBuffer(2 * half);
    m.w13_views.Upload(views.data(), 2 * half, stream);
    stream.Synchronize();
  }
  m.routed = DeviceFloats(k * s.dim);
  m.shared_g = DeviceFloats(s.inter);
  m.shared_u = DeviceFloats(s.inter);
  m.shared_out = DeviceFloats(s.dim);
  m.shared_side = std::make_unique<SideStream>();
  return m;
}

namespace {

// The shared expert of one token on its FP8 input xq (no clamp: see forward/moe.cc) ->
// m.shared_out.
void SharedExpertDecode(DeviceMoe& m, const float* xq, CudaStream& stream) {
  const MoeShape& s = m.shape;
  float* sg = m.shared_g.as<float>();
  MatVec(m.shared_w1, xq, 1, s.dim, sg, s.inter, true, stream);
  MatVec(m.shared_w3, xq, 1, s.dim, m.shared_u.as<float>(), s.inter, true, stream);
  MatVecOnSwiGlu(m.shared_w2, sg, m.shared_u.as<float>(), 0.0f, m.shared_out.as<float>(), true,
                 stream);
}

}  // namespace

float* MoeFp8Input(DeviceMoe& m) { return m.x_quant.as<float>(); }

MoeCombineSource MoeCombineSourceOf(DeviceMoe& m, float* out) {
  return MoeCombineSource{m.routed.as<float>(), m.shared_out.as<float>(), m.ids.as<int32_t>(),
                          m.shape.route.k, out};
}

void MoeDecode(DeviceMoe& m, const float* x, const int32_t* token, float* out, CudaStream& stream,
               bool x_fp8_written, const HcPostArgs* then_post, SideStream* then_post_after,
               bool leave_combine) {
  const MoeShape& s = m.shape;
  const int64_t k = s.route.k;
  if (s.hash && token == nullptr) throw CudaError("MoeDecode: a hash layer needs the token id");
  // The FP8 input of every expert first; then the shared expert, forked onto its side stream
  // with side streams on, else on the step's stream.
  float* xq = MoeFp8Input(m);
  if (!x_fp8_written) ActQuantTo(x, xq, 1, s.dim, 128, ActQuantFormat::kFp8, stream);
  const bool overlap = SideStreamsOn() && m.shared_side != nullptr;
  if (overlap) m.shared_side->Fork(stream);
  SharedExpertDecode(m, xq, overlap ? m.shared_side->stream() : stream);
  // Router: the exact gate product (both numerics modes), then scores, experts and weights, in
  // one launch.
  int32_t* ids = m.ids.as<int32_t>();
  float* weights = m.weights.as<float>();
  const bool paired = m.w13_views.bytes() > 0;
  GateAndRoute(m.gate, x, 1, s.dim, m.logits.as<float>(), s.route,
               s.hash ? nullptr : m.bias.as<float>(), s.hash ? m.hash_table.as<int32_t>() : nullptr,
               s.hash ? token : nullptr, ids, weights, m.route_arrivals.as<unsigned>(), stream,
               paired ? ids + k : nullptr, static_cast<int32_t>(s.route.experts));
  // Routed experts, one slot each: g = w1 . x, u = w3 . x (FP8 input), h = bf16(weight * silu(g)
  // * u) with the clamp, routed = w2 . act_quant(h).
  // The offload's staging: ids [k], weights [k], xq [dim], out [k, dim].
  const bool offload = m.on_device < s.route.experts;
  int32_t* host_ids = offload ? m.staged.as<int32_t>() : nullptr;
  float* host_weights = offload ? m.staged.as<float>() + k : nullptr;
  float* host_xq = offload ? host_weights + k : nullptr;
  float* host_out = offload ? host_xq + s.dim : nullptr;
  if (offload) {
    // The token's routing and input to the host, then a mark: the host waits for these copies
    // only, while the device goes on with its own experts and the shared one.
    m.ids.DownloadAt(0, host_ids, static_cast<size_t>(k) * 4, stream);
    m.weights.DownloadAt(0, host_weights, static_cast<size_t>(k) * 4, stream);
    m.x_quant.DownloadAt(0, host_xq, static_cast<size_t>(s.dim) * 4, stream);
    m.staged_ready->Record(stream);
  }
  float* g = m.g.as<float>();
  float* u = g + k * s.inter;
  if (paired) {
    // w1 and w3 in one launch: 2k slots over both tables, g's rows then u's.
    const ExpertSetViews w13{m.w13_views.as<const WeightView>(), m.w1.format, m.w1.rows, m.w1.cols,
                             m.w1.exact};
    ExpertMatVec(w13, ids, 2 * k, xq, 0, g, s.inter, true, stream);
  } else {
    ExpertMatVec(m.w1, ids, k, xq, 0, g, s.inter, true, stream);
    ExpertMatVec(m.w3, ids, k, xq, 0, u, s.inter, true, stream);
  }
  // w2 on h's FP8 copy, h computed as w2's CTAs stage it (or in place of g first), so xq stays
  // for the shared expert.
  ExpertMatVecOnSwiGlu(Views(m.w2), ids, k, g, u, weights, s.swiglu_limit, m.routed.as<float>(),
                       s.dim, true, stream);
  if (offload) {
    const auto t0 = std::chrono::steady_clock::now();
    m.staged_ready->Synchronize();
    const auto t1 = std::chrono::steady_clock::now();
    // The slots routed to host experts, packed at the front of the staging arrays (each slot's
    // output row then goes back to its own row of `routed`).
    int64_t slots[kMaxRouteK];
    int64_t n = 0;
    for (int64_t i = 0; i < k; ++i) {
      if (host_ids[i] >= m.on_device) {
        slots[n] = i;
        host_ids[n] = host_ids[i];
        host_weights[n] = host_weights[i];
        ++n;
      }
    }
    if (n > 0) m.host_experts(host_xq, nullptr, host_ids, host_weights, n, host_out);
    m.offload_host_slots += n;
    m.offload_wait_seconds += std::chrono::duration<double>(t1 - t0).count();
    m.offload_host_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    for (int64_t j = 0; j < n; ++j) {
      m.routed.UploadAt(static_cast<size_t>(slots[j] * s.dim) * 4, host_out + j * s.dim,
                        static_cast<size_t>(s.dim) * 4, stream);
    }
  }
  if (overlap) m.shared_side->Join(stream);
  if (leave_combine) return;
  if (then_post_after != nullptr) then_post_after->Join(stream);
  MoeCombine(m.routed.as<float>(), m.shared_out.as<float>(), ids, 1, k, s.dim, out, stream,
             then_post);
}

void MoeRows(DeviceMoe& m, const float* x, int64_t rows, const int32_t* tokens, DeviceRows& scratch,
             float* out, CudaStream& stream, bool x_fp8_written, bool leave_combine,
             const HcPostArgs* then_post) {
  const MoeShape& s = m.shape;
  const int64_t k = s.route.k, slots = rows * k;
  if (s.hash && tokens == nullptr) throw CudaError("MoeRows: a hash layer needs the token ids");
  if (rows > scratch.max_rows) {
    throw CudaError("MoeRows: " + std::to_string(rows) + " rows, the scratch holds " +
                    std::to_string(scratch.max_rows));
  }
  // Over several rows (RowsKernelChoice: the register-tiled kernel), the slots grouped by
  // expert once, for the three products: each chosen expert's weights read and decoded once per
  // piece of up to 8 of its slots; with the tensor choice and a prompt's rows (as many as the
  // dense products take the tensor cores for), the pieces on the tensor cores.
  const RowsKernel kernel = RowsKernelChoice();
  const bool grouped =
      kernel != RowsKernel::kByInput && rows > 1 && slots <= scratch.groups.max_slots;
  const bool tensor = grouped && kernel == RowsKernel::kTensor && rows >= kTensorMinInputs;
  // The FP8 input of every row (the shared expert's too).
  float* xq = scratch.x_quant.as<float>();
  if (!x_fp8_written) ActQuantTo(x, xq, rows, s.dim, 128, ActQuantFormat::kFp8, stream);
  // The shared expert on every row (no clamp): it needs no routing. On a side stream beside the
  // router and the routed experts (unless SideStreamsOn() is false, or phase timing is on: its
  // phase is then its own), forked before the router and joined before the combine: it writes
  // only its own buffers. On the step's stream it is queued after the router and the offload's
  // copies, so that the host's wait for the routing does not include it.
  float* sg = scratch.shared_g.as<float>();
  float* su = scratch.shared_u.as<float>();
  float* so = scratch.shared_out.as<float>();
  const bool side = SideStreamsOn() && !PhaseTiming() && scratch.shared_side != nullptr;
  const auto shared_expert = [&](CudaStream& on) {
    MarkPhase(stream, "moe.shared");
    // w1 and w3 in one launch, their SwiGLU's FP8 copy into sg by its last CTAs, where it can;
    // else the SwiGLU's FP8 copy into su (each value written after it is read).
    const bool swiglu_done = MatVecRowsPair(m.shared_w1, m.shared_w3, xq, rows, sg, su, true,
                                            scratch.shared_swiglu_arrivals.as<unsigned>(), on);
    if (!swiglu_done) SwiGluQuant(sg, su, rows, s.inter, nullptr, 0.0f, su, on);
    MatVec(m.shared_w2, swiglu_done ? sg : su, rows, s.inter, so, s.dim, true, on);
  };
  if (side) {
    scratch.shared_side->Fork(stream);
    shared_expert(scratch.shared_side->stream());
  }
  // Router on every row: the exact gate products, then scores, experts and weights, and the
  // slots' grouping by the last row's routing CTA, all in one launch.
  MarkPhase(stream, "moe.router");
  float* logits = scratch.logits.as<float>();
  int32_t* ids = scratch.ids.as<int32_t>();
  float* weights = scratch.weights.as<float>();
  const RouteGrouping grouping{&scratch.groups, scratch.group_arrivals.as<unsigned>()};
  GateAndRoute(m.gate, x, rows, s.dim, logits, s.route, s.hash ? nullptr : m.bias.as<float>(),
               s.hash ? m.hash_table.as<int32_t>() : nullptr, s.hash ? tokens : nullptr, ids,
               weights, scratch.route_arrivals.as<unsigned>(), stream, nullptr, 0,
               grouped ? &grouping : nullptr);
  const bool offload = m.on_device < s.route.experts;
  // The offload's staging: ids [rows, k], weights [rows, k], xq [rows, dim], out [rows, k, dim].
  int32_t* host_ids = offload ? scratch.staged.as<int32_t>() : nullptr;
  float* host_weights = offload ? scratch.staged.as<float>() + slots : nullptr;
  float* host_xq = offload ? host_weights + slots : nullptr;
  float* host_out = offload ? host_xq + rows * s.dim : nullptr;
  if (offload) {
    scratch.ids.DownloadAt(0, host_ids, static_cast<size_t>(slots) * 4, stream);
    scratch.weights.DownloadAt(0, host_weights, static_cast<size_t>(slots) * 4, stream);
    scratch.x_quant.DownloadAt(0, host_xq, static_cast<size_t>(rows * s.dim) * 4, stream);
    m.staged_ready->Record(stream);
  }
  if (!side) shared_expert(stream);
  // Streaming: once the routing is on the host, the host experts chosen most go to the pools (as
  // many as the measured costs say, expert_stream_choice.h, in turns of the pools' capacity) and
  // the expert products below read them there; the CPU keeps the rest.
  MarkPhase(stream, "moe.routed");
  std::vector<uint8_t> streamed;
  std::vector<int32_t> chosen;
  const bool stream_call = offload && m.stream_pools != nullptr && rows >= m.stream_min_rows &&
                           m.stream_pools->w1.capacity > 0;
  bool waited = false;
  const auto wait_for_routing = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    m.staged_ready->Synchronize();
    m.offload_wait_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    waited = true;
  };
  if (stream_call) {
    wait_for_routing();
    // With the costs measured, as many as they make worth it, in turns of the pool's capacity;
    // else as many as the pool holds, in one.
    const ExpertStreamPools& pools = *m.stream_pools;
    const bool by_costs = !StreamChoiceByCapacity() && pools.costs.measured();
    chosen = ChooseStreamedExperts(host_ids, slots, m.on_device, s.route.experts,
                                   by_costs ? s.route.experts : pools.w1.capacity, streamed,
                                   by_costs ? &pools.costs : nullptr);
    m.streamed_experts += static_cast<int64_t>(chosen.size());
  }
  float* g = scratch.g.as<float>();
  float* u = scratch.u.as<float>();
  float* routed = scratch.routed.as<float>();
  const auto experts = [&](const ExpertSetViews& set, const float* in, int64_t in_stride, float* y,
                           int64_t y_stride) {
    if (tensor) {
      ExpertTensorMatVec(set, scratch.groups, ids, slots, in, in_stride, y, y_stride, true, stream);
    } else if (grouped) {
      ExpertGemmMatVec(set, scratch.groups, ids, slots, in, in_stride, y, y_stride, true, stream);
    } else {
      ExpertMatVec(set, ids, slots, in, in_stride, y, y_stride, true, stream);
    }
  };
  // The routed products of the experts whose views in v1, v2, v3 have data (the others' slots
  // left alone).
  const auto products = [&](const ExpertSetViews& v1, const ExpertSetViews& v2,
                            const ExpertSetViews& v3) {
    bool swiglu_done = false;
    if (grouped && ExpertGemmPairTakes(v1, v3, scratch.groups, slots)) {
      // w1 and w3 in one launch, each slot reading its row's FP8 input (k slots a row), their
      // SwiGLU's FP8 copy into g by the launch's last CTAs where it can.
      const PairSwiGlu swiglu{scratch.swiglu_arrivals.as<unsigned>(), weights, s.swiglu_limit};
      swiglu_done = ExpertGemmMatVecPair(v1, v3, scratch.groups, slots, xq, s.dim, k, g, u, s.inter,
                                         true, tensor, stream, &swiglu);
    } else {
      // Each row's input copied per slot, for kernels that read a row per slot.
      float* x_slots = scratch.x_slots.as<float>();
      RepeatRows(xq, rows, s.dim, k, x_slots, stream);
      experts(v1, x_slots, s.dim, g, s.inter);
      experts(v3, x_slots, s.dim, u, s.inter);
    }
    // w2 on the SwiGLU of w1's and w3's outputs with its FP8 copy: in g already, or SwiGluQuant
    // into g first (g is scratch; a later turn's rewrites the g of slots whose w2 has run) for
    // the grouped products, which would compute it once per tile of 32 of w2's rows if they
    // staged it (the single-row kernel's tiles are larger: ExpertMatVecOnSwiGlu).
    if (grouped) {
      if (!swiglu_done) SwiGluQuant(g, u, slots, s.inter, weights, s.swiglu_limit, g, stream);
      experts(v2, g, s.inter, routed, s.dim);
    } else {
      ExpertMatVecOnSwiGlu(v2, ids, slots, g, u, weights, s.swiglu_limit, routed, s.dim, true,
                           stream);
    }
  };
  // The products with the device's own experts and the first pool-full of streamed ones, then a
  // turn per further pool-full (the entries filled again after the turn before has read them).
  const auto streamed_count = static_cast<int64_t>(chosen.size());
  int64_t done = 0;
  for (int64_t turn = 0; turn == 0 || done < streamed_count; ++turn) {
    ExpertSetViews v1 = Views(m.w1), v2 = Views(m.w2), v3 = Views(m.w3);
    const int64_t n =
        stream_call ? std::min(m.stream_pools->w1.capacity, streamed_count - done) : 0;
    if (n > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      ExpertStreamPools& pools = *m.stream_pools;
      const int32_t* batch = chosen.data() + done;
      v1 = StreamExperts(m.w1, m.host_w1, batch, n, pools.w1, stream, turn);
      v3 = StreamExperts(m.w3, m.host_w3, batch, n, pools.w3, stream, turn);
      v2 = StreamExperts(m.w2, m.host_w2, batch, n, pools.w2, stream, turn);
      m.stream_queue_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    products(v1, v2, v3);
    done += n;
  }
  if (offload) {
    if (!waited) wait_for_routing();
    const auto t1 = std::chrono::steady_clock::now();
    // The slots routed to host experts not streamed, every row's, packed at the front of the
    // staging arrays (slot j: row slot_rows[j], its place in `routed` slot_at[j]), computed in one
    // call: each host expert once over all the rows that chose it.
    std::vector<int64_t>& slot_rows = scratch.host_slot_rows;
    std::vector<int64_t>& slot_at = scratch.host_slot_at;
    slot_rows.clear();
    slot_at.clear();
    for (int64_t i = 0; i < slots; ++i) {
      const int32_t e = host_ids[i];
      if (e >= m.on_device && (streamed.empty() || streamed[static_cast<size_t>(e)] == 0)) {
        const auto j = static_cast<int64_t>(slot_at.size());
        host_ids[j] = e;
        host_weights[j] = host_weights[i];
        slot_rows.push_back(i / k);
        slot_at.push_back(i);
      }
    }
    const auto n = static_cast<int64_t>(slot_at.size());
    m.offload_host_slots += n;
    if (n > 0) {
      m.host_experts(host_xq, slot_rows.data(), host_ids, host_weights, n, host_out);
      // The rows up in one copy and their places in another (host_ids is free again: the copies
      // are queued before the next call's routing lands there), then scattered into `routed`.
      int32_t* places = host_ids;
      for (int64_t j = 0; j < n; ++j)
        places[j] = static_cast<int32_t>(slot_at[static_cast<size_t>(j)]);
      scratch.host_rows.Upload(host_out, static_cast<size_t>(n * s.dim) * 4, stream);
      scratch.host_index.Upload(places, static_cast<size_t>(n) * 4, stream);
      ScatterRows(scratch.host_rows.as<float>(), scratch.host_index.as<int32_t>(), n, s.dim, routed,
                  stream);
    }
    m.offload_host_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  if (side) scratch.shared_side->Join(stream);
  if (leave_combine) return;
  MarkPhase(stream, "moe.combine");
  MoeCombine(routed, so, ids, rows, k, s.dim, out, stream, then_post);
}

}  // namespace dsagent::engine::kernels::cuda
