#include "tools/sandbox.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace dsagent {
namespace {

// Debian 12's kernel headers predate Landlock ABI 3 and 4; the values are the kernel's UAPI.
constexpr uint64_t kFsTruncate = 1ULL << 14;    // ABI 3
constexpr uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4

// struct landlock_ruleset_attr as of ABI 4 (handled_access_net appended).
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
};

int Abi() {
  const long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

uint64_t WriteAccess(int abi) {
  uint64_t a = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
               LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
               LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
               LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
               LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) a |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) a |= kFsTruncate;
  return a;
}

}  // namespace

std::string SandboxSupport::Describe() const {
  if (!filesystem()) {
    return "no OS sandbox: Landlock is not available on this kernel; shell commands can write "
           "anywhere this user can";
  }
  return "Landlock ABI " + std::to_string(landlock_abi) + ": writes confined to the workspace" +
         (network() ? "; TCP can be denied" : "; network denial needs Landlock ABI 4 (Linux 6.7)");
}

SandboxSupport ProbeSandbox() { return SandboxSupport{Abi()}; }

Expected<PreparedSandbox, std::string> PreparedSandbox::Prepare(const SandboxPolicy& policy) {
  const int abi = Abi();
  if (abi < 1) return MakeUnexpected(SandboxSupport{abi}.Describe());
  if (policy.deny_network && abi < 4) {
    return MakeUnexpected("network denial needs Landlock ABI 4 (Linux 6.7); this kernel has " +
                          std::to_string(abi));
  }
  RulesetAttr attr{WriteAccess(abi), policy.deny_network ? (kNetBindTcp | kNetConnectTcp) : 0};
  const size_t attr_size = abi >= 4 ? sizeof(RulesetAttr) : sizeof(uint64_t);
  const int fd = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0));
  if (fd < 0)
    return MakeUnexpected(std::string("landlock_create_ruleset: ") + std::strerror(errno));
  PreparedSandbox prepared(fd);

  std::vector<std::filesystem::path> paths = policy.writable;
  paths.push_back("/dev/null");  // commands redirect there all the time
  if (!policy.temp_dir.empty()) paths.push_back(policy.temp_dir);
  for (const auto& p : paths) {
    const int pfd = ::open(p.c_str(), O_PATH | O_CLOEXEC);
    if (pfd < 0) {
      return MakeUnexpected("sandbox: cannot open " + p.string() + ": " + std::strerror(errno));
    }
    struct landlock_path_beneath_attr rule {};
    rule.parent_fd = pfd;
    const bool dir = std::filesystem::is_directory(p);
    // File rules may only carry file rights.
    rule.allowed_access =
        dir ? WriteAccess(abi) : (LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? kFsTruncate : 0));
    const long rc = syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    const int saved = errno;
    ::close(pfd);
    if (rc != 0) {
      return MakeUnexpected("sandbox: cannot allow " + p.string() + ": " + std::strerror(saved));
    }
  }
  return prepared;
}

PreparedSandbox& PreparedSandbox::operator=(PreparedSandbox&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

PreparedSandbox::~PreparedSandbox() {
  if (fd_ >= 0) ::close(fd_);
}

bool PreparedSandbox::ApplyInChild() const noexcept {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_landlock_restrict_self, fd_, 0) == 0;
}

}  // namespace dsagent
