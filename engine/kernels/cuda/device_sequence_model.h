// DeviceSequenceModel: the generation seam (generate/sequence_model.h) on the GPU — one copy of
// the weights on the device (model_step.h DeviceModel) and one DeviceSequence per ModelSequence.
// Forward runs one token as a device decode step (ModelDecode) and several in chunks of up to
// chunk_rows rows (DeviceDecoderOptions::chunk_rows, kDeviceChunkRows by default; model_rows.h
// ModelRows: each weight read once per chunk); ForwardBatch runs the steps of all its sequences
// as one ModelRows call over their rows (up to chunk_rows per call: each weight read once per
// call for all sequences); HostState
// downloads a snapshot (device_sequence_copy.h) into a host copy the sequence keeps; SequenceFrom
// restores a host state (a prefix cache's hit, a --kv-dir record), so states move between
// the CPU and GPU engines. Decode steps (Forward of one token, or token by token for speculative
// decoding; ForwardBatch of one token per sequence) go to the device as CUDA graphs
// (decode_graph.h), kLayersPerGraph blocks each, when every expert is on the device.
//
// The MTP blocks' state moves with the rest. Speculative decoding (generator.h, --speculative mtp)
// runs here as on the CPU: Forward's StepOptions::final_streams (the hc streams after the last
// block, downloaded; such calls run token by token, RunTraced), ForwardMtpLast
// (the MTP block on the device, mtp_step.h) and StepOptions::undoable_last_row + TakeBackLastRow
// (device_row_undo.h: what the last row overwrites kept device to device, copied back).
//
// Thread-safety: calls may come from several threads; the device model's scratch is shared, so
// they run one at a time (a mutex). The forward::Model must outlive Create (the upload reads its
// mapped weights; nothing afterwards); the DeviceSequenceModel must outlive its sequences.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/generate/sequence_model.h"
#include "engine/kernels/cuda/decode_graph.h"
#include "engine/kernels/cuda/device_decoder.h"
#include "engine/kernels/cuda/device_row_undo.h"
#include "engine/kernels/cuda/expert_stream_choice.h"
#include "engine/kernels/cuda/rows_scratch.h"
#include "engine/model/loaded_pages.h"
#include "engine/model/placement_plan.h"

namespace dsagent::engine::kernels::cuda {

class DeviceSequenceModel;

// Blocks per CUDA graph of a decode step (decode_graph.h): the host captures the next few blocks
// while the device runs these. Fewer means more graph launches; more, a longer wait before the
// device starts.
constexpr int64_t kLayersPerGraph = 4;

class DeviceModelSequence final : public ModelSequence {
 public:
  ~DeviceModelSequence() override;
  int64_t pos() const override;
  int64_t mtp_pos() const override;
  // Downloads the device state (the MTP blocks' part included) into the host copy this sequence
  // keeps.
  // Error: a CUDA error (the sequence is unchanged).
  Expected<const forward::SequenceState*, std::string> HostState() override;

 private:
  friend class DeviceSequenceModel;
  explicit DeviceModelSequence(DeviceSequenceModel& model);

  DeviceSequenceModel* owner_;
  std::unique_ptr<DeviceSequence> device_;
  DeviceRowUndo undo_;           // the last call's last row, when it asked to be undoable
  forward::SequenceState host_;  // HostState's copy
  std::string broken_;           // the CUDA error that made the sequence unusable
};

class DeviceSequenceModel final : public SequenceModel {
 public:
  // Error (never an exception): the plan (ExpertsOnDevicePerLayer), a context < 1 or beyond
  // max_position_embeddings, a CUDA error (no device, out of memory). Every sequence holds
  // `options.context` positions.
  static Expected<std::unique_ptr<DeviceSequenceModel>, std::string> Create(
      const forward::Model& model, const PlacementPlan& plan, const DeviceDecoderOptions& options);
  ~DeviceSequenceModel() override;

  // The checkpoint's config: its max_position_embeddings is not this model's room, context() is
  // (callers cap generation there: GenerateOptions::context_limit).
  const ModelConfig& config() const override { return config_; }
  int64_t context() const { return context_; }

  // Where the routed experts kept on the host went so far, summed over every MoE layer and MTP
  // block (moe_step.h DeviceMoe): seconds the host waited for the routing, computed host experts,
  // queued streamed experts' copies, how many experts were streamed (0 without streaming) and
  // how many slots the CPU computed.
  struct OffloadStats {
    double wait_seconds = 0, host_seconds = 0, stream_queue_seconds = 0;
    int64_t streamed_experts = 0;
    int64_t host_slots = 0;  // slots (a row's choice of an expert) the CPU computed
  };
  OffloadStats Offload();

  // Whether decode steps run as CUDA graphs (decode_graph.h), why not when they do not (options,
  // DSAGENT_CUDA_GRAPHS, experts on the host, or the capture that failed: the model then runs
  // its steps plainly from that step on), and what the graphs did so far.
  struct GraphReport {
    bool on = false;
    std::string off_reason;
    DecodeGraphs::Stats stats;
  };
  GraphReport Graphs();

  // The routed experts kept in host memory: how much is page-locked for streaming, or why it is
  // pageable (host_pinning.h PinnedHostMemory::Describe); empty when every expert is on the
  // device. A line of the placement report.
  std::string HostExpertMemory() const;
  // The host memory the offload's CPU side still reads: the host experts' bytes, and the pages
  // page-locked around them (HostExpertCompute::ranges, PinnedHostMemory::registered). Empty
  // when every expert is on the device: nothing on the host is read after the upload.
  std::vector<AddressRange> HostWeightRanges() const;

