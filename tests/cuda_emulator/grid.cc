#include "tests/cuda_emulator/grid.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/cuda_emulator/env.h"
#include "tests/cuda_emulator/fiber.h"
#include "tests/cuda_emulator/race_check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace dsagent_emu {

thread_local const ThreadCoords* tl_coords = nullptr;

namespace {

// A CUDA thread's stack: 256 KiB by default (sanitizer builds want more:
// DSAGENT_CUDA_EMULATOR_STACK_KIB).
size_t StackBytes() {
  static const size_t bytes = EnvNumber("DSAGENT_CUDA_EMULATOR_STACK_KIB", 256) * 1024;
  return bytes;
}

enum class State : uint8_t { kReady, kAtBarrier, kAtShuffle, kAtGridWait, kDone, kFailed };

class Block;

// A cp.async copy started and not yet waited for (AsyncCopy).
struct PendingCopy {
  void* dst;
  const void* src;
  size_t bytes;
};

struct Thread {
  Thread() : stack(StackBytes()) {}
  ~Thread() {
    if (race != nullptr) race::DeleteFiber(race);
  }
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  ThreadCoords coords{};
  std::vector<PendingCopy> pending;  // done at the thread's AsyncWaitAll, dropped at its exit
  unsigned linear = 0;
  uint32_t shuffle_mask = 0;
  Block* block = nullptr;
  FiberStack stack;
  void* sp = nullptr;             // where it continues
  void* race = race::NewFiber();  // its ThreadSanitizer context (race_check.h), kept with the fiber
};

struct Warp {
  uint32_t existing = 0;  // the lanes this block has
  uint32_t waiting = 0;   // lanes at the exchange in progress
  uint64_t generation = 0;
  // __syncwarp's ordering for the race check, by the generation's parity: a lane acquires its
  // exchange's before the lanes that went on first can release into it again.
  char race_sync[2] = {};
};

// A warp's exchanged values: [generation % 2][word][lane] (an exchange of the generation after
// next overwrites them, which every lane of this one must take part in first). Kept from block to
// block, never cleared: a lane reads only what the exchange it took part in wrote.
struct WarpValues {
  uint64_t v[2][kMaxGatherWords][32];
};

const char* Name(State s) {
  switch (s) {
    case State::kReady:
      return "ready";
    case State::kAtBarrier:
      return "at __syncthreads";
    case State::kAtShuffle:
      return "at a warp shuffle";
    case State::kAtGridWait:
      return "at cudaGridDependencySynchronize";
    case State::kDone:
      return "exited";
    case State::kFailed:
      return "failed";
  }
  return "?";
}

// One block's threads as fibers, run round robin on the calling OS thread; a thread runs until it
// waits (a barrier, a shuffle) or exits, then hands over to the next ready thread of the pass.
// Reused for every block an OS thread runs.
class Block {
 public:
  // Runs block `index` of `launch`; returns "" or what went wrong.
  std::string Run(const GridLaunch& launch, uint3 index) {
    Begin(launch, index, false);
    return Schedule();
  }

  // As Run, but stops once no thread can go on and some wait at cudaGridDependencySynchronize
  // (held() then says so; Release goes on past the wait). "" or what went wrong.
  std::string RunUntilGridWait(const GridLaunch& launch, uint3 index) {
    Begin(launch, index, true);
    return Schedule();
  }
  bool held() const { return held_; }
  bool waited() const { return waited_; }
  std::string Release() {
    race::Release(&grid_wait_race_sync_);
    hold_at_grid_wait_ = false;
    for (unsigned i = 0; i < n_; ++i) {
      if (states_[i] == State::kAtGridWait) states_[i] = State::kReady;
    }
    return Schedule();
  }

  // cudaGridDependencySynchronize: waits (parks) only in a block run by RunUntilGridWait.
  void GridDependencyWait() {
    waited_ = true;
    if (!hold_at_grid_wait_) return;
    Thread& t = *current_;
    states_[t.linear] = State::kAtGridWait;
    HandOver(t);
    race::Acquire(&grid_wait_race_sync_);  // the kernel before has ended (Release)
  }

  void SyncThreads() { (void)ArriveAtBarrier(1); }

