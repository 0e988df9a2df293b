#include "agent/core/run_deadline.h"

namespace dsagent {

RunDeadline::RunDeadline(CancelToken token, std::chrono::seconds after) {
  thread_ = std::thread([this, token, after] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, after, [this] { return stopped_; })) {
      fired_ = true;
      token.Cancel();
    }
  });
}

RunDeadline::~RunDeadline() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool RunDeadline::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

}  // namespace dsagent
