// StoreLock: an exclusive flock on <dir>/.lock, held for its lifetime. Serialises the prefix
// store's writers and eviction across processes (flock locks are per open file description, so
// two threads of one process each opening their own StoreLock also exclude each other).
#pragma once

#include <filesystem>
#include <string>

#include "common/expected.h"

namespace dsagent::engine::kv {

class StoreLock {
 public:
  // Blocks until the lock is held. Error: the lock file cannot be created or locked.
  static Expected<StoreLock, std::string> Acquire(const std::filesystem::path& dir);
  StoreLock(StoreLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StoreLock& operator=(StoreLock&&) = delete;
  StoreLock(const StoreLock&) = delete;
  ~StoreLock();

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace dsagent::engine::kv
