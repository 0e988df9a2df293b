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
  const int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(server, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string connect =
      "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(ntohs(addr.sin_port)) + " && echo connected";
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

}  // namespace
}  // namespace dsagent
