#include "engine/generate/forward_batcher.h"

#include <algorithm>
#include <exception>

namespace dsagent::engine {

ForwardBatcher::ForwardBatcher(SequenceModel& model, ForwardBatcherOptions options)
    : model_(model), options_(options) {}

ForwardBatcher::Member::Member(ForwardBatcher& batcher) : batcher_(batcher) {
  std::lock_guard lock(batcher_.mu_);
  ++batcher_.members_;
}

ForwardBatcher::Member::~Member() {
  std::lock_guard lock(batcher_.mu_);
  --batcher_.members_;
  batcher_.cv_.notify_all();  // the others may all be waiting now
}

Expected<std::vector<float>, std::string> ForwardBatcher::Member::Forward(
    ModelSequence& sequence, std::span<const int32_t> tokens) {
  Step step;
  step.sequence = &sequence;
  step.tokens = tokens;
  return batcher_.Run(step);
}

ForwardBatcher::Stats ForwardBatcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Expected<std::vector<float>, std::string> ForwardBatcher::Run(Step& step) {
  std::unique_lock lock(mu_);
  // The gathering window runs from the first step that waits while no batch runs (a running
  // batch's members come back together when it ends, and the window starts again then).
  if (waiting_.empty() && !running_) first_waiting_ = std::chrono::steady_clock::now();
  waiting_.push_back(&step);
  cv_.notify_all();
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  while (!step.done) {
    if (running_ || waiting_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto deadline = first_waiting_ + options_.gather_window;
    const bool ready = waiting_.size() >= static_cast<size_t>(std::max(1, members_)) ||
                       waiting_.size() >= max_batch || std::chrono::steady_clock::now() >= deadline;
    if (!ready) {
      cv_.wait_until(lock, deadline);
      continue;
    }
    // This thread runs the batch (its own step may be in a later one when more are waiting).
    const size_t n = std::min(waiting_.size(), max_batch);
    std::vector<Step*> batch(waiting_.begin(), waiting_.begin() + static_cast<ptrdiff_t>(n));
    waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<ptrdiff_t>(n));
    running_ = true;
    lock.unlock();
    RunBatch(batch);
    lock.lock();
    running_ = false;
    first_waiting_ = std::chrono::steady_clock::now();
    ++stats_.calls;
    stats_.steps += static_cast<int64_t>(n);
    stats_.largest = std::max(stats_.largest, static_cast<int64_t>(n));
    for (Step* s : batch) s->done = true;
    cv_.notify_all();
  }
  return std::move(step.result);
}

void ForwardBatcher::RunBatch(const std::vector<Step*>& steps) {
  try {
    if (steps.size() == 1) {
      steps.front()->result = model_.Forward(*steps.front()->sequence, steps.front()->tokens, {});
      return;
    }
    std::vector<SequenceStep> batch;
    batch.reserve(steps.size());
    for (Step* s : steps) batch.push_back({s->sequence, s->tokens});
    auto out = model_.ForwardBatch(batch);
    if (out) {
      for (size_t i = 0; i < steps.size(); ++i) steps[i]->result = std::move((*out)[i]);
      return;
    }
    // Refused before anything ran (a bad token in one step): each alone, for its own answer.
    for (Step* s : steps) s->result = model_.Forward(*s->sequence, s->tokens, {});
  } catch (const std::exception& e) {
    // Nothing may be left waiting: every step of the batch gets the error.
    for (Step* s : steps)
      s->result = MakeUnexpected(std::string("forward pass failed: ") + e.what());
  }
}

}  // namespace dsagent::engine
