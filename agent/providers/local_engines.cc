#include "agent/providers/local_engines.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <sstream>

#include "engine/runtime/engine_runtime.h"

namespace dsagent {
namespace {

// The placement's lines (it ends with a newline), each told on its own.
void NoteLines(const std::string& text, const std::function<void(const std::string&)>& note) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) note(line);
  }
}

}  // namespace

std::string UploadProgressText(int64_t done, int64_t total, double seconds) {
  char text[96];
  if (done >= total) {
    std::snprintf(text, sizeof text, "weights to the GPU: all %lld blocks in %.1f s",
                  static_cast<long long>(total), seconds);
  } else {
    std::snprintf(text, sizeof text, "weights to the GPU: %lld of %lld blocks",
                  static_cast<long long>(done), static_cast<long long>(total));
  }
  return text;
}

LocalLoadNotices LocalLoadLines(std::function<void(const std::string& line)> line) {
  struct Upload {
    int64_t quarters = 0;  // quarters told
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  auto upload = std::make_shared<Upload>();
  auto progress = [upload, line](int64_t done, int64_t total) {
    if (total <= 0) return;
    if (done == 0) {  // the upload begins: its time counts from here
      upload->quarters = 0;
      upload->start = std::chrono::steady_clock::now();
      return;
    }
    const bool end = done >= total;
    if (!end && done * 4 / total <= upload->quarters) return;
    upload->quarters = done * 4 / total;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - upload->start;
    line(UploadProgressText(done, total, took.count()));
  };
  return {.upload_progress = std::move(progress), .note = std::move(line)};
}

LocalEngine::LocalEngine(std::unique_ptr<engine::EngineRuntime> r, int parallel)
    : runtime(std::move(r)), turns(parallel, std::numeric_limits<int>::max()) {}
LocalEngine::~LocalEngine() = default;

LocalEngines::LocalEngines(int parallel) : parallel_(std::max(1, parallel)) {}
LocalEngines::~LocalEngines() = default;

Expected<std::shared_ptr<LocalEngine>, std::string> LocalEngines::Acquire(
    const engine::EngineRuntimeOptions& options, const LocalLoadNotices& notices) {
  engine::EngineRuntimeOptions o = options;
  // Batches the decode steps of the turns that run at once.
  o.max_batch = std::max(o.max_batch, parallel_);
  std::lock_guard lock(mu_);
  std::string key = engine::RuntimeKey(o);
  if (kept_ && key == key_) return kept_;
  // Let the kept engine go first: when no session holds it, its memory is free for this load.
  kept_.reset();
  key_.clear();

  if (notices.upload_progress) o.upload_progress = notices.upload_progress;
  const auto start = std::chrono::steady_clock::now();
  auto runtime = engine::EngineRuntime::Open(o);
  if (!runtime) return MakeUnexpected(std::move(runtime.error()));
  ++loads_;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (notices.note) {
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", seconds);
    notices.note("local model " + options.model_dir.string() + " on " + options.device.Name() +
                 ", loaded in " + took + " s");
    NoteLines((*runtime)->placement(), notices.note);
  }
  kept_ = std::make_shared<LocalEngine>(std::move(*runtime), parallel_);
  key_ = std::move(key);
  return kept_;
}

int LocalEngines::loads() const {
  std::lock_guard lock(mu_);
  return loads_;
}

}  // namespace dsagent
