#include "tools/mcp/stdio_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <cstring>

#include "tools/env_block.h"
#include "tools/pidfd.h"
#include "tools/process_group_guard.h"

namespace dsagent {
namespace bp = boost::process;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr int kChdirFailedStatus = 126;
constexpr int kSandboxFailedStatus = 125;
// How often Receive wakes to notice cancellation (a CancelToken has no file descriptor).
constexpr milliseconds kPollInterval{50};
// Close(): how long the server gets to exit after its stdin closes, and after SIGTERM.
constexpr milliseconds kExitGrace{1000};
constexpr milliseconds kTerminateGrace{1000};
// A line longer than this is not a message we can use; the connection is dropped.
constexpr size_t kMaxLineBytes = 64 * 1024 * 1024;

// `command` itself when it contains a slash, else the first executable PATH entry.
std::string FindExecutable(const std::string& command, const EnvMap& env) {
  if (command.find('/') != std::string::npos) {
    return ::access(command.c_str(), X_OK) == 0 ? command : "";
  }
  auto it = env.find("PATH");
  const std::string path = it != env.end() ? it->second : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t colon = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, colon - start);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + command;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    start = colon + 1;
  }
  return "";
}

milliseconds Until(McpClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - McpClock::now());
  return std::clamp(left, milliseconds(0), kPollInterval);
}

// Writing to a pipe whose reader has gone raises SIGPIPE, which would end dsagent. Blocks it in
// this thread for the write, then consumes a SIGPIPE the write left pending.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_);
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_set_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

}  // namespace

