#include "agent/cli/eval_status_line.h"

namespace dsagent {

EvalStatusLine::EvalStatusLine(std::FILE* out, bool live) : out_(out), live_(live) {
  if (!live_) return;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      // A redraw, not synchronisation: the wait ends early only to stop.
      wake_.wait_for(lock, std::chrono::seconds(1));
      if (!stopping_) DrawLocked();
    }
  });
}

EvalStatusLine::~EvalStatusLine() {
  if (!live_) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    std::fputs("\r\033[K", out_);
    std::fflush(out_);
  }
  wake_.notify_all();
  ticker_.join();
}

void EvalStatusLine::Line(const std::string& line) {
  std::lock_guard lock(mu_);
  if (live_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s\n", line.c_str());
  if (live_) DrawLocked();
  std::fflush(out_);
}

void EvalStatusLine::Update(const evals::EvalProgress& progress) {
  std::lock_guard lock(mu_);
  progress_ = progress;
  have_progress_ = true;
  if (live_) DrawLocked();
}

void EvalStatusLine::DrawLocked() {
  if (!have_progress_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(out_, "\r\033[K%s", evals::StatusLineText(progress_, elapsed).c_str());
  std::fflush(out_);
}

}  // namespace dsagent
