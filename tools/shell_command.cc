#include "tools/shell_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <cstring>

#include "tools/env_block.h"
#include "tools/head_tail_buffer.h"
#include "tools/pidfd.h"
#include "tools/process_group_guard.h"

namespace dsagent {
namespace bp = boost::process;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// How long processes get between SIGTERM and SIGKILL.
constexpr milliseconds kTerminateGrace{500};
// After the shell exits, how long its output may stay open before we conclude that background
// processes are holding it.
constexpr milliseconds kDrainGrace{200};
// After SIGKILL, how long to keep reading: a process that left the group (setsid) may still hold
// the pipe, and we must not wait for it.
constexpr milliseconds kAbandonAfterKill{1000};
// Exit status of the child when it cannot enter the working directory (as the shell's "cannot
// execute" status).
constexpr int kChdirFailedStatus = 126;
constexpr int kSandboxFailedStatus = 125;  // the kernel refused the Landlock ruleset
constexpr int kParentGoneStatus = 137;     // as if killed by SIGKILL: dsagent died while forking
// Poll granularity: how quickly cancellation is noticed (it has no file descriptor).
constexpr milliseconds kPollInterval{50};

// True once `pid` has exited; leaves it a zombie (WNOWAIT) so that its pid, and so the process
// group id, cannot be reused while we may still signal the group.
bool HasExited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // ECHILD: nothing left to wait for
  }
  return info.si_pid == pid;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return status;
}

}  // namespace

Expected<ShellOutcome, std::string> RunShellCommand(const std::string& command,
                                                    const ShellOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.cwd, ec)) {
    return MakeUnexpected("working directory " + options.cwd.string() + " does not exist");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return MakeUnexpected(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  // Both ends close on exec; the child's copies on fds 1 and 2 (made by dup2) stay open.
  bp::pipe pipe(fds[0], fds[1]);
  // Boost's start_dir ignores a failed chdir, which would run the command in the wrong place;
  // the child changes directory itself and gives up if it cannot.
  const std::string cwd = options.cwd.string();
  const char* cwd_cstr = cwd.c_str();
  const PreparedSandbox* sandbox = options.sandbox;
  std::error_code launch_error;
  EnvMap vars = options.environment ? *options.environment : DefaultChildEnvironment();
  for (const auto& [name, value] : options.extra_env) vars[name] = value;
  EnvBlock env(vars);
  char** envp = env.envp();
  // A bubblewrap sandbox wraps the shell: bwrap OPTIONS... -- /bin/bash -c COMMAND.
  std::string exe = "/bin/bash";
  std::vector<std::string> args = {"-c", command};
  if (sandbox != nullptr && !sandbox->wrapper_argv().empty()) {
    const auto& wrapper = sandbox->wrapper_argv();
    exe = wrapper[0];
    args.assign(wrapper.begin() + 1, wrapper.end());
    args.insert(args.end(), {"/bin/bash", "-c", command});
  }
  const pid_t parent = ::getpid();
  const int guard_socket = ProcessGroupGuardSocket();
  bp::child child(
      bp::exe = exe, bp::args = args, bp::std_in = bp::null, (bp::std_out & bp::std_err) = pipe,
      bp::extend::on_exec_setup =
          [cwd_cstr, sandbox, parent, envp, guard_socket](auto& exec) {
            exec.env = envp;  // the environment execve gets (tools/env_block.h)
            ::setpgid(0, 0);
            // Registered before the command runs: whatever it starts dies with dsagent.
            GuardOwnGroupInChild(guard_socket);
            // Belt and braces where no watcher could be started: the shell itself dies with
            // dsagent. The signal fires when the forking thread ends; that is this thread,
            // which waits for the command before it returns.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(kParentGoneStatus);
            if (::chdir(cwd_cstr) != 0) ::_exit(kChdirFailedStatus);
            if (sandbox != nullptr && !sandbox->ApplyInChild()) ::_exit(kSandboxFailedStatus);
          },
      launch_error);
  if (launch_error || !child.valid()) {
    return MakeUnexpected("cannot start " + exe + ": " + launch_error.message());
  }
  const pid_t pid = child.id();
  ::setpgid(pid, pid);  // also from here, so the group exists before we might signal it
  // Recorded here too, for a watcher restarted later (see tools/process_group_guard.h).
  GuardProcessGroup(pid);
  const FdCloser pidfd(OpenPidFd(pid));
  const int out_fd = pipe.native_source();

  ShellOutcome outcome;
  HeadTailBuffer output(options.output_cap_bytes);
  enum class Phase { kRunning, kDraining, kTerminating, kKilled } phase = Phase::kRunning;
  const Clock::time_point deadline = Clock::now() + options.timeout;
  Clock::time_point phase_deadline = Clock::time_point::max();
  bool eof = false;
  bool exited = false;
  char buf[65536];

  const auto start_terminating = [&](Clock::time_point now) {
    ::kill(-pid, SIGTERM);
    phase = Phase::kTerminating;
    phase_deadline = now + kTerminateGrace;
  };

  while (!(eof && exited)) {
    const Clock::time_point now = Clock::now();
    if (!exited) exited = HasExited(pid);
    if (phase == Phase::kRunning) {
      if (options.cancel.IsCancelled()) {
        outcome.interrupted = true;
        start_terminating(now);
      } else if (now >= deadline) {
        outcome.timed_out = true;
        start_terminating(now);
      } else if (exited) {
        phase = Phase::kDraining;
        phase_deadline = now + kDrainGrace;
      }
    } else if (phase == Phase::kDraining && now >= phase_deadline) {
      outcome.stopped_background = true;
      start_terminating(now);
    } else if (phase == Phase::kTerminating && (now >= phase_deadline || (eof && exited))) {
      ::kill(-pid, SIGKILL);
      phase = Phase::kKilled;
      phase_deadline = now + kAbandonAfterKill;
    } else if (phase == Phase::kKilled && now >= phase_deadline && exited) {
      break;  // something outside the group holds the pipe; stop waiting for it
    }
    if (eof && exited) break;

    pollfd pfds[2];
    nfds_t n = 0;
    if (!eof) pfds[n++] = {out_fd, POLLIN, 0};
    if (!exited && pidfd.get() >= 0) pfds[n++] = {pidfd.get(), POLLIN, 0};
    const Clock::duration until_next =
        std::max(std::min(deadline, phase_deadline) - now, Clock::duration::zero());
    const milliseconds wait = std::min(
        kPollInterval, std::chrono::duration_cast<milliseconds>(until_next) + milliseconds(1));
    if (::poll(pfds, n, static_cast<int>(wait.count())) < 0 && errno != EINTR) break;
    if (!eof && (pfds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = ::read(out_fd, buf, sizeof buf);
      if (got > 0) {
        output.Append(std::string_view(buf, static_cast<size_t>(got)));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        eof = true;
      }
    }
  }
  // A timed-out or interrupted command whose shell died on SIGTERM may still have members that
  // ignore it; the group id is still reserved by the unreaped shell, so this reaches only them.
  if (phase == Phase::kTerminating) ::kill(-pid, SIGKILL);

  // Before reaping: once reaped, the group id may be reused by an unrelated process.
  ReleaseProcessGroup(pid);
  std::error_code wait_error;
  child.wait(wait_error);
  outcome.exit_code = DecodeStatus(child.native_exit_code());
  outcome.output_bytes = output.total_bytes();
  outcome.output = output.Finish();
  return outcome;
}

}  // namespace dsagent