  // What streaming a host expert costs against the CPU's products, as measured at load
  // (expert_stream_costs.h); all zero without stream pools. SetStreamCosts replaces them for the
  // calls from then on (tests and benchmarks: the choice under given costs); no-op without pools.
  ExpertStreamCosts StreamCosts();
  void SetStreamCosts(const ExpertStreamCosts& costs);

  // Why nothing more can run (the device lost to a fault: cuda:N, the CUDA error, what to do),
  // or empty. Set by the first call that meets such an error (CudaError::device_lost); from then
  // on every call fails at once with this message, before touching the device. Any thread.
  std::string Lost() const override;

  // An empty sequence. When the device cannot allocate its state (out of memory), the sequence
  // carries the CUDA error and every call on it returns that error.
  std::unique_ptr<ModelSequence> NewSequence() override;
  // Error: a state that does not fit (sequence_state_layout.h CheckStateFitsDevice), a CUDA error.
  Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) override;

  // One token: a decode step; more: chunks of chunk_rows rows through ModelRows (logits of
  // the last row only when options.last_row_only, else of each). final_streams and
  // undoable_last_row as sequence_model.h says (those calls run token by token: RunTraced).
  // Error, with the sequence untouched: no tokens, a bad id, more tokens than the context has room
  // for, another model's sequence. A CUDA error leaves the sequence unusable (every later call on
  // it fails).
  Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                    std::span<const int32_t> tokens,
                                                    const StepOptions& options) override;
  // The steps' rows together, chunk_rows at most per ModelRows call (a step longer than
  // that runs alone, as Forward); checked in full before any runs.
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) override;
  // Error, with the sequence untouched: its last call did not ask for an undoable last row, or a
  // row was taken back since; another model's sequence.
  Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) override;
  // The first MTP block on the device, row by row at mtp_pos(), mtp_pos(), ...; the last row's
  // logits. Error, with the sequence untouched: no MTP block in the checkpoint, a bad id, streams
  // that are not [rows, hc, dim], more rows than the context has room for, another model's
  // sequence.
  Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) override;

 private:
  DeviceSequenceModel();
  // Run for speculative decoding's calls, token by token (ModelDecode): `final_streams` (may be
  // null) receives every row's streams after the last block; `undoable` keeps what the last row
  // overwrites (seq.undo_) just before it runs. Caller holds mutex_.
  Expected<std::vector<float>, std::string> RunTraced(DeviceModelSequence& seq,
                                                      std::span<const int32_t> tokens,
                                                      bool last_only,
                                                      std::vector<float>* final_streams,
                                                      bool undoable);
  Expected<DeviceModelSequence*, std::string> Own(ModelSequence& sequence) const;
  // Marks `seq` unusable after the CUDA error `e` raised `where` ("at position N", ...): its undo
  // record dropped, broken_ set to the message every later call returns; returns that message.
  const std::string& Break(DeviceModelSequence& seq, const std::string& where,
                           const std::exception& e) const;
  // Records the device as lost (Lost()) when `e` is a CudaError that says so.
  void NoteLost(const std::exception& e) const;
  // The device not lost (Lost()) and `seq` not broken by an earlier CUDA error; else that
  // message.
  Expected<Ok, std::string> CheckUsable(const DeviceModelSequence& seq) const;
  // Checks `tokens` for `seq` (CheckUsable, ids, room).
  Expected<Ok, std::string> CheckStep(const DeviceModelSequence& seq,
                                      std::span<const int32_t> tokens) const;
  // Runs checked tokens; caller holds mutex_.
  Expected<std::vector<float>, std::string> Run(DeviceModelSequence& seq,
                                                std::span<const int32_t> tokens, bool last_only);
  // Runs checked steps (distinct sequences, at most chunk_rows rows in all) as one ModelRows
  // call; every row's logits. Caller holds mutex_.
  Expected<Ok, std::string> RunRows(std::span<DeviceModelSequence* const> seqs,
                                    std::span<const SequenceStep> steps,
                                    std::vector<std::vector<float>>& out);
  // A decode step's pieces (decode_pieces.h DecodePieces: kLayersPerGraph blocks each) for
  // QueuePiece. Caller holds mutex_.
  DecodePieces StepPieces();
  // Queues a piece of a decode step as a CUDA graph while graphs are on, else plainly. A capture
  // that fails turns graphs off for good (the reason kept for Graphs()) and queues the piece
  // plainly. Throws what the plain launches throw. Caller holds mutex_.
  void QueuePiece(int64_t piece, const std::function<void()>& launches);

  friend class DeviceModelSequence;
  ModelConfig config_;
  int device_ = 0;
  int64_t context_ = 0;
  std::mutex mutex_;
  // Grown on demand: a call's final streams [rows, hc, dim]; the MTP rows' input streams and next
  // tokens.
  DeviceBuffer streams_, mtp_streams_, mtp_tokens_;
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<HostExpertCompute> host_;  // the offload's CPU side (before model_: outlives it)
  std::unique_ptr<DeviceModel> model_;
  std::unique_ptr<DeviceBuffer> token_, logits_;  // logits_: [chunk_rows_, vocab]
  int64_t chunk_rows_ = kDeviceChunkRows;
  std::unique_ptr<DeviceRows> rows_;
  std::unique_ptr<DecodeGraphs> graphs_;  // null: graphs never on (graphs_off_ says why)
  bool graphs_on_ = false;
  std::string graphs_off_;
  mutable std::mutex lost_mu_;  // apart from mutex_: a server's health check never waits on a call
  mutable std::string lost_;    // Lost()
};

}  // namespace dsagent::engine::kernels::cuda
