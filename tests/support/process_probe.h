// Watching processes that are not the test's children (e.g. what a killed dsagent had started):
// whether one still runs, and waiting, with a bound, for one to end or for a file to appear.
// Header-only; Linux (/proc, pidfd_open).
#pragma once

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace dsagent::testing {

// True while `pid` is a live process. A zombie counts as gone: it has stopped running and only
// waits for its parent (possibly a container init that never reaps) to collect it.
inline bool ProcessAlive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// True when `pid` has ended or ends within `limit`. Waits on a pidfd (readable once the process
// has exited, for any process, not only children); where pidfd_open is missing, polls /proc.
inline bool ProcessEndsWithin(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0 && errno == ESRCH) return true;
  while (ProcessAlive(pid)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      // Bounded slices: a zombie (exited, never reaped) is "gone" for ProcessAlive too.
      ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100)));
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(20)));
    }
  }
  if (fd >= 0) ::close(fd);
  return !ProcessAlive(pid);
}

// Waits until `path` exists, checking every 10 ms, for at most `limit`. True if it appeared.
inline bool FileAppearsWithin(const std::filesystem::path& path, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::error_code ec;
  while (!std::filesystem::exists(path, ec)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace dsagent::testing