  int ArriveAtBarrier(int predicate) {
    Thread& t = *current_;
    const int g = static_cast<int>(barrier_generation_ & 1);
    race::Release(&barrier_race_sync_[g]);
    and_acc_[g] &= predicate != 0 ? 1 : 0;
    states_[t.linear] = State::kAtBarrier;
    ++at_barrier_;
    ReleaseBarrierIfComplete();
    if (states_[t.linear] != State::kReady) HandOver(t);
    race::Acquire(&barrier_race_sync_[g]);
    return and_result_[g];
  }

  // __syncwarp: an exchange of the lanes of `mask` that also orders their memory.
  void WarpBarrier(unsigned mask) {
    Thread& t = *current_;
    Warp& w = warps_[t.linear / 32];
    char* sync = &w.race_sync[w.generation & 1];
    race::Release(sync);
    const uint64_t nothing = 0;
    (void)Arrive(mask, &nothing, 1);
    race::Acquire(sync);
  }

  uint64_t Exchange(unsigned mask, uint64_t value, int src) {
    Thread& t = *current_;
    const uint32_t need = mask & warps_[t.linear / 32].existing;
    if (src < 0 || src > 31 || ((need >> src) & 1u) == 0) {
      Misuse("lane " + std::to_string(t.linear % 32) + " of warp " + std::to_string(t.linear / 32) +
             " reads lane " + std::to_string(src) + " in a shuffle with mask " + Hex(mask) +
             ", a lane that is not taking part (the block has lanes " +
             Hex(warps_[t.linear / 32].existing) + ")");
      Park(t);
    }
    return Arrive(mask, &value, 1)[src];
  }

  // Every lane's n words of an exchange over `mask` ([word][lane]; valid until this lane's next
  // exchange): one wait for what n butterflies of shuffles wait for 4-5 times each. Each lane of
  // the mask is read, so each must be one the block has, as for a shuffle reading it.
  const uint64_t* Gather(unsigned mask, const uint64_t* words, int n) {
    Thread& t = *current_;
    const uint32_t existing = warps_[t.linear / 32].existing;
    if ((mask & ~existing) != 0) {
      Misuse("lane " + std::to_string(t.linear % 32) + " of warp " + std::to_string(t.linear / 32) +
             " reads every lane of mask " + Hex(mask) + " in one exchange, lanes the block does " +
             "not have (it has " + Hex(existing) + ")");
      Park(t);
    }
    if (n < 1 || n > kMaxGatherWords) {
      Misuse("a gather of " + std::to_string(n) + " words a lane (1 to " +
             std::to_string(kMaxGatherWords) + ")");
      Park(t);
    }
    return Arrive(mask, words, n);
  }

  void* Shared() const { return shared_.get(); }

  // A misuse found by the runtime inside a kernel: the launch fails with `what`.
  [[noreturn]] void FailCurrent(const std::string& what) {
    Misuse(what);
    Park(*current_);
  }

  // The CUDA thread now running (its fiber is the caller).
  Thread& CurrentThread() { return *threads_[LinearThread()]; }

  static thread_local Block* tl_block;

 private:
  static std::string Hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
  }

  // The running lane's part in a warp exchange over `mask` (of the lanes the block has): puts its
  // n words in, waits until every lane of the mask has, and returns the exchange's words
  // ([word][lane]; valid until the warp's exchange after next, which this lane must also join).
  const uint64_t* Arrive(unsigned mask, const uint64_t* words, int n) {
    Thread& t = *current_;
    Warp& w = warps_[t.linear / 32];
    WarpValues& values = values_[t.linear / 32];
    const int lane = static_cast<int>(t.linear % 32);
    const uint32_t need = mask & w.existing;
    if (((need >> lane) & 1u) == 0) {
      Misuse("lane " + std::to_string(lane) + " of warp " + std::to_string(t.linear / 32) +
             " calls a shuffle whose mask " + Hex(mask) + " leaves it out (the block has lanes " +
             Hex(w.existing) + ")");
      Park(t);
    }
    const int g = static_cast<int>(w.generation & 1);
    for (int i = 0; i < n; ++i) values.v[g][i][lane] = words[i];
    w.waiting |= 1u << lane;
    states_[t.linear] = State::kAtShuffle;
    t.shuffle_mask = need;
    if ((w.waiting & need) == need) {
      State* lanes = &states_[(t.linear / 32) * 32];
      for (uint32_t m = need; m != 0; m &= m - 1) lanes[__builtin_ctz(m)] = State::kReady;
      w.waiting &= ~need;
      ++w.generation;
    }
    if (states_[t.linear] != State::kReady) HandOver(t);
    return &values.v[g][0][0];
  }

