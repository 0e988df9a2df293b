// OS sandbox for shell commands, with two backends:
//  - Landlock (Linux >= 5.13): confines writes to given directories (reads stay allowed
//    everywhere) and, with Landlock ABI >= 4, denies TCP connect/bind. The ruleset is built in the
//    parent; the forked child only calls ApplyInChild() before exec.
//  - bubblewrap (`bwrap`, tools/bubblewrap.h): runs the command in a mount namespace where `/` is
//    read-only and only the writable directories are bound read-write, with a private /dev and
//    /proc, its own PID namespace and, when the network is denied, no network at all. Needs
//    unprivileged user namespaces (often unavailable inside containers: the probe says so).
// `auto` picks Landlock when the kernel supports what the policy asks, else bubblewrap when it
// works here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent {

enum class SandboxBackend { kAuto, kLandlock, kBubblewrap };

// "auto", "landlock", "bubblewrap".
std::string SandboxBackendName(SandboxBackend backend);
std::optional<SandboxBackend> ParseSandboxBackend(std::string_view name);

struct SandboxPolicy {
  bool enabled = false;
  std::vector<std::filesystem::path> writable;  // directories (and files) writes are allowed in
  bool deny_network = false;                    // deny TCP connect and bind
  // A private temporary directory (also writable) that commands get as TMPDIR; empty = none.
  std::filesystem::path temp_dir;
  SandboxBackend backend = SandboxBackend::kAuto;
};

struct BubblewrapSupport {
  std::string path;      // the bwrap executable found on PATH; "" when not installed
  bool usable = false;   // a trial sandbox ran
  bool network = false;  // a trial sandbox with --unshare-net ran
  std::string problem;   // why not usable: "not installed (...)" or bwrap's own error line
};

struct SandboxSupport {
  int landlock_abi = 0;  // 0: unavailable (kernel, seccomp, or container policy)
  BubblewrapSupport bubblewrap;
  bool filesystem() const { return landlock_abi >= 1; }  // Landlock confines writes
  bool network() const { return landlock_abi >= 4; }     // Landlock can deny TCP
  // The backend Prepare() uses for `wanted` and `deny_network`. Error: one line saying what is
  // missing (for auto: both backends' reasons).
  Expected<SandboxBackend, std::string> Choose(SandboxBackend wanted, bool deny_network) const;
  // One line for `dsagent doctor` and notices: Landlock's state and bubblewrap's.
  std::string Describe() const;
  std::string DescribeLandlock() const;
  std::string DescribeBubblewrap() const;
};

// Landlock is probed on every call (a system call); bubblewrap once per process (it runs bwrap).
SandboxSupport ProbeSandbox();

// A sandbox ready to apply to one command. Movable; owns its Landlock file descriptor.
class PreparedSandbox {
 public:
  // Error: the chosen backend is unavailable, network denial is not supported by it, or a
  // writable path cannot be opened — each a one-line message a person can act on.
  static Expected<PreparedSandbox, std::string> Prepare(const SandboxPolicy& policy);
  PreparedSandbox(PreparedSandbox&& o) noexcept
      : fd_(o.fd_), backend_(o.backend_), wrapper_(std::move(o.wrapper_)) {
    o.fd_ = -1;
  }
  PreparedSandbox& operator=(PreparedSandbox&& o) noexcept;
  PreparedSandbox(const PreparedSandbox&) = delete;
  ~PreparedSandbox();

  SandboxBackend backend() const { return backend_; }  // kLandlock or kBubblewrap

  // For bubblewrap: the command line to put in front of the shell ("bwrap", options..., "--");
  // empty for Landlock.
  const std::vector<std::string>& wrapper_argv() const { return wrapper_; }

  // In the child between fork and exec: for Landlock, no_new_privs + landlock_restrict_self (only
  // raw system calls: async-signal-safe); nothing for bubblewrap. Returns false if the kernel
  // refused.
  bool ApplyInChild() const noexcept;

 private:
  PreparedSandbox(int fd, SandboxBackend backend, std::vector<std::string> wrapper)
      : fd_(fd), backend_(backend), wrapper_(std::move(wrapper)) {}
  int fd_ = -1;
  SandboxBackend backend_ = SandboxBackend::kLandlock;
  std::vector<std::string> wrapper_;
};

}  // namespace dsagent
