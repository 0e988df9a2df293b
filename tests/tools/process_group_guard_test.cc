// Commands run through RunShellCommand die with the process that runs them, even when it is killed
// with SIGKILL: a killed `dsagent eval --jobs 2` left its test commands running as orphans. Each
// test forks a child that plays dsagent, kills it, and watches what it had started.
#include "tools/process_group_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <vector>

#include "tests/support/process_probe.h"
#include "tests/support/temp_dir.h"
#include "tools/shell_command.h"

namespace dsagent {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using testing::FileAppearsWithin;
using testing::ProcessAlive;
using testing::ProcessEndsWithin;

// `bash -c` runs a lone simple command with exec; the `&` and `wait` keep the shell, so the
// sleeper is a grandchild that PR_SET_PDEATHSIG on the shell would not reach.
constexpr const char* kLongCommand =
    "sleep 300 & echo \"$$ $!\" > pids.tmp && mv pids.tmp pids; wait";

ShellOptions OptionsIn(const fs::path& dir) {
  ShellOptions o;
  o.cwd = dir;
  o.timeout = std::chrono::minutes(10);
  return o;
}

struct Pids {
  pid_t shell = -1, sleeper = -1;
};

Pids ReadPids(const fs::path& file) {
  Pids p;
  std::ifstream(file) >> p.shell >> p.sleeper;
  return p;
}

// Kills `child` with SIGKILL and reaps it.
void KillAndReap(pid_t child) {
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
}

// Waits (bounded) for the long command that `child` runs to write its pids, then kills `child`
// with SIGKILL. The pids, or {-1, -1} when the command never started.
Pids KillOnceTheCommandRuns(const TempDir& dir, pid_t child) {
  const bool started = FileAppearsWithin(dir.path() / "pids", seconds(30));
  KillAndReap(child);
  return started ? ReadPids(dir.path() / "pids") : Pids{};
}

// Kills, at the end of a test however it ends, whatever of the listed processes still runs.
struct KillAtExit {
  std::vector<pid_t> pids;
  ~KillAtExit() {
    for (const pid_t pid : pids) {
      if (pid > 0 && ProcessAlive(pid)) ::kill(pid, SIGKILL);
    }
  }
};

TEST(ProcessGroupGuardTest, ARunningCommandDiesWithAProcessKilledBySigkill) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)RunShellCommand(kLongCommand, OptionsIn(dir.path()));
    std::_Exit(0);
  }
  const Pids p = KillOnceTheCommandRuns(dir, child);
  const KillAtExit cleanup{{p.shell, p.sleeper}};
  ASSERT_GT(p.sleeper, 0) << "the command did not start within 30 s";
  EXPECT_TRUE(ProcessEndsWithin(p.shell, seconds(10))) << "the shell outlived its parent";
  EXPECT_TRUE(ProcessEndsWithin(p.sleeper, seconds(10)))
      << "the command's background process outlived its parent";
}

// Someone killed the watcher: the next command starts a new one, which still guards.
TEST(ProcessGroupGuardTest, AKilledWatcherIsReplacedAndStillGuards) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)RunShellCommand("true", OptionsIn(dir.path()));
    const pid_t watcher = ProcessGroupWatcherPid();
    if (watcher <= 0) std::_Exit(2);
    ::kill(watcher, SIGKILL);
    ::waitpid(watcher, nullptr, 0);
    (void)RunShellCommand(kLongCommand, OptionsIn(dir.path()));
    std::_Exit(0);
  }
  const Pids p = KillOnceTheCommandRuns(dir, child);
  const KillAtExit cleanup{{p.shell, p.sleeper}};
  ASSERT_GT(p.sleeper, 0) << "the command did not start within 30 s";
  EXPECT_TRUE(ProcessEndsWithin(p.sleeper, seconds(10)));
}

// The socket a command is forked with belongs to a live watcher: a dead one is replaced before the
// fork, so the child's own registration (before it execs) reaches a watcher. With the dead one's
// socket, the command ran unguarded until the parent's registration restarted the watcher.
TEST(ProcessGroupGuardTest, TheSocketForTheNextCommandIsANewWatchersWhenTheLastOneDied) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)RunShellCommand("true", OptionsIn(dir.path()));
    const pid_t killed = ProcessGroupWatcherPid();
    if (killed <= 0) std::_Exit(2);
    ::kill(killed, SIGKILL);
    ::waitpid(killed, nullptr, 0);
    const int socket = ProcessGroupGuardSocket();
    const pid_t now = ProcessGroupWatcherPid();
    std::_Exit(socket >= 0 && now > 0 && now != killed ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: no watcher was started; 3: the dead one's socket";
}

// A command that has returned is released: what it left in the background on purpose (a server
// started with `&`, its output elsewhere) is not killed when dsagent later dies.
TEST(ProcessGroupGuardTest, AFinishedCommandsBackgroundProcessIsLeftAlone) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)RunShellCommand("sleep 300 >/dev/null 2>&1 & echo \"$$ $!\" > pids.tmp",
                          OptionsIn(dir.path()));
    std::ofstream(dir.path() / "pids.tmp", std::ios::app) << " " << ProcessGroupWatcherPid();
    fs::rename(dir.path() / "pids.tmp", dir.path() / "pids");
    ::pause();
    std::_Exit(0);
  }
  const bool started = FileAppearsWithin(dir.path() / "pids", seconds(30));
  KillAndReap(child);
  ASSERT_TRUE(started);
  pid_t shell = -1, sleeper = -1, watcher = -1;
  std::ifstream(dir.path() / "pids") >> shell >> sleeper >> watcher;
  const KillAtExit cleanup{{sleeper}};
  ASSERT_GT(sleeper, 0);
  ASSERT_GT(watcher, 0);
  // Once the watcher has ended, it has done whatever it was going to do.
  EXPECT_TRUE(ProcessEndsWithin(watcher, seconds(10)));
  EXPECT_TRUE(ProcessAlive(sleeper)) << "a released group was killed";
}

}  // namespace
}  // namespace dsagent