  std::string Where() const {
    const ThreadCoords c = threads_.empty() ? ThreadCoords{} : threads_[0]->coords;
    return std::string("kernel ") + launch_->name + " block (" + std::to_string(c.block_idx.x) +
           "," + std::to_string(c.block_idx.y) + "," + std::to_string(c.block_idx.z) +
           ") of grid (" + std::to_string(launch_->grid.x) + "," + std::to_string(launch_->grid.y) +
           "," + std::to_string(launch_->grid.z) + "), block (" + std::to_string(launch_->block.x) +
           "," + std::to_string(launch_->block.y) + "," + std::to_string(launch_->block.z) + "): ";
  }

  void Begin(const GridLaunch& launch, uint3 index, bool hold_at_grid_wait) {
    launch_ = &launch;
    hold_at_grid_wait_ = hold_at_grid_wait;
    held_ = false;
    waited_ = false;
    const dim3 b = launch.block;
    const unsigned n = b.x * b.y * b.z;
    // A thread's fiber lives on from block to block (creating one per CUDA thread cost more than
    // the switches): it runs the launch's body, parks, and runs it again for the next block.
    while (threads_.size() < n) {
      threads_.push_back(std::make_unique<Thread>());
      Thread& t = *threads_.back();
      t.block = this;
      t.sp = t.stack.Start(&Block::FiberMain, &t);
    }
    warps_.assign((n + 31) / 32, Warp{});
    if (values_.size() < warps_.size()) values_.resize(warps_.size());
    states_.assign(n, State::kReady);
    for (unsigned i = 0; i < n; ++i) {
      Thread& t = *threads_[i];
      t.linear = i;
      t.coords.thread_idx = {i % b.x, (i / b.x) % b.y, i / (b.x * b.y)};
      t.coords.block_idx = index;
      t.coords.block_dim = b;
      t.coords.grid_dim = launch.grid;
      warps_[i / 32].existing |= 1u << (i % 32);
    }
    n_ = n;
    // The block's dynamic shared memory, exactly its size (a sanitizer then sees an overrun) and
    // filled with 0xff bytes (NaN as floats), as nothing promises what a block finds there.
    shared_.reset(launch.shared_bytes > 0 ? new unsigned char[launch.shared_bytes] : nullptr);
    if (shared_) std::memset(shared_.get(), 0xff, launch.shared_bytes);
    live_ = static_cast<int>(n);
    at_barrier_ = 0;
    barrier_generation_ = 0;
    and_acc_[0] = and_acc_[1] = 1;
    error_.clear();
    if (scheduler_bottom_ == nullptr) ThreadStack(&scheduler_bottom_, &scheduler_size_);
    race::Release(&start_race_sync_);  // all of the above before the block's threads start
  }

  // Runs the block's ready threads until every thread exited, something went wrong, or (holding
  // at the grid wait) the rest wait there.
  std::string Schedule() {
    held_ = false;
    Block* const outer = tl_block;
    tl_block = this;
    scheduler_race_ = race::CurrentFiber();
    // Each pass runs the ready threads in order, each handing over to the next (HandOver); the
    // last hands back here.
    while (live_ > 0 && error_.empty()) {
      Thread* first = NextReady(-1);
      if (first == nullptr) {
        held_ = hold_at_grid_wait_ && AtGridWait();
        if (!held_) error_ = Deadlock();
        break;
      }
      Enter(*first);
      SwitchFiber(&scheduler_sp_, first->sp, first->stack.bottom(), first->stack.size(),
                  first->race);
    }
    tl_block = outer;
    tl_coords = nullptr;
    if (held_) return "";
    std::string error = error_;
    if (!error.empty()) {
      error = Where() + error;
      // The threads left mid-kernel start afresh next time (their frames hold nothing to free).
      for (unsigned i = 0; i < n_; ++i) {
        Thread& t = *threads_[i];
        if (states_[t.linear] == State::kDone) continue;
        t.sp = t.stack.Start(&Block::FiberMain, &t);
        if (race::kChecking) {
          // Its context, left mid-kernel too, ends here as an exited thread's would; a new one
          // (made after the acquire below) takes the fiber.
          race::SwitchTo(t.race);
          race::Release(&end_race_sync_);
          race::SwitchTo(scheduler_race_);
          race::DeleteFiber(t.race);
          t.race = nullptr;
        }
      }
    }
    // The block's threads before whatever this OS thread does next (its next block, the end of
    // the launch); a held block's wait for the kernel before it orders nothing yet.
    race::Acquire(&end_race_sync_);
    if (race::kChecking) {
      for (unsigned i = 0; i < n_; ++i) {
        if (threads_[i]->race == nullptr) threads_[i]->race = race::NewFiber();
      }
    }
    return error;
  }

