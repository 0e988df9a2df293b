// A live status line for `dsagent eval` on a terminal: the last line of stderr shows the run's
// counts, cost, elapsed time and ETA (evals::StatusLineText), redrawn every second so the clock
// moves while long tasks run; progress lines print above it. Off (lines only) when stderr is not
// a terminal, so logs and CI output stay one line per event. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "evals/runner.h"

namespace dsagent {

class EvalStatusLine {
 public:
  // `live`: draw the status line (normally isatty(stderr)).
  EvalStatusLine(std::FILE* out, bool live);
  ~EvalStatusLine();  // stops the redraws and clears the line
  EvalStatusLine(const EvalStatusLine&) = delete;
  EvalStatusLine& operator=(const EvalStatusLine&) = delete;

  void Line(const std::string& line);             // one progress line, above the status line
  void Update(const evals::EvalProgress& progress);  // new counts

 private:
  void DrawLocked();
  std::FILE* out_;
  const bool live_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool have_progress_ = false;
  evals::EvalProgress progress_;
  std::thread ticker_;
};

}  // namespace dsagent
