#include "engine/kv/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dsagent::engine::kv {

Expected<StoreLock, std::string> StoreLock::Acquire(const std::filesystem::path& dir) {
  const auto path = dir / ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return MakeUnexpected(path.string() + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string e = path.string() + ": flock: " + std::strerror(errno);
    ::close(fd);
    return MakeUnexpected(e);
  }
  return StoreLock(fd);
}

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace dsagent::engine::kv