  bool AtGridWait() const {
    return std::find(states_.begin(), states_.end(), State::kAtGridWait) != states_.end();
  }

  static void FiberMain(void* arg) {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);  // the first entry's half
#endif
    Thread& t = *static_cast<Thread*>(arg);
    for (;;) {
      t.pending.clear();
      race::Acquire(&t.block->start_race_sync_);
      (*t.block->launch_->body)();
      race::Release(&t.block->end_race_sync_);
      t.block->states_[t.linear] = State::kDone;
      --t.block->live_;
      t.block->ReleaseBarrierIfComplete();
      t.block->HandOver(t);  // parked until a later block of a launch runs it again
    }
  }

  // The next thread of this pass that can run (after `after`, in the pass's order), or nullptr.
  Thread* NextReady(int after) const {
    static const bool reverse = EnvIs("DSAGENT_CUDA_EMULATOR_ORDER", "reverse");
    const int n = static_cast<int>(n_);
    const int from = after < 0 ? 0 : (reverse ? n - 1 - after : after) + 1;
    for (int k = from; k < n; ++k) {
      const size_t i = static_cast<size_t>(reverse ? n - 1 - k : k);
      if (states_[i] == State::kReady) return threads_[i].get();
    }
    return nullptr;
  }

  void Enter(Thread& t) {
    current_ = &t;
    tl_coords = &t.coords;
  }

  // Leaves the running thread `t` where it stands and runs the next ready thread of the pass, or
  // goes back to the scheduler; returns when `t` is run again.
  void HandOver(Thread& t) {
    Thread* next = error_.empty() ? NextReady(static_cast<int>(t.linear)) : nullptr;
    if (next != nullptr) {
      Enter(*next);
      SwitchFiber(&t.sp, next->sp, next->stack.bottom(), next->stack.size(), next->race);
    } else {
      SwitchFiber(&t.sp, scheduler_sp_, scheduler_bottom_, scheduler_size_, scheduler_race_);
    }
  }

  // Records the misuse and parks the thread for good; the scheduler stops at the error.
  // Records a misuse; the caller then parks the thread for good (Park) and the scheduler stops at
  // the error. Two calls, so that the message's temporaries are gone before the thread parks.
  void Misuse(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  [[noreturn]] void Park(Thread& t) {
    states_[t.linear] = State::kFailed;
    for (;;) HandOver(t);
  }

  // Exited threads do not hold a barrier up (the hardware's behaviour for threads that returned
  // early; CUDA leaves a barrier in divergent code undefined, so kernels here avoid relying on it).
  void ReleaseBarrierIfComplete() {
    if (at_barrier_ == 0 || at_barrier_ != live_) return;
    const int g = static_cast<int>(barrier_generation_ & 1);
    and_result_[g] = and_acc_[g];
    and_acc_[g ^ 1] = 1;
    ++barrier_generation_;
    at_barrier_ = 0;
    for (unsigned i = 0; i < n_; ++i) {
      if (states_[i] == State::kAtBarrier) states_[i] = State::kReady;
    }
  }

  std::string Deadlock() const {
    int at_barrier = 0, at_shuffle = 0, exited = 0;
    std::string shuffles;
    for (unsigned i = 0; i < n_; ++i) {
      const Thread& t = *threads_[i];
      if (states_[t.linear] == State::kAtBarrier) ++at_barrier;
      if (states_[t.linear] == State::kDone) ++exited;
      if (states_[t.linear] == State::kAtShuffle) {
        if (at_shuffle++ < 4) {
          shuffles += "; thread " + std::to_string(t.linear) + " waits at a shuffle with mask " +
                      Hex(t.shuffle_mask) + " (lanes waiting " +
                      Hex(warps_[t.linear / 32].waiting) + ")";
        }
      }
    }
    std::string why = "no thread can go on (" + std::to_string(at_barrier) + " at __syncthreads, " +
                      std::to_string(at_shuffle) + " at a shuffle, " + std::to_string(exited) +
                      " exited)";
    if (at_shuffle > 0) why += ": a shuffle's mask names a lane that exited or waits elsewhere";
    if (at_shuffle == 0 && at_barrier > 0) why += ": threads wait at different __syncthreads";
    for (unsigned i = 0; i < n_; ++i) {
      const Thread& t = *threads_[i];
      if (states_[t.linear] != State::kDone && states_[t.linear] != State::kAtShuffle &&
          states_[t.linear] != State::kAtBarrier) {
        why += "; thread " + std::to_string(t.linear) + " is " + Name(states_[t.linear]);
        break;
      }
    }
    return why + shuffles;
  }

  const GridLaunch* launch_ = nullptr;
  bool hold_at_grid_wait_ = false;  // RunUntilGridWait, until Release
  bool held_ = false;               // stopped with threads at the grid wait
  bool waited_ = false;             // a thread called cudaGridDependencySynchronize
  void* scheduler_sp_ = nullptr;
  const void* scheduler_bottom_ = nullptr;  // this OS thread's own stack
  size_t scheduler_size_ = 0;
  void* scheduler_race_ = nullptr;  // this OS thread's ThreadSanitizer context
  // What the race check orders by (race_check.h): the block's start before its threads, its
  // threads before its end, each barrier's arrivals (by the generation's parity) before its
  // departures, and the kernel before a held block's wait before what follows the wait.
  char start_race_sync_ = 0;
  char end_race_sync_ = 0;
  char barrier_race_sync_[2] = {};
  char grid_wait_race_sync_ = 0;
  std::vector<std::unique_ptr<Thread>> threads_;  // [0, n_) run this block; the rest are parked
  unsigned n_ = 0;
  std::vector<State> states_;  // by linear thread index (compact: the scheduler scans it)
  std::vector<Warp> warps_;
  std::vector<WarpValues> values_;  // by warp; at least warps_.size()
  std::unique_ptr<unsigned char[]> shared_;
  Thread* current_ = nullptr;
  int live_ = 0;
  int at_barrier_ = 0;
  uint64_t barrier_generation_ = 0;
  int and_acc_[2] = {1, 1};
  int and_result_[2] = {1, 1};
  std::string error_;
};

