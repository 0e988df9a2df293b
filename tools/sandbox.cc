#include "tools/sandbox.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "common/name_table.h"
#include "tools/bubblewrap.h"

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

namespace {
constexpr EnumName<SandboxBackend> kBackendNames[] = {{SandboxBackend::kAuto, "auto"},
                                                      {SandboxBackend::kLandlock, "landlock"},
                                                      {SandboxBackend::kBubblewrap, "bubblewrap"}};
}  // namespace

std::string SandboxBackendName(SandboxBackend backend) {
  return std::string(NameOf(kBackendNames, backend));
}

std::optional<SandboxBackend> ParseSandboxBackend(std::string_view name) {
  return ValueNamed(kBackendNames, name);
}

std::string SandboxSupport::DescribeLandlock() const {
  if (!filesystem()) {
    return "Landlock is not available on this kernel";
  }
  return "Landlock ABI " + std::to_string(landlock_abi) + ": writes confined to the workspace" +
         (network() ? "; TCP can be denied" : "; network denial needs Landlock ABI 4 (Linux 6.7)");
}

std::string SandboxSupport::DescribeBubblewrap() const {
  if (!bubblewrap.usable) return "bubblewrap " + bubblewrap.problem;
  return "bubblewrap " + bubblewrap.path + " works" +
         (bubblewrap.network ? " (network can be denied)" : " (but not with --unshare-net)");
}

std::string SandboxSupport::Describe() const {
  if (!filesystem() && !bubblewrap.usable) {
    return "no OS sandbox: " + DescribeLandlock() + " and " + DescribeBubblewrap() +
           "; shell commands can write anywhere this user can";
  }
  return DescribeLandlock() + "; " + DescribeBubblewrap();
}

Expected<SandboxBackend, std::string> SandboxSupport::Choose(SandboxBackend wanted,
                                                             bool deny_network) const {
  std::string landlock_problem;
  if (!filesystem()) {
    landlock_problem = DescribeLandlock();
  } else if (deny_network && !network()) {
    landlock_problem = "network denial needs Landlock ABI 4 (Linux 6.7); this kernel has " +
                       std::to_string(landlock_abi);
  }
  std::string bwrap_problem;
  if (!bubblewrap.usable) {
    bwrap_problem = DescribeBubblewrap();
  } else if (deny_network && !bubblewrap.network) {
    bwrap_problem = "bubblewrap cannot deny the network here (--unshare-net fails)";
  }
  switch (wanted) {
    case SandboxBackend::kLandlock:
      if (!landlock_problem.empty()) return MakeUnexpected(landlock_problem);
      return SandboxBackend::kLandlock;
    case SandboxBackend::kBubblewrap:
      if (!bwrap_problem.empty()) return MakeUnexpected(bwrap_problem);
      return SandboxBackend::kBubblewrap;
    case SandboxBackend::kAuto:
      break;
  }
  if (landlock_problem.empty()) return SandboxBackend::kLandlock;
  if (bwrap_problem.empty()) return SandboxBackend::kBubblewrap;
  return MakeUnexpected("no OS sandbox: " + landlock_problem + "; " + bwrap_problem);
}

SandboxSupport ProbeSandbox() {
  static std::once_flag once;
  static BubblewrapSupport* bwrap = nullptr;
  std::call_once(once, [] { bwrap = new BubblewrapSupport(ProbeBubblewrap()); });
  return SandboxSupport{Abi(), *bwrap};
}

Expected<PreparedSandbox, std::string> PreparedSandbox::Prepare(const SandboxPolicy& policy) {
  const SandboxSupport support = ProbeSandbox();
  auto backend = support.Choose(policy.backend, policy.deny_network);
  if (!backend) return MakeUnexpected(backend.error());
  std::vector<std::filesystem::path> paths = policy.writable;
  if (!policy.temp_dir.empty()) paths.push_back(policy.temp_dir);
  if (*backend == SandboxBackend::kBubblewrap) {
    for (const auto& p : paths) {
      std::error_code ec;
      if (!std::filesystem::exists(p, ec)) {
        return MakeUnexpected("sandbox: cannot bind " + p.string() + ": it does not exist");
      }
    }
    return PreparedSandbox(-1, SandboxBackend::kBubblewrap,
                           BubblewrapArgv(policy, support.bubblewrap.path));
  }

  const int abi = support.landlock_abi;
  RulesetAttr attr{WriteAccess(abi), policy.deny_network ? (kNetBindTcp | kNetConnectTcp) : 0};
  const size_t attr_size = abi >= 4 ? sizeof(RulesetAttr) : sizeof(uint64_t);
  const int fd = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0));
  if (fd < 0)
    return MakeUnexpected(std::string("landlock_create_ruleset: ") + std::strerror(errno));
  PreparedSandbox prepared(fd, SandboxBackend::kLandlock, {});

  paths.push_back("/dev/null");  // commands redirect there all the time
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
    backend_ = o.backend_;
    wrapper_ = std::move(o.wrapper_);
    o.fd_ = -1;
  }
  return *this;
}

PreparedSandbox::~PreparedSandbox() {
  if (fd_ >= 0) ::close(fd_);
}

bool PreparedSandbox::ApplyInChild() const noexcept {
  if (fd_ < 0) return true;  // bubblewrap: the wrapper does the confining
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_landlock_restrict_self, fd_, 0) == 0;
}

}  // namespace dsagent
