// OS sandbox for shell commands: Landlock (Linux >= 5.13) confines writes to given directories
// (reads stay allowed everywhere) and, with Landlock ABI >= 4, denies TCP connect/bind. The ruleset
// is built in the parent; the forked child only calls ApplyInChild() before exec.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent {

struct SandboxPolicy {
  bool enabled = false;
  std::vector<std::filesystem::path> writable;  // directories (and files) writes are allowed in
  bool deny_network = false;                    // deny TCP connect and bind
  // A private temporary directory (also writable) that commands get as TMPDIR; empty = none.
  std::filesystem::path temp_dir;
};

struct SandboxSupport {
  int landlock_abi = 0;  // 0: unavailable (kernel, seccomp, or container policy)
  bool filesystem() const { return landlock_abi >= 1; }
  bool network() const { return landlock_abi >= 4; }
  std::string Describe() const;  // one line for `dsagent doctor` and notices
};

SandboxSupport ProbeSandbox();

// A prepared Landlock ruleset. Movable, owns its file descriptor.
class PreparedSandbox {
 public:
  // Error: Landlock unavailable, network denial requested on a kernel without it, or a writable
  // path that cannot be opened — each a one-line message a person can act on.
  static Expected<PreparedSandbox, std::string> Prepare(const SandboxPolicy& policy);
  PreparedSandbox(PreparedSandbox&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  PreparedSandbox& operator=(PreparedSandbox&& o) noexcept;
  PreparedSandbox(const PreparedSandbox&) = delete;
  ~PreparedSandbox();

  // In the child between fork and exec: no_new_privs + landlock_restrict_self. Only raw system
  // calls (async-signal-safe). Returns false if the kernel refused.
  bool ApplyInChild() const noexcept;

 private:
  explicit PreparedSandbox(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace dsagent