thread_local Block* Block::tl_block = nullptr;

Block& CurrentBlock() {
  if (Block::tl_block == nullptr) {
    std::fprintf(stderr, "CUDA emulator: a device function called outside a kernel\n");
    std::abort();
  }
  return *Block::tl_block;
}

// OS threads that run a grid's blocks (the launching thread takes part too).
class Workers {
 public:
  static Workers& Get() {
    static Workers* w = new Workers(static_cast<int>(
        EnvNumber("DSAGENT_CUDA_EMULATOR_THREADS",
                  std::max(1u, std::min(8u, std::thread::hardware_concurrency())))));
    return *w;
  }

  // The OS threads that run blocks, the launching one included.
  int Count() const { return static_cast<int>(threads_.size()) + 1; }

  // Runs job(i) for every i in [0, n); returns the first error a job returned.
  std::string Run(int64_t n, const std::function<std::string(int64_t)>& job) {
    if (n == 1 || threads_.empty()) {  // not worth waking anyone
      for (int64_t i = 0; i < n; ++i) {
        std::string e = job(i);
        if (!e.empty()) return e;
      }
      return "";
    }
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &job;
    n_ = n;
    next_ = 0;
    turn_ = 0;
    error_.clear();
    busy_ = static_cast<int>(threads_.size());
    ++epoch_;
    published_.store(epoch_, std::memory_order_release);
    work_cv_.notify_all();
    lock.unlock();
    Drain();
    lock.lock();
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
    return error_;
  }

