#include "engine/server/request_watch.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace dsagent::engine::server {

bool PeerHasClosed(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return true;
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

RequestWatch::RequestWatch(std::function<void()> on_cancel)
    : on_cancel_(std::move(on_cancel)), thread_([this] { Run(); }) {}

RequestWatch::~RequestWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

RequestWatch::Entry::~Entry() {
  std::lock_guard lock(watch_->mu_);
  watch_->entries_.erase(this);
}

void RequestWatch::Entry::Cancel(Reason why) {
  Reason none = Reason::kNone;
  reason_.compare_exchange_strong(none, why);
  cancel_.Cancel();
}

std::unique_ptr<RequestWatch::Entry> RequestWatch::Watch(int socket, double timeout_seconds) {
  const auto deadline = timeout_seconds > 0
                            ? std::chrono::steady_clock::now() +
                                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(timeout_seconds))
                            : std::chrono::steady_clock::time_point::max();
  std::unique_ptr<Entry> entry(new Entry(this, socket, deadline));
  std::lock_guard lock(mu_);
  if (shutdown_) entry->Cancel(Reason::kShutdown);
  entries_.insert(entry.get());
  return entry;
}

void RequestWatch::CancelAll() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    for (Entry* e : entries_) e->Cancel(Reason::kShutdown);
  }
  if (on_cancel_) on_cancel_();
}

void RequestWatch::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    const auto now = std::chrono::steady_clock::now();
    bool cancelled = false;
    for (Entry* e : entries_) {
      if (e->cancel_.IsCancelled()) continue;
      if (now >= e->deadline_) {
        e->Cancel(Reason::kTimeout);
        cancelled = true;
      } else if (e->socket_ >= 0 && PeerHasClosed(e->socket_)) {
        e->Cancel(Reason::kClientGone);
        cancelled = true;
      }
    }
    if (cancelled && on_cancel_) {
      lock.unlock();
      on_cancel_();
      lock.lock();
    }
  }
}

}  // namespace dsagent::engine::server
