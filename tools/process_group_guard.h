// Process groups that die with this process, even when it is killed with SIGKILL.
//
// Commands (shell commands, test commands, MCP stdio servers) run in process groups of their own
// so that a timeout or cancellation can stop everything they started. When dsagent itself is
// killed (`kill -9`, the OOM killer), nothing stops them: they go on running as orphans, e.g.
// the test commands of a killed `dsagent eval --jobs 2`. PR_SET_PDEATHSIG alone does not cover
// this: it reaches only the direct child, not what the shell starts.
//
// So a watcher process (a small bash loop in a process group of its own, started on first use)
// reads "+PGID" / "-PGID" lines from a socket whose other end only this process holds (close on
// exec). However this process ends, the kernel closes that end; the watcher reads end of file and
// SIGKILLs every group still registered. A group is released before its leader is reaped, so a
// pid the kernel reuses later is never signalled.
#pragma once

#include <sys/types.h>

namespace dsagent {

// Registers `pgid` (a process group this process leads the creation of, i.e. its child's pid
// after setpgid) to be killed if this process dies before ReleaseProcessGroup(pgid). Starts the
// watcher on first use (again in a forked child, which must not share its parent's). Returns false
// where the watcher cannot be started or has died (the group is then not guarded). Thread-safe.
bool GuardProcessGroup(pid_t pgid);

// The two halves of registering a child before it runs anything (so that no moment is left in
// which dsagent could die with the command running unguarded): in the parent before fork,
// ProcessGroupGuardSocket() starts the watcher if needed and returns its socket (-1: none); in the
// child between fork and exec, after setpgid(0, 0), GuardOwnGroupInChild(socket) registers the
// child's group (async-signal-safe: one send). The parent then calls GuardProcessGroup(pid) too,
// which keeps the record it replays to a restarted watcher (registering twice is harmless).
int ProcessGroupGuardSocket();
void GuardOwnGroupInChild(int socket);

// Unregisters `pgid`; call while the group's leader is still unreaped (a zombie at most).
void ReleaseProcessGroup(pid_t pgid);

// The watcher's pid, or -1 when none has been started by this process (for tests).
pid_t ProcessGroupWatcherPid();

}  // namespace dsagent