Expected<std::unique_ptr<StdioTransport>, std::string> StdioTransport::Start(
    const StdioServerOptions& options) {
  const std::string exe = FindExecutable(options.command, options.environment);
  if (exe.empty()) {
    return MakeUnexpected("command '" + options.command + "' not found" +
                          (options.command.find('/') == std::string::npos
                               ? " on the server's PATH"
                               : " or not executable"));
  }
  std::error_code ec;
  if (!fs::is_directory(options.cwd, ec)) {
    return MakeUnexpected("working directory " + options.cwd.string() + " does not exist");
  }
  int log_fd = -1;
  if (!options.stderr_log.empty()) {
    fs::create_directories(options.stderr_log.parent_path(), ec);
    log_fd = ::open(options.stderr_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  } else {
    log_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  if (log_fd < 0) {
    return MakeUnexpected("cannot open the server log " + options.stderr_log.string() + ": " +
                          std::strerror(errno));
  }
  std::optional<PreparedSandbox> sandbox;
  if (options.sandbox && options.sandbox->enabled) {
    auto prepared = PreparedSandbox::Prepare(*options.sandbox);
    if (!prepared) {
      ::close(log_fd);
      return MakeUnexpected("sandbox: " + prepared.error() +
                            " (set `sandbox: false` on the server to run it unconfined)");
    }
    sandbox.emplace(std::move(*prepared));
  }
  int in_fds[2], out_fds[2];
  if (::pipe2(in_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    return MakeUnexpected(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  if (::pipe2(out_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    ::close(in_fds[0]);
    ::close(in_fds[1]);
    return MakeUnexpected(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  bp::pipe in_pipe(in_fds[0], in_fds[1]);
  bp::pipe out_pipe(out_fds[0], out_fds[1]);

  std::string program = exe;
  std::vector<std::string> args = options.args;
  if (sandbox && !sandbox->wrapper_argv().empty()) {
    const auto& wrapper = sandbox->wrapper_argv();
    program = wrapper[0];
    std::vector<std::string> wrapped(wrapper.begin() + 1, wrapper.end());
    wrapped.push_back(exe);
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    args = std::move(wrapped);
  }
  EnvBlock env(options.environment);
  char** envp = env.envp();
  const std::string cwd = options.cwd.string();
  const char* cwd_cstr = cwd.c_str();
  const PreparedSandbox* sandbox_ptr = sandbox ? &*sandbox : nullptr;
  std::error_code launch_error;
  const int guard_socket = ProcessGroupGuardSocket();
  bp::child child(
      bp::exe = program, bp::args = args, bp::std_in = in_pipe, bp::std_out = out_pipe,
      bp::extend::on_exec_setup =
          [cwd_cstr, sandbox_ptr, log_fd, envp, guard_socket](auto& exec) {
            exec.env = envp;  // the environment execve gets (tools/env_block.h)
            ::setpgid(0, 0);
            GuardOwnGroupInChild(guard_socket);  // dies with dsagent from the start
            ::dup2(log_fd, STDERR_FILENO);
            if (::chdir(cwd_cstr) != 0) ::_exit(kChdirFailedStatus);
            if (sandbox_ptr != nullptr && !sandbox_ptr->ApplyInChild()) {
              ::_exit(kSandboxFailedStatus);
            }
          },
      launch_error);
  ::close(log_fd);
  if (launch_error || !child.valid()) {
    return MakeUnexpected("cannot start " + program + ": " + launch_error.message());
  }
  child.detach();  // this class waits for it (waitpid), not Boost
  std::unique_ptr<StdioTransport> t(new StdioTransport());
  t->pid_ = child.id();
  ::setpgid(t->pid_, t->pid_);
  GuardProcessGroup(t->pid_);  // the server and its helpers die with dsagent, even on kill -9
  t->pidfd_ = OpenPidFd(t->pid_);
  // Keep only our ends: the child's copies are on its fds 0 and 1.
  t->stdin_fd_ = ::dup(in_pipe.native_sink());
  t->stdout_fd_ = ::dup(out_pipe.native_source());
  in_pipe.close();
  out_pipe.close();
  ::fcntl(t->stdin_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(t->stdout_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(t->stdout_fd_, F_SETFL, ::fcntl(t->stdout_fd_, F_GETFL) | O_NONBLOCK);
  t->label_ = options.command;
  t->stderr_log_ = options.stderr_log;
  return t;
}

StdioTransport::~StdioTransport() { Close(); }

Expected<Ok, std::string> StdioTransport::Send(const Json& message, McpClock::time_point deadline,
                                               const CancelToken& cancel) {
  (void)deadline;  // a pipe write of one message does not wait on the server's work
  (void)cancel;
  if (stdin_fd_ < 0) return MakeUnexpected("the server " + label_ + " is not running");
  const std::string line = CanonicalJson(message) + "\n";
  SigpipeBlock block;
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(stdin_fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return MakeUnexpected("cannot write to the server: " + ExitDescription());
    done += static_cast<size_t>(n);
  }
  return Ok{};
}

Expected<std::optional<Json>, std::string> StdioTransport::Receive(McpClock::time_point deadline,
                                                                   const CancelToken& cancel) {
  while (true) {
    // Complete lines first; blank and non-JSON lines are skipped (a server must not print
    // anything else on stdout, but some do).
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos;) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json message = Json::parse(line, nullptr, false);
      if (!message.is_discarded()) return std::optional<Json>(std::move(message));
    }
    if (pending_.size() > kMaxLineBytes) {
      return MakeUnexpected("the server sent a line over 64 MiB; giving up on it");
    }
    if (stdout_fd_ < 0) return MakeUnexpected("the server " + label_ + " is not running");
    if (cancel.IsCancelled() || McpClock::now() >= deadline) return std::optional<Json>();
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(Until(deadline).count()));
    if (ready < 0 && errno != EINTR) return MakeUnexpected("poll: " + std::string(strerror(errno)));
    if (ready <= 0) continue;
    char buf[65536];
    const ssize_t got = ::read(stdout_fd_, buf, sizeof buf);
    if (got > 0) {
      pending_.append(buf, static_cast<size_t>(got));
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      return MakeUnexpected("the server closed its output: " + ExitDescription());
    }
  }
}

std::string StdioTransport::ExitDescription() {
  if (!reaped_ && pid_ > 0) {
    // The pipe broke; the process normally follows within moments. Wait for it briefly so the
    // message can say how it ended.
    if (pidfd_ >= 0) {
      pollfd pfd{pidfd_, POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(kExitGrace.count()));
    }
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid_) {
      ReleaseProcessGroup(pid_);  // before reaping, which frees the group id for reuse
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) exit_status_ = status;
      reaped_ = true;
    }
  }
  std::string how = label_ + " is still running";
  if (reaped_) {
    if (WIFEXITED(exit_status_)) {
      how = label_ + " exited with status " + std::to_string(WEXITSTATUS(exit_status_));
    } else if (WIFSIGNALED(exit_status_)) {
      how = label_ + " was killed by signal " + std::to_string(WTERMSIG(exit_status_));
    }
  }
  if (!stderr_log_.empty()) how += " (its stderr: " + stderr_log_.string() + ")";
  return how;
}

void StdioTransport::Close() {
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
  if (pid_ > 0 && !reaped_) {
    // The MCP shutdown sequence for stdio: close stdin, wait, SIGTERM, wait, SIGKILL.
    // Waits leave the exited server a zombie (WNOWAIT), so its pid, and so its process group id,
    // cannot be reused before the group is signalled below.
    const auto wait_exit = [&](milliseconds grace) {
      const auto until = McpClock::now() + grace;
      while (true) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid == pid_) {
          return true;
        }
        if (McpClock::now() >= until) return false;
        pollfd pfd{pidfd_, POLLIN, 0};
        ::poll(pidfd_ >= 0 ? &pfd : nullptr, pidfd_ >= 0 ? 1 : 0,
               static_cast<int>(Until(until).count()) + 1);
      }
    };
    if (!wait_exit(kExitGrace)) {
      ::kill(-pid_, SIGTERM);
      if (!wait_exit(kTerminateGrace)) ::kill(-pid_, SIGKILL);
    }
    // Helpers the server started in its group would otherwise outlive the session.
    ::kill(-pid_, SIGKILL);
    ReleaseProcessGroup(pid_);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) exit_status_ = status;
    reaped_ = true;
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
  if (pidfd_ >= 0) {
    ::close(pidfd_);
    pidfd_ = -1;
  }
}

}  // namespace dsagent
