#include "tools/sandbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"
#include "tools/shell_command.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;

// A real TCP listener on a free loopback port (`*fd`, closed by the caller) and a shell command
// that connects to it and prints "connected".
void ListenOnLoopback(int* fd, std::string* connect_command) {
  *fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(*fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *connect_command =
      "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(ntohs(addr.sin_port)) + " && echo connected";
}
using ::testing::HasSubstr;
using ::testing::Not;

ShellOutcome Shell(const std::string& cmd, const fs::path& cwd, const PreparedSandbox* sandbox) {
  ShellOptions o;
  o.cwd = cwd;
  o.timeout = std::chrono::seconds(20);
  o.sandbox = sandbox;
  auto r = RunShellCommand(cmd, o);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  return r ? *r : ShellOutcome{};
}

TEST(SandboxTest, WritesAreConfinedToTheAllowedDirectories) {
  if (!ProbeSandbox().filesystem()) GTEST_SKIP() << ProbeSandbox().Describe();
  TempDir work, outside;
  auto sandbox = PreparedSandbox::Prepare({true, {work.path()}, false});
  ASSERT_TRUE(sandbox) << sandbox.error();
  const auto inside = Shell("echo ok > made.txt && mkdir d && cat made.txt && echo hi > /dev/null",
                            work.path(), &*sandbox);
  EXPECT_EQ(inside.exit_code, 0) << inside.output;
  EXPECT_TRUE(fs::exists(work.path() / "made.txt"));
  const auto escape =
      Shell("echo bad > '" + (outside.path() / "x").string() + "'", work.path(), &*sandbox);
  EXPECT_NE(escape.exit_code, 0);
  EXPECT_THAT(escape.output, HasSubstr("Permission denied"));
  EXPECT_FALSE(fs::exists(outside.path() / "x"));
  // Reading outside stays allowed.
  EXPECT_EQ(Shell("cat /etc/hostname >/dev/null || cat /etc/os-release >/dev/null", work.path(),
                  &*sandbox)
                .exit_code,
            0);
  // Without the sandbox the same write succeeds (the test can fail for the right reason).
  EXPECT_EQ(
      Shell("echo ok > '" + (outside.path() / "y").string() + "'", work.path(), nullptr).exit_code,
      0);
}

TEST(SandboxTest, TcpConnectIsDeniedWhenNetworkIsOff) {
  if (!ProbeSandbox().network()) GTEST_SKIP() << ProbeSandbox().Describe();
  // A real listener on loopback: connecting works without the sandbox and fails with it.
  int server = -1;
  std::string connect;
  ASSERT_NO_FATAL_FAILURE(ListenOnLoopback(&server, &connect));
  TempDir work;
  EXPECT_EQ(Shell(connect, work.path(), nullptr).exit_code, 0);
  auto sandbox = PreparedSandbox::Prepare({true, {work.path()}, true});
  ASSERT_TRUE(sandbox) << sandbox.error();
  const auto denied = Shell(connect, work.path(), &*sandbox);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.output, Not(HasSubstr("connected")));
  ::close(server);
}

TEST(SandboxTest, UnopenableWritablePathIsAClearError) {
  if (!ProbeSandbox().filesystem()) GTEST_SKIP() << ProbeSandbox().Describe();
  auto sandbox = PreparedSandbox::Prepare({true, {"/nonexistent/dir"}, false});
  ASSERT_FALSE(sandbox);
  EXPECT_THAT(sandbox.error(), HasSubstr("/nonexistent/dir"));
}

TEST(SandboxTest, ChooseFollowsTheBackendAndSaysWhy) {
  SandboxSupport none{0, {"", false, false, "is not installed (apt install bubblewrap)"}};
  auto chosen = none.Choose(SandboxBackend::kAuto, false);
  ASSERT_FALSE(chosen);
  EXPECT_THAT(chosen.error(), HasSubstr("no OS sandbox"));
  EXPECT_THAT(chosen.error(), HasSubstr("Landlock is not available"));
  EXPECT_THAT(chosen.error(), HasSubstr("bubblewrap is not installed"));
  EXPECT_THAT(none.Describe(), HasSubstr("shell commands can write anywhere"));

  SandboxSupport old_kernel{3, {"", false, false, "is not installed"}};
  EXPECT_EQ(*old_kernel.Choose(SandboxBackend::kAuto, false), SandboxBackend::kLandlock);
  EXPECT_FALSE(old_kernel.Choose(SandboxBackend::kAuto, true));  // no way to deny the network
  EXPECT_THAT(old_kernel.Choose(SandboxBackend::kLandlock, true).error(), HasSubstr("ABI 4"));
  EXPECT_FALSE(old_kernel.Choose(SandboxBackend::kBubblewrap, false));

  SandboxSupport with_bwrap{3, {"/usr/bin/bwrap", true, true, ""}};
  EXPECT_EQ(*with_bwrap.Choose(SandboxBackend::kAuto, true), SandboxBackend::kBubblewrap);
  EXPECT_EQ(*with_bwrap.Choose(SandboxBackend::kAuto, false), SandboxBackend::kLandlock);
  SandboxSupport container{0, {"/usr/bin/bwrap", false, false, "cannot create a sandbox here"}};
  EXPECT_THAT(container.Choose(SandboxBackend::kBubblewrap, false).error(),
              HasSubstr("cannot create a sandbox here"));
  EXPECT_EQ(ParseSandboxBackend("bubblewrap"), SandboxBackend::kBubblewrap);
  EXPECT_FALSE(ParseSandboxBackend("docker"));
}

