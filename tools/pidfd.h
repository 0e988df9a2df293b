// OpenPidFd: a file descriptor that becomes readable when a child process exits, for waiting on it
// with poll() next to other fds (shell commands, MCP stdio servers). Shared so both spawners wait
// the same way.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace dsagent {

// An fd for `pid` (Linux >= 5.3), or -1 where pidfd_open is missing (callers then poll
// periodically). The caller closes it.
inline int OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace dsagent
