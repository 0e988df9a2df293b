#include "engine/server/deadline_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace dsagent::engine::server {
namespace {

using DeadlineClock = std::chrono::steady_clock;

// Waits until `fd` has `events` or `deadline` passes; true when it has them (or an error/hangup
// that the next read or write will report).
bool PollUntil(int fd, short events, DeadlineClock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - DeadlineClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

void AddressOf(const sockaddr_storage& a, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    port = ntohs(v6->sin6_port);
  }
  ip = buf;
}

// One connection's socket, read through a small buffer (httplib's request-line reader asks for one
// byte at a time) against the deadline of the current phase.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, std::chrono::milliseconds write_timeout)
      : sock_(sock), write_timeout_(write_timeout) {}

  void SetDeadline(DeadlineClock::time_point deadline) { deadline_ = deadline; }
  // A read ran out of time (the connection must close: its request was never read whole).
  bool TimedOut() const { return timed_out_; }
  bool HasBuffered() const { return off_ < size_; }

  bool is_readable() const override {
    return HasBuffered() || PollUntil(sock_, POLLIN, deadline_);
  }
  bool is_writable() const override {
    return PollUntil(sock_, POLLOUT, DeadlineClock::now() + write_timeout_);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (!HasBuffered()) {
      if (!PollUntil(sock_, POLLIN, deadline_)) {
        timed_out_ = true;
        return -1;
      }
      ssize_t n;
      do {
        n = recv(sock_, buffer_, sizeof buffer_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      off_ = 0;
      size_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, size_ - off_);
    std::memcpy(ptr, buffer_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) AddressOf(a, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  socket_t sock_;
  std::chrono::milliseconds write_timeout_;
  DeadlineClock::time_point deadline_;
  bool timed_out_ = false;
  char buffer_[4096];
  size_t off_ = 0, size_ = 0;
};

// The stream (and the body allowance) of the request this worker thread is serving.
struct CurrentRequest {
  DeadlineStream* stream = nullptr;
  std::chrono::milliseconds body{0};
};
thread_local CurrentRequest current_request;

}  // namespace

socket_t DeadlineHttpServer::CurrentSocket() {
  return current_request.stream != nullptr ? current_request.stream->socket() : INVALID_SOCKET;
}

void DeadlineHttpServer::HeadersReceived() {
  if (current_request.stream != nullptr) {
    current_request.stream->SetDeadline(DeadlineClock::now() + current_request.body);
  }
}

bool DeadlineHttpServer::process_and_close_socket(socket_t sock) {
  DeadlineStream stream(sock, deadlines_.write);
  current_request = {&stream, deadlines_.body};
  bool ok = false;
  for (int served = 0; served < deadlines_.max_requests_per_connection; ++served) {
    if (svr_sock_ == INVALID_SOCKET) break;  // the server is stopping
    // The next request's first byte (it may already be buffered behind the previous request).
    if (!stream.HasBuffered() &&
        !PollUntil(sock, POLLIN, DeadlineClock::now() + deadlines_.idle)) {
      break;
    }
    stream.SetDeadline(DeadlineClock::now() + deadlines_.headers);
    bool closed = false;
    const bool last = served + 1 == deadlines_.max_requests_per_connection;
    ok = process_request(stream, last, closed, nullptr);
    // httplib answers a body that stopped short with 400 and would keep the connection open.
    if (!ok || closed || stream.TimedOut()) break;
  }
  current_request = {};
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace dsagent::engine::server
