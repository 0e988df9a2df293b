// ForwardBatcher: runs the decode steps of concurrent generations as one batched forward call
// (SequenceModel::ForwardBatch), so that N sequences decoding side by side read the weights once
// per step instead of N times (continuous batching: generations join and leave between steps).
//
// A generation becomes a Member for its decode loop and sends each step through it. A step waits
// until every member has sent its step, or `max_batch` steps are waiting, or `gather_window` has
// passed since the first of them arrived (a member busy elsewhere, e.g. writing to a slow client,
// delays the others by at most that); then one waiting thread runs them all as one call while the
// others sleep, and each gets its own logits. Batching never changes a result: each sequence's
// logits and state are bit for bit those of a call with it alone (SequenceModel::ForwardBatch), so
// only the timing depends on who else is decoding.
//
// Thread-safety: everything may be called from any thread; one Member per generation, one
// Forward per Member at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/generate/sequence_model.h"

namespace dsagent::engine {

struct ForwardBatcherOptions {
  int max_batch = 8;  // sequences per call, >= 1 (1: every step runs alone)
  std::chrono::microseconds gather_window{2000};
};

class ForwardBatcher {
 public:
  // `model` must outlive the batcher.
  explicit ForwardBatcher(SequenceModel& model, ForwardBatcherOptions options = {});
  ForwardBatcher(const ForwardBatcher&) = delete;
  ForwardBatcher& operator=(const ForwardBatcher&) = delete;

  // One generation's membership, from its first decode step to its end (RAII).
  class Member {
   public:
    explicit Member(ForwardBatcher& batcher);
    ~Member();
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

    // SequenceModel::Forward(sequence, tokens, {}) (every row's logits), run in a batch with the
    // other members' steps. Errors: Forward's for this sequence alone.
    Expected<std::vector<float>, std::string> Forward(ModelSequence& sequence,
                                                      std::span<const int32_t> tokens);

   private:
    ForwardBatcher& batcher_;
  };

  struct Stats {
    int64_t calls = 0;  // batched forward calls run
    int64_t steps = 0;  // member steps they carried
    int64_t largest = 0;
  };
  Stats stats() const;

 private:
  struct Step {
    ModelSequence* sequence = nullptr;
    std::span<const int32_t> tokens;
    Expected<std::vector<float>, std::string> result = std::vector<float>{};
    bool done = false;
  };

  Expected<std::vector<float>, std::string> Run(Step& step);
  // Runs `steps` as one call (each alone when the batch is refused, for its own error).
  void RunBatch(const std::vector<Step*>& steps);

  SequenceModel& model_;
  const ForwardBatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int members_ = 0;
  std::deque<Step*> waiting_;
  std::chrono::steady_clock::time_point first_waiting_;
  bool running_ = false;
  Stats stats_;
};

}  // namespace dsagent::engine
