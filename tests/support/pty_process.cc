#include "tests/support/pty_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace dsagent::testing {
namespace {
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Left(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}
}  // namespace

PtyProcess::PtyProcess(const std::string& program, const Options& options) {
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::vector<std::string> argv_store = {program};
  argv_store.insert(argv_store.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (const auto& [k, v] : options.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string cwd = options.cwd.string();

  winsize ws{};
  ws.ws_row = options.rows;
  ws.ws_col = options.cols;
  pid_ = forkpty(&master_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) {
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  fcntl(master_, F_SETFD, FD_CLOEXEC);
}

PtyProcess::~PtyProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

void PtyProcess::Write(std::string_view keys) {
  size_t off = 0;
  while (off < keys.size()) {
    const ssize_t n = write(master_, keys.data() + off, keys.size() - off);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

bool PtyProcess::ReadSome(std::chrono::milliseconds timeout) {
  if (closed_) return false;
  pollfd p{master_, POLLIN, 0};
  const int r = poll(&p, 1, static_cast<int>(timeout.count()));
  if (r <= 0) return true;  // nothing yet (or EINTR)
  char buf[4096];
  const ssize_t n = read(master_, buf, sizeof buf);
  if (n > 0) {
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  closed_ = true;  // EIO: the child side is closed (the child exited)
  return false;
}

bool PtyProcess::WaitFor(std::string_view text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (const size_t at = output_.find(text, cursor_); at != std::string::npos) {
      cursor_ = at + text.size();
      return true;
    }
    if (Left(deadline).count() == 0) return false;
    if (!ReadSome(std::min(Left(deadline), std::chrono::milliseconds(200))) && closed_) {
      // Drained: one last look, then give up.
      const size_t at = output_.find(text, cursor_);
      if (at == std::string::npos) return false;
      cursor_ = at + text.size();
      return true;
    }
  }
}

int PtyProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!exited_) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Left(deadline).count() == 0) return -1;
    if (!ReadSome(std::min(Left(deadline), std::chrono::milliseconds(50)))) {
      usleep(10000);  // terminal closed; the child is exiting
    }
  }
  while (!closed_) {  // drain what is left
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) break;
    ReadSome(std::chrono::milliseconds(0));
  }
  return exit_code_;
}

std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0x1b) {
      out += "\\e";
    } else if (u < 0x20 && c != '\n') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace dsagent::testing