TEST(SandboxTest, BubblewrapConfinesWritesToTheWorkspaceAndItsTemp) {
  const SandboxSupport support = ProbeSandbox();
  if (!support.bubblewrap.usable) GTEST_SKIP() << support.DescribeBubblewrap();
  TempDir work, temp, outside;
  SandboxPolicy policy{true, {work.path()}, false, temp.path(), SandboxBackend::kBubblewrap};
  auto sandbox = PreparedSandbox::Prepare(policy);
  ASSERT_TRUE(sandbox) << sandbox.error();
  EXPECT_EQ(sandbox->backend(), SandboxBackend::kBubblewrap);
  EXPECT_FALSE(sandbox->wrapper_argv().empty());
  const auto inside =
      Shell("pwd && echo ok > made.txt && mkdir d && echo t > '" +
                (temp.path() / "t.txt").string() + "' && cat made.txt && echo hi > /dev/null",
            work.path(), &*sandbox);
  EXPECT_EQ(inside.exit_code, 0) << inside.output;
  EXPECT_THAT(inside.output, HasSubstr(work.path().string()));  // the working directory is kept
  EXPECT_TRUE(fs::exists(work.path() / "made.txt"));
  EXPECT_TRUE(fs::exists(temp.path() / "t.txt"));
  const fs::path escape_file = outside.path() / "x";
  const fs::path tmp_escape =
      fs::temp_directory_path() / ("dsagent-bwrap-escape-" + std::to_string(::getpid()));
  const auto escape = Shell("echo bad > '" + escape_file.string() + "'; echo bad > '" +
                                tmp_escape.string() + "'; touch /etc/dsagent-escape",
                            work.path(), &*sandbox);
  EXPECT_NE(escape.exit_code, 0);
  EXPECT_FALSE(fs::exists(escape_file));
  EXPECT_FALSE(fs::exists(tmp_escape));
  EXPECT_FALSE(fs::exists("/etc/dsagent-escape"));
  // Reading outside stays allowed.
  EXPECT_EQ(Shell("cat /etc/os-release >/dev/null", work.path(), &*sandbox).exit_code, 0);
  // A writable path that does not exist is a clear error, as with Landlock.
  policy.writable.push_back("/nonexistent/dir");
  auto missing = PreparedSandbox::Prepare(policy);
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error(), HasSubstr("/nonexistent/dir"));
}

TEST(SandboxTest, BubblewrapDeniesTheNetwork) {
  const SandboxSupport support = ProbeSandbox();
  if (!support.bubblewrap.network) GTEST_SKIP() << support.DescribeBubblewrap();
  int server = -1;
  std::string connect;
  ASSERT_NO_FATAL_FAILURE(ListenOnLoopback(&server, &connect));
  TempDir work;
  auto open =
      PreparedSandbox::Prepare({true, {work.path()}, false, {}, SandboxBackend::kBubblewrap});
  ASSERT_TRUE(open) << open.error();
  EXPECT_EQ(Shell(connect, work.path(), &*open).exit_code, 0);
  auto closed =
      PreparedSandbox::Prepare({true, {work.path()}, true, {}, SandboxBackend::kBubblewrap});
  ASSERT_TRUE(closed) << closed.error();
  const auto denied = Shell(connect, work.path(), &*closed);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.output, Not(HasSubstr("connected")));
  ::close(server);
}

TEST(SandboxTest, BubblewrapTimeoutStopsEverythingInside) {
  const SandboxSupport support = ProbeSandbox();
  if (!support.bubblewrap.usable) GTEST_SKIP() << support.DescribeBubblewrap();
  TempDir work;
  auto sandbox =
      PreparedSandbox::Prepare({true, {work.path()}, false, {}, SandboxBackend::kBubblewrap});
  ASSERT_TRUE(sandbox) << sandbox.error();
  ShellOptions o;
  o.cwd = work.path();
  o.timeout = std::chrono::milliseconds(500);
  o.sandbox = &*sandbox;
  // Both the foreground and the background job would print "survived" after 60 s; killing
  // everything inside at the timeout means neither does.
  auto r = RunShellCommand("(sleep 60; echo survived) & sleep 60; echo survived", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->output.find("survived"), std::string::npos) << r->output;
}

}  // namespace
}  // namespace dsagent
