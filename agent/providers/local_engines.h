// LocalEngines: the built-in engine a process keeps open across its agent sessions, so that a
// session opened after another (the next task of `dsagent eval`, a polyglot task's second try, a
// fix round of `dsagent patch`, `/clear` in the terminal) takes the model already loaded instead
// of loading it again. On a GPU a load is the weights' upload, minutes for V4-Flash; on the CPU
// with `weights: load` it reads the whole checkpoint. Every local provider built with the same
// LocalEngines and the same engine options shares one EngineRuntime (its prefix caches too), as
// many chat turns at a time as the LocalEngines admits.
//
// Usage (the owner outlives the sessions it serves):
//   LocalEngines engines;                                  // e.g. one per eval run
//   SessionOpenOptions o; o.local_engines = &engines;      // each session's provider acquires it
//
// One engine is kept: acquiring one for other options lets the kept one go first (its memory,
// a GPU's above all, is free before the next load unless a live session still holds it).
//
// Thread-safety: Acquire may be called from any thread; concurrent calls for the same options
// load once and share. A chat turn on a LocalEngine's runtime first passes its `turns` gate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/expected.h"
#include "engine/server/request_gate.h"

namespace dsagent {

namespace engine {
class EngineRuntime;
struct EngineRuntimeOptions;
}  // namespace engine

// What a person is told while the local engine loads; either may be empty.
struct LocalLoadNotices {
  // As a GPU's weights upload begins (0, total) and after each block
  // (engine::EngineRuntimeOptions::upload_progress).
  std::function<void(int64_t done, int64_t total)> upload_progress;
  // Once loaded, one line at a time without the newline: "local model DIR on cuda:0, loaded in
  // 12.3 s", then on a GPU the placement (what is on the device, what stays in host memory).
  std::function<void(const std::string& line)> note;
};

// "weights to the GPU: 12 of 45 blocks"; when done == total, "weights to the GPU: all 45 blocks
// in 8.1 s" (`seconds` since the upload began).
std::string UploadProgressText(int64_t done, int64_t total, double seconds);

// Notices told as lines to `line` (a log, the terminal assistant's notes), without a newline:
// the upload at each quarter of its blocks and its time at the end (UploadProgressText), then the
// load's notes.
LocalLoadNotices LocalLoadLines(std::function<void(const std::string& line)> line);

// One open engine and the gate its chat turns pass.
struct LocalEngine {
  LocalEngine(std::unique_ptr<engine::EngineRuntime> r, int parallel);
  ~LocalEngine();
  std::unique_ptr<engine::EngineRuntime> runtime;
  // Admits `parallel` chat turns at once (the runtime batches their decode steps), the others in
  // order of arrival; a turn waiting in line gives up when its session is cancelled.
  engine::server::RequestGate turns;
};

class LocalEngines {
 public:
  // `parallel`: how many sessions' chat turns may run on the engine at once (`dsagent eval
  // --jobs N`); their decode steps are then batched (EngineRuntimeOptions::max_batch, as `dsagent
  // serve --parallel N` does). 1: one turn at a time.
  explicit LocalEngines(int parallel = 1);
  ~LocalEngines();
  LocalEngines(const LocalEngines&) = delete;
  LocalEngines& operator=(const LocalEngines&) = delete;

  // The engine kept for `options` (everything but their callbacks must match), or a new one
  // opened with them and kept; `notices` are told of a load, not of a reuse. Error: the
  // EngineRuntime::Open message (nothing is kept then).
  Expected<std::shared_ptr<LocalEngine>, std::string> Acquire(
      const engine::EngineRuntimeOptions& options, const LocalLoadNotices& notices);

  // How many engines this has opened (loads, not acquisitions): for tests and diagnostics.
  int loads() const;

 private:
  const int parallel_;
  mutable std::mutex mu_;  // held through a load, so that concurrent callers share it
  std::string key_;        // the kept engine's options
  std::shared_ptr<LocalEngine> kept_;
  int loads_ = 0;
};

}  // namespace dsagent
