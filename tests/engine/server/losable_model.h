// A SequenceModel that fails as a lost device model does (DeviceSequenceModel after a CUDA error
// that CudaError::device_lost says is sticky: SequenceModel::Lost), over a working model, at a
// forward pass the test chooses. The server's and the HTTP providers' tests of a lost GPU run on
// it without a GPU.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/generate/sequence_model.h"

namespace dsagent::engine::testing {

inline constexpr const char* kLostReason =
    "cuda:0 is lost to a device fault (an illegal memory access was encountered): restart it";

// `inner` until the chosen forward pass: that call fails and the model is lost from then on.
class LosableModel final : public SequenceModel {
 public:
  explicit LosableModel(SequenceModel& inner) : inner_(inner) {}

  // The n-th forward pass from now (1: the next one) fails and loses the model. A forward pass:
  // Forward, ForwardBatch, ForwardMtpLast or SequenceFrom.
  void LoseAtForward(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    lose_countdown_ = n;
  }
  void LoseAtNextForward() { LoseAtForward(1); }
  // Lost already (a fault met by an earlier request).
  void LoseNow() {
    std::lock_guard<std::mutex> lock(mu_);
    lost_ = kLostReason;
  }
  int forwards() const { return forwards_; }
  // Runs at the start of every forward pass, before the loss is checked (a test holds a request
  // inside a pass with it). Set before requests run.
  void OnForward(std::function<void()> hook) { on_forward_ = std::move(hook); }

  std::string Lost() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_;
  }
  const ModelConfig& config() const override { return inner_.config(); }
  std::unique_ptr<ModelSequence> NewSequence() override { return inner_.NewSequence(); }
  Expected<std::unique_ptr<ModelSequence>, std::string> SequenceFrom(
      forward::SequenceState state) override {
    if (auto ok = Usable(); !ok) return MakeUnexpected(ok.error());
    return inner_.SequenceFrom(std::move(state));
  }
  Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                    std::span<const int32_t> tokens,
                                                    const StepOptions& options) override {
    if (auto ok = Usable(); !ok) return MakeUnexpected(ok.error());
    return inner_.Forward(sequence, tokens, options);
  }
  Expected<std::vector<std::vector<float>>, std::string> ForwardBatch(
      std::span<const SequenceStep> steps) override {
    if (auto ok = Usable(); !ok) return MakeUnexpected(ok.error());
    return inner_.ForwardBatch(steps);
  }
  Expected<Ok, std::string> TakeBackLastRow(ModelSequence& sequence) override {
    return inner_.TakeBackLastRow(sequence);
  }
  Expected<std::vector<float>, std::string> ForwardMtpLast(
      ModelSequence& sequence, std::span<const float> streams,
      std::span<const int32_t> next_tokens) override {
    if (auto ok = Usable(); !ok) return MakeUnexpected(ok.error());
    return inner_.ForwardMtpLast(sequence, streams, next_tokens);
  }

 private:
  // Counts a forward pass; fails it when the model is (or now becomes) lost.
  Expected<Ok, std::string> Usable() {
    if (on_forward_) on_forward_();
    ++forwards_;
    std::lock_guard<std::mutex> lock(mu_);
    if (lose_countdown_ > 0 && --lose_countdown_ == 0) lost_ = kLostReason;
    if (!lost_.empty()) return MakeUnexpected("device sequence on cuda:0: " + lost_);
    return Ok{};
  }

  SequenceModel& inner_;
  std::function<void()> on_forward_;
  std::atomic<int> forwards_{0};
  mutable std::mutex mu_;
  int lose_countdown_ = 0;  // forward passes until the loss; 0: none coming (guarded by mu_)
  std::string lost_;
};

}  // namespace dsagent::engine::testing