 private:
  explicit Workers(int count) {
    for (int i = 1; i < count; ++i) threads_.emplace_back([this] { Loop(); });
  }

  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      // Launches come in quick succession: look for the next one a little before sleeping.
      for (int spin = 0; spin < 200 && published_.load(std::memory_order_acquire) == seen; ++spin) {
        __builtin_ia32_pause();
      }
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return epoch_ != seen; });
      seen = epoch_;
      lock.unlock();
      Drain();
      lock.lock();
      if (--busy_ == 0) done_cv_.notify_all();
    }
  }

  void Drain() {
    if (race::kChecking) {
      DrainInTurn();
      return;
    }
    for (;;) {
      const int64_t i = next_.fetch_add(1);
      if (i >= n_) return;
      RunBlock(i);
    }
  }

  // Under the race check the blocks are dealt out in turn (participant p of P runs blocks p,
  // p + P, ...) instead of taken as each thread comes free: neighbouring blocks then run on
  // different OS threads, which nothing orders, so a race between two blocks shows; taken as they
  // come, one thread may run them all (blocks that one thread runs are ordered, as its next block
  // reuses this block's shared memory and fibers).
  void DrainInTurn() {
    for (int64_t i = turn_.fetch_add(1); i < n_ && next_.load() < n_; i += Count()) {
      RunBlock(i);
    }
  }

  void RunBlock(int64_t i) {
    std::string e = (*job_)(i);
    if (!e.empty()) {
      std::lock_guard<std::mutex> g(error_mu_);
      if (error_.empty()) error_ = e;
      next_ = n_;  // the blocks not started yet are skipped
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> threads_;
  const std::function<std::string(int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> turn_{0};  // DrainInTurn's next participant
  int busy_ = 0;
  uint64_t epoch_ = 0;
  std::atomic<uint64_t> published_{0};  // epoch_, readable without the lock
  std::mutex error_mu_;
  std::string error_;
};

}  // namespace

int BlockThreads() { return Workers::Get().Count(); }

void SyncThreads() { CurrentBlock().SyncThreads(); }

void WarpBarrier(unsigned mask) { CurrentBlock().WarpBarrier(mask); }

int SyncThreadsAnd(int predicate) { return CurrentBlock().ArriveAtBarrier(predicate); }

uint64_t WarpExchange(unsigned mask, uint64_t value, int src_lane) {
  return CurrentBlock().Exchange(mask, value, src_lane);
}

const uint64_t* WarpGather(unsigned mask, const uint64_t* words, int n) {
  return CurrentBlock().Gather(mask, words, n);
}

void* DynamicSharedMemory() { return CurrentBlock().Shared(); }

void GridDependencyWait() { CurrentBlock().GridDependencyWait(); }

void FailRunningThread(const std::string& what) { CurrentBlock().FailCurrent(what); }

void AsyncCopy(void* dst, const void* src, size_t bytes) {
  CurrentBlock().CurrentThread().pending.push_back({dst, src, bytes});
}

void AsyncWaitAll() {
  Thread& t = CurrentBlock().CurrentThread();
  for (const PendingCopy& c : t.pending) std::memcpy(c.dst, c.src, c.bytes);
  t.pending.clear();
}

std::string ConfigurationProblem(const GridLaunch& l, size_t max_dynamic_shared) {
  const uint64_t threads = uint64_t{l.block.x} * l.block.y * l.block.z;
  if (threads == 0 || threads > 1024 || l.block.x > 1024 || l.block.y > 1024 || l.block.z > 64) {
    return "block (" + std::to_string(l.block.x) + "," + std::to_string(l.block.y) + "," +
           std::to_string(l.block.z) + ") is not 1..1024 threads within (1024,1024,64)";
  }
  if (l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0 || l.grid.x > 2147483647u ||
      l.grid.y > 65535 || l.grid.z > 65535) {
    return "grid (" + std::to_string(l.grid.x) + "," + std::to_string(l.grid.y) + "," +
           std::to_string(l.grid.z) + ") is empty or past (2^31-1,65535,65535)";
  }
  if (l.shared_bytes > max_dynamic_shared) {
    return std::to_string(l.shared_bytes) + " bytes of dynamic shared memory, over the kernel's " +
           std::to_string(max_dynamic_shared) +
           " (cudaFuncAttributeMaxDynamicSharedMemorySize raises it, up to the device's opt-in "
           "limit)";
  }
  return "";
}

std::string RunGrid(const GridLaunch& launch, int64_t first_block) {
  const dim3 g = launch.grid;
  const int64_t blocks = int64_t{g.x} * g.y * g.z - first_block;
  if (blocks <= 0) return "";
  const std::function<std::string(int64_t)> job = [&](int64_t k) {
    thread_local Block block;
    const int64_t i = first_block + k;
    const uint3 index{static_cast<unsigned>(i % g.x), static_cast<unsigned>((i / g.x) % g.y),
                      static_cast<unsigned>(i / (int64_t{g.x} * g.y))};
    return block.Run(launch, index);
  };
  return Workers::Get().Run(blocks, job);
}

namespace {

// The OS thread that runs held blocks: a job at a time, handed over under a lock (which orders
// the memory each side wrote before the other's next step).
class HeldBlockThread {
 public:
  static HeldBlockThread& Get() {
    static HeldBlockThread* t = new HeldBlockThread();
    return *t;
  }
  std::string Do(const std::function<std::string()>& job) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return job_ == nullptr; });
    job_ = &job;
    done_ = false;
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return done_; });
    job_ = nullptr;
    idle_cv_.notify_one();
    return std::move(result_);
  }

  // Blocks are kept for the next held launch (their fibers cost more to make than to reuse).
  std::unique_ptr<Block> TakeBlock() {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (pool_.empty()) return std::make_unique<Block>();
    std::unique_ptr<Block> b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }
  void ReturnBlock(std::unique_ptr<Block> b) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    pool_.push_back(std::move(b));
  }

 private:
  HeldBlockThread() : thread_([this] { Loop(); }) { thread_.detach(); }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return job_ != nullptr && !done_; });
      const std::function<std::string()>* job = job_;
      lock.unlock();
      std::string result = (*job)();
      lock.lock();
      result_ = std::move(result);
      done_ = true;
      done_cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_, idle_cv_;
  const std::function<std::string()>* job_ = nullptr;
  bool done_ = false;
  std::string result_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Block>> pool_;
  std::thread thread_;
};

}  // namespace

