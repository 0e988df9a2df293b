#include "engine/server/request_watch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <vector>

namespace dsagent::engine::server {
namespace {

// The address and port of a socket address, or port -1.
std::pair<std::string, int> IpAndPort(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    return {buf, ntohs(v4->sin_port)};
  }
  if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    return {buf, ntohs(v6->sin6_port)};
  }
  return {"", -1};
}

}  // namespace

int FindConnectionSocket(const std::string& remote_ip, int remote_port, int local_port) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(e.path().filename().string());
    } catch (...) {
      continue;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (IpAndPort(peer) == std::pair{remote_ip, remote_port} &&
        IpAndPort(local).second == local_port) {
      return fd;
    }
  }
  return -1;
}

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

std::unique_ptr<RequestWatch::Entry> RequestWatch::Watch(const std::string& remote_ip,
                                                         int remote_port, int local_port,
                                                         double timeout_seconds) {
  const auto deadline = timeout_seconds > 0
                            ? std::chrono::steady_clock::now() +
                                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(timeout_seconds))
                            : std::chrono::steady_clock::time_point::max();
  std::unique_ptr<Entry> entry(
      new Entry(this, FindConnectionSocket(remote_ip, remote_port, local_port), deadline));
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
