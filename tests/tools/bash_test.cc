#include "tools/bash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::EndsWith;
using ::testing::HasSubstr;

// True while `pid` is a live process (a zombie counts as gone: it has stopped running and only
// waits for its parent — possibly a container init that never reaps — to collect it).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// True when `pid` has exited or exits within `limit`. Waits on a pidfd (an event, not a sleep):
// a killed process closes its pipe ends slightly before it is marked exited, so a check right
// after the tool returns could race with the kernel.
bool ExitsWithin(pid_t pid, std::chrono::milliseconds limit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH || !Alive(pid);
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
  ::close(fd);
  return ready == 1 || !Alive(pid);
}

pid_t ReadPid(const TempDir& ws, const std::string& file) {
  return static_cast<pid_t>(std::stol(ws.Read(file)));
}

class BashTest : public ::testing::Test {
 protected:
  ToolResult Bash(Json args) { return tool_->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeBashTool();
};

TEST_F(BashTest, SuccessEndsWithExitCode) {
  ToolResult r = Bash({{"command", "echo hello"}});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output, "hello\n[exit code: 0]");
  EXPECT_EQ(r.details["exit_code"], 0);
  EXPECT_EQ(r.details["timed_out"], false);
}

TEST_F(BashTest, NonZeroExitIsAFailure) {
  ToolResult r = Bash({{"command", "echo out; exit 3"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, EndsWith("[exit code: 3]"));
  EXPECT_EQ(r.details["exit_code"], 3);
}

TEST_F(BashTest, StderrIsMergedInOrder) {
  ToolResult r = Bash({{"command", "echo one; echo two >&2; echo three"}});
  EXPECT_EQ(r.output, "one\ntwo\nthree\n[exit code: 0]");
}

TEST_F(BashTest, RunsInTheWorkspaceWithEmptyStdin) {
  ToolResult r = Bash({{"command", "pwd; cat; echo done"}});
  EXPECT_EQ(r.output, ws_.path().string() + "\ndone\n[exit code: 0]");
}

TEST_F(BashTest, LongOutputKeepsHeadAndTailWithMarker) {
  ctx_.output_cap_bytes = 1000;
  ToolResult r = Bash({{"command", "seq 1 100000"}});
  ASSERT_TRUE(r.ok);
  // seq 1 100000 prints 588895 bytes: 9*2 + 90*3 + 900*4 + 9000*5 + 90000*6 + 7.
  const size_t total = 9 * 2 + 90 * 3 + 900 * 4 + 9000 * 5 + 90000 * 6 + 7;
  EXPECT_EQ(r.output.rfind("1\n2\n3\n", 0), 0u);
  EXPECT_THAT(r.output, HasSubstr("\n99999\n100000\n[exit code: 0]"));
  const size_t marker = r.output.find("[... ");
  ASSERT_NE(marker, std::string::npos);
  const size_t omitted = std::stoul(r.output.substr(marker + 5));
  EXPECT_EQ(omitted, total - 1000);
  EXPECT_LT(r.output.size(), 1100u);
}

TEST_F(BashTest, TimeoutKillsTheWholeProcessGroup) {
  // Without the timeout this command would wait 1000 s; returning at all, marked timed out, with
  // the background sleep gone, is the behaviour.
  ToolResult r = Bash({{"command", "sleep 1000 & echo $! > bg.pid; wait"}, {"timeout_s", 1}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.details["timed_out"], true);
  EXPECT_THAT(r.output, HasSubstr("timed out after 1 s"));
  EXPECT_TRUE(ExitsWithin(ReadPid(ws_, "bg.pid"), std::chrono::seconds(2)));
}

TEST_F(BashTest, ProcessesIgnoringSigtermAreKilledToo) {
  ToolResult r = Bash(
      {{"command", "trap '' TERM; sleep 1000 & echo $! > bg.pid; wait; wait"}, {"timeout_s", 1}});
  EXPECT_EQ(r.details["timed_out"], true);
  EXPECT_TRUE(ExitsWithin(ReadPid(ws_, "bg.pid"), std::chrono::seconds(2)));
}

TEST_F(BashTest, CancelFromAnotherThreadInterrupts) {
  ASSERT_EQ(mkfifo((ws_.path() / "started").c_str(), 0600), 0);
  std::thread canceller([&] {
    // Opening a FIFO for reading blocks until the command opens it for writing: a real event.
    std::ifstream fifo(ws_.path() / "started");
    std::string word;
    fifo >> word;
    ctx_.cancel.Cancel();
  });
  ToolResult r = Bash({{"command", "sleep 1000 & echo $! > bg.pid; echo started > started; wait"},
                       {"timeout_s", 60}});
  canceller.join();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.details["timed_out"], false);  // the cancel stopped it, not the 60 s timeout
  EXPECT_EQ(r.details["interrupted"], true);
  EXPECT_THAT(r.output, HasSubstr("[interrupted"));
  EXPECT_TRUE(ExitsWithin(ReadPid(ws_, "bg.pid"), std::chrono::seconds(2)));
}

TEST_F(BashTest, BackgroundChildHoldingOutputDoesNotHang) {
  ToolResult r = Bash({{"command", "sleep 1000 & echo $! > bg.pid; echo finished"}});
  EXPECT_TRUE(r.ok) << r.output;
  // It returned because the shell exited, not because the command's timeout ran out.
  EXPECT_EQ(r.details["timed_out"], false);
  EXPECT_THAT(r.output, HasSubstr("finished\n"));
  EXPECT_THAT(r.output, HasSubstr("background processes"));
  EXPECT_THAT(r.output, EndsWith("[exit code: 0]"));
  EXPECT_TRUE(ExitsWithin(ReadPid(ws_, "bg.pid"), std::chrono::seconds(2)));
}

TEST_F(BashTest, BackgroundChildWithRedirectedOutputKeepsRunning) {
  ToolResult r = Bash({{"command", "sleep 1000 > /dev/null 2>&1 & echo $! > bg.pid"}});
  EXPECT_TRUE(r.ok) << r.output;
  const pid_t pid = ReadPid(ws_, "bg.pid");
  EXPECT_TRUE(Alive(pid));
  ::kill(pid, SIGKILL);
}

TEST_F(BashTest, TimeoutIsCappedAtTheMaximum) {
  ctx_.bash_max_timeout_s = 1;
  ToolResult r = Bash({{"command", "sleep 1000"}, {"timeout_s", 500}});
  EXPECT_EQ(r.details["timed_out"], true);
  EXPECT_THAT(r.output, HasSubstr("timeout_s capped at 1"));
}

TEST_F(BashTest, InvalidUtf8OutputIsSanitised) {
  ToolResult r = Bash({{"command", "printf 'a\\377b\\n'"}});
  EXPECT_EQ(r.output,
            "a\xEF\xBF\xBD"
            "b\n[exit code: 0]");
}

TEST_F(BashTest, CommandThatCannotStartIsAnError) {
  ctx_.workspace = ws_.path() / "missing";
  ToolResult r = Bash({{"command", "echo never"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("does not exist"));
}

TEST_F(BashTest, SignalledShellReportsSignalExitCode) {
  ToolResult r = Bash({{"command", "kill -KILL $$"}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.details["exit_code"], 128 + 9);
}

}  // namespace
}  // namespace dsagent