// HeldBlock's state: an interface here, as the Block it holds is this file's own.
struct HeldBlock::Impl {
  virtual ~Impl() = default;
};

namespace {

struct HeldBlockState : HeldBlock::Impl {
  GridLaunch launch;  // the block's fibers run its body
  std::unique_ptr<Block> block = HeldBlockThread::Get().TakeBlock();
  bool running = false;  // held at the wait, not finished
};

}  // namespace

std::unique_ptr<HeldBlock> HeldBlock::Start(const GridLaunch& launch, std::string* error) {
  std::unique_ptr<HeldBlock> held(new HeldBlock());
  auto state = std::make_unique<HeldBlockState>();
  HeldBlockState& impl = *state;
  held->impl_ = std::move(state);
  impl.launch = launch;
  *error = HeldBlockThread::Get().Do([&impl] {
    std::string e = impl.block->RunUntilGridWait(impl.launch, uint3{0, 0, 0});
    if (!e.empty()) return e;
    impl.running = impl.block->held();
    if (!impl.block->waited()) {
      return std::string("kernel ") + impl.launch.name +
             ": block 0 of a programmatic launch ended without cudaGridDependencySynchronize, "
             "so it may run wholly beside the kernel before it (wait before touching memory "
             "that kernel reads or writes, or launch it without the attribute)";
    }
    return std::string();
  });
  return held;
}

std::string HeldBlock::Finish() {
  if (impl_ == nullptr) return "";
  HeldBlockState& impl = static_cast<HeldBlockState&>(*impl_);
  if (!impl.running) return "";
  impl.running = false;
  return HeldBlockThread::Get().Do([&impl] { return impl.block->Release(); });
}

HeldBlock::~HeldBlock() {
  // A block still held (its launch failed elsewhere) goes on to its end on its own thread, so that
  // its fibers are not left mid-kernel.
  if (impl_ == nullptr) return;
  (void)Finish();
  HeldBlockThread::Get().ReturnBlock(std::move(static_cast<HeldBlockState&>(*impl_).block));
}

}  // namespace dsagent_emu
