#include "engine/server/request_gate.h"

#include <algorithm>
#include <chrono>

namespace dsagent::engine::server {

RequestGate::RequestGate(int parallel, int max_waiting)
    : parallel_(std::max(1, parallel)), max_waiting_(std::max(0, max_waiting)) {}

RequestGate::Place::~Place() { Release(); }

void RequestGate::Place::Release() { gate_->Leave(*this); }

std::unique_ptr<RequestGate::Place> RequestGate::Enter() {
  std::lock_guard lock(mu_);
  const int64_t free_slots = std::max<int64_t>(0, parallel_ - running_);
  if (stopping_ || waiting_ >= max_waiting_ + free_slots) return nullptr;
  ++waiting_;
  return std::unique_ptr<Place>(new Place(this, next_++));
}

bool RequestGate::Wait(Place& place, const CancelToken& cancel, const std::function<void()>& tick) {
  std::unique_lock lock(mu_);
  if (place.admitted_) return true;
  if (place.left_) return false;
  while (true) {
    while (abandoned_.count(front_)) abandoned_.erase(front_++);
    if (stopping_ || cancel.IsCancelled()) return false;
    if (place.ticket_ == front_ && running_ < parallel_) {
      ++front_;
      ++running_;
      --waiting_;
      place.admitted_ = true;
      cv_.notify_all();
      return true;
    }
    if (cv_.wait_for(lock, std::chrono::seconds(1)) == std::cv_status::timeout && tick) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }
}

void RequestGate::Leave(Place& place) {
  std::lock_guard lock(mu_);
  if (place.left_) return;
  place.left_ = true;
  if (place.admitted_) {
    --running_;
  } else {
    --waiting_;
    if (place.ticket_ >= front_) abandoned_.insert(place.ticket_);
  }
  cv_.notify_all();
}

void RequestGate::Notify() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void RequestGate::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

void RequestGate::Counts(int64_t* running, int64_t* waiting) const {
  std::lock_guard lock(mu_);
  *running = running_;
  *waiting = waiting_;
}

}  // namespace dsagent::engine::server
