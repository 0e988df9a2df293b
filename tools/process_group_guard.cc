#include "tools/process_group_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>
#include <string>

namespace dsagent {
namespace {

// The watcher: bash builtins only, so it forks nothing per line. It ignores the terminal's
// signals (it is in a process group of its own, but a user's `kill -INT -- -PGID` aimed at
// dsagent's group must not disarm it); SIGTERM still ends it.
constexpr const char* kWatcherScript = R"(trap '' INT QUIT HUP
declare -A groups
while IFS= read -r line; do
  case $line in
    +*) groups[${line:1}]=1 ;;
    -*) unset "groups[${line:1}]" ;;
  esac
done
for g in "${!groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
)";

struct Watcher {
  std::mutex mu;
  pid_t owner = -1;  // the process that started it (a forked child starts its own)
  pid_t pid = -1;
  int fd = -1;             // our end of the socket, close on exec
  std::set<pid_t> groups;  // registered, replayed to a restarted watcher
};

Watcher& State() {
  static Watcher* watcher = new Watcher;  // never destroyed: guards until the process is gone
  return *watcher;
}

bool SendLocked(Watcher& w, char op, pid_t pgid) {
  const std::string line = op + std::to_string(pgid) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    // MSG_NOSIGNAL: a watcher that died gives EPIPE here, not a SIGPIPE that kills dsagent.
    const ssize_t n = ::send(w.fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void ForgetLocked(Watcher& w) {
  if (w.fd >= 0) ::close(w.fd);
  // Ours to reap only if we started it; a watcher inherited through fork is the parent's.
  if (w.pid > 0 && w.owner == ::getpid()) ::waitpid(w.pid, nullptr, WNOHANG);
  w.fd = -1;
  w.pid = -1;
}

bool StartLocked(Watcher& w) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sv[1], STDIN_FILENO);  // dup2 clears close-on-exec
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: our groups' signals do not reach it
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char arg0[] = "dsagent-group-watcher";
  char norc[] = "--norc";
  char noprofile[] = "--noprofile";
  char dash_c[] = "-c";
  std::string script = kWatcherScript;
  char* argv[] = {arg0, norc, noprofile, dash_c, script.data(), nullptr};
  char path_var[] = "PATH=/usr/bin:/bin";
  char locale_var[] = "LC_ALL=C";
  char* envp[] = {path_var, locale_var, nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/bash", &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    return false;
  }
  w.owner = ::getpid();
  w.pid = pid;
  w.fd = sv[0];
  for (const pid_t g : w.groups) {
    if (!SendLocked(w, '+', g)) return false;
  }
  return true;
}

// Whether the watcher's end of the socket is closed (it died: someone killed it). It never writes,
// so a hang-up or an error is the only thing the socket can report.
bool PeerGoneLocked(const Watcher& w) {
  pollfd p{w.fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// A usable watcher of this process's own, started or restarted as needed. A dead one is replaced
// here, before a command is forked: the child registers its group through this socket before it
// execs, and a stale socket would leave the command unguarded until the parent's
// GuardProcessGroup noticed and restarted the watcher (a killed dsagent in between left the
// command running; seen as a rare ProcessGroupGuardTest failure under load).
bool EnsureLocked(Watcher& w) {
  if (w.owner != ::getpid()) {  // first use, or a forked child holding its parent's socket
    if (w.fd >= 0) ::close(w.fd);
    w.fd = -1;
    w.pid = -1;
    w.groups.clear();  // the parent's, not ours
  }
  if (w.fd >= 0 && PeerGoneLocked(w)) ForgetLocked(w);
  return w.fd >= 0 || StartLocked(w);
}

}  // namespace

bool GuardProcessGroup(pid_t pgid) {
  Watcher& w = State();
  std::lock_guard lock(w.mu);
  if (!EnsureLocked(w)) return false;
  w.groups.insert(pgid);
  if (SendLocked(w, '+', pgid)) return true;
  // The watcher died (killed by someone): start another, which learns every registered group.
  ForgetLocked(w);
  return StartLocked(w);
}

int ProcessGroupGuardSocket() {
  Watcher& w = State();
  std::lock_guard lock(w.mu);
  return EnsureLocked(w) ? w.fd : -1;
}

void GuardOwnGroupInChild(int socket) {
  if (socket < 0) return;
  // "+PID\n" by hand: no allocation between fork and exec.
  char line[32];
  char digits[24];
  int n = 0;
  for (unsigned long v = static_cast<unsigned long>(::getpid()); v > 0 || n == 0; v /= 10) {
    digits[n++] = static_cast<char>('0' + v % 10);
  }
  int len = 0;
  line[len++] = '+';
  while (n > 0) line[len++] = digits[--n];
  line[len++] = '\n';
  // One small send: not interleaved with other writers' lines on a Unix stream socket.
  (void)::send(socket, line, static_cast<size_t>(len), MSG_NOSIGNAL);
}

void ReleaseProcessGroup(pid_t pgid) {
  Watcher& w = State();
  std::lock_guard lock(w.mu);
  if (w.owner != ::getpid()) return;
  w.groups.erase(pgid);
  if (w.fd >= 0 && !SendLocked(w, '-', pgid)) ForgetLocked(w);  // restarted on the next guard
}

pid_t ProcessGroupWatcherPid() {
  Watcher& w = State();
  std::lock_guard lock(w.mu);
  return w.owner == ::getpid() ? w.pid : -1;
}

}  // namespace dsagent
