// The file tools, the repo map and the git tools on a hostile repository, generated at runtime in
// a temporary directory: symbolic links that point outside (to a file, to a directory, in a loop),
// file names with a newline and with invalid UTF-8, a 2 GB sparse file, binary files, a wide tree,
// git hooks and a core.worktree that points outside. Nothing may escape the workspace, hang,
// crash or run a hook; every answer is valid UTF-8 and says what happened. (The 100k-file tree is
// in bench/hostile_repo_bench.cc: too slow for a unit test.)
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/utf8.h"
#include "tests/tools/tool_test_util.h"
#include "tools/registry.h"

namespace dsagent::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kOutsideSecret = "outside-secret-7f3a";  // only in files outside
constexpr int kWideFiles = 300;  // the 100k-file tree: bench/hostile_repo_bench.cc

class HostileRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path ws = repo_.path();
    outside_.Write("secret.txt", std::string(kOutsideSecret) + "\n");
    outside_.Write("dir/inner.py", "def leaked():\n    return '" + std::string(kOutsideSecret) +
                                       "'\n");
    repo_.Write("main.py", "def main():\n    return 1\n");
    repo_.Write("blob.bin", std::string("\x7f" "ELF\0\0\0\x01\x02", 9) + std::string(4096, '\0'));
    repo_.Write(std::string("new\nline.py"), "def newline_name():\n    pass\n");
    repo_.Write(std::string("bad\xff\xfe.py"), "def bad_name():\n    pass\n");
    repo_.Write(std::string("esc\x1b[2J\rname.py"), "def escape_name():\n    pass\n");
    for (int i = 0; i < kWideFiles; ++i) {
      repo_.Write("wide/f" + std::to_string(i) + ".txt", "x\n");
    }
    fs::create_symlink(outside_.path() / "secret.txt", ws / "link_file");
    fs::create_symlink(outside_.path() / "dir", ws / "link_dir");
    fs::create_symlink(outside_.path() / "dir" / "inner.py", ws / "linked.py");  // source, outside
    fs::create_symlink("loop", ws / "loop");          // a link to itself
    fs::create_directories(ws / "sub");
    fs::create_symlink("..", ws / "sub" / "up");      // a directory cycle inside the workspace
    // 2 GB that cost nothing on disk.
    const int fd = ::open((ws / "big.bin").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 2LL << 30), 0);
    ::close(fd);
    ASSERT_EQ(Git(repo_, "init -q"), 0);
    ASSERT_EQ(Git(repo_, "add main.py"), 0);
    ASSERT_EQ(Git(repo_, "commit -q -m init"), 0);
    // Hooks that would leave a mark outside if anything ran them.
    marker_ = outside_.path() / "hook-ran";
    for (const char* hook : {"pre-commit", "post-checkout", "post-commit", "pre-push",
                             "post-index-change", "fsmonitor-watchman", "reference-transaction"}) {
      const fs::path h = ws / ".git" / "hooks" / hook;
      std::ofstream(h) << "#!/bin/sh\ntouch '" << marker_.string() << "'\n";
      fs::permissions(h, fs::perms::owner_all);
    }
    std::ofstream(ws / ".git" / "config", std::ios::app)
        << "[core]\n\tfsmonitor = touch '" << marker_.string() << "'\n";
  }

  ToolResult Call(const std::string& tool, const Json& args) {
    ToolContext ctx = ContextIn(repo_);
    ToolResult r = registry_.Dispatch(tool, args.dump(), ctx);
    EXPECT_EQ(SanitizeUtf8(r.output), r.output) << tool << " " << args.dump();
    EXPECT_THAT(r.output, Not(HasSubstr(kOutsideSecret))) << tool << " " << args.dump();
    return r;
  }

  TempDir repo_, outside_;
  fs::path marker_;
  ToolRegistry registry_ = ToolRegistry::BuiltIn();
};

TEST_F(HostileRepoTest, ReadRefusesLinksOutsideAndNamesBinaryAndHugeFiles) {
  ToolResult r = Call("read_file", {{"path", "link_file"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("outside the workspace"));
  r = Call("read_file", {{"path", "link_dir/inner.py"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("outside the workspace"));
  r = Call("read_file", {{"path", "loop"}});
  EXPECT_FALSE(r.ok);
  r = Call("read_file", {{"path", "big.bin"}});  // 2 GB: never read whole
  EXPECT_FALSE(r.ok);
  r = Call("read_file", {{"path", "blob.bin"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("binary"));
  r = Call("read_file", {{"path", std::string("new\nline.py")}});
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("newline_name"));
  r = Call("read_file", {{"path", "sub/up/sub/up/main.py"}});  // a cycle, still inside
  EXPECT_TRUE(r.ok) << r.output;
}

TEST_F(HostileRepoTest, WritesAndEditsThroughLinksOutsideAreRefused) {
  ToolResult r = Call("write_file", {{"path", "link_dir/planted.py"}, {"content", "x\n"}});
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(fs::exists(outside_.path() / "dir" / "planted.py"));
  r = Call("write_file", {{"path", "link_file"}, {"content", "overwritten\n"}});
  EXPECT_FALSE(r.ok);
  r = Call("edit_file",
           {{"path", "link_file"}, {"old_string", kOutsideSecret}, {"new_string", "edited"}});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(outside_.Read("secret.txt"), std::string(kOutsideSecret) + "\n");
  r = Call("write_file", {{"path", ".git/hooks/pre-commit"}, {"content", "#!/bin/sh\n"}});
  EXPECT_FALSE(r.ok);
}

TEST_F(HostileRepoTest, ListingsAndSearchesStayInsideAndFinish) {
  ToolResult r = Call("list_files", {{"path", "."}});
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("main.py"));
  EXPECT_THAT(r.output, Not(HasSubstr("inner.py")));
  r = Call("list_files", {{"path", "link_dir"}});
  EXPECT_FALSE(r.ok);
  r = Call("glob", {{"pattern", "**/*.py"}});
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("main.py"));
  EXPECT_THAT(r.output, Not(HasSubstr("inner.py")));
  r = Call("grep", {{"pattern", "outside-secret|def "}});
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("main.py"));
  EXPECT_THAT(r.output, Not(HasSubstr("inner.py")));
  EXPECT_THAT(r.output, HasSubstr("symbolic links to files outside the workspace were not searched"));
  r = Call("grep", {{"pattern", "x"}, {"path", "big.bin"}});  // 2 GB of zeros: skipped, not read
  EXPECT_THAT(r.output, Not(HasSubstr("big.bin:")));
}

// One name per line: a name with a newline, a carriage return or an escape sequence is shown as a
// JSON string, so it can neither split into two entries nor rewrite what is shown around it.
TEST_F(HostileRepoTest, NamesWithControlCharactersAreShownEscapedOnePerLine) {
  const std::vector<std::pair<std::string, Json>> calls = {
      {"list_files", {{"path", "."}, {"max_depth", 1}}},
      {"glob", {{"pattern", "*.py"}}},
      {"grep", {{"pattern", "def (newline|escape)_name"}}},
  };
  for (const auto& [tool, args] : calls) {
    const ToolResult r = Call(tool, args);
    ASSERT_TRUE(r.ok) << tool << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"new\\nline.py\"")) << tool;
    EXPECT_THAT(r.output, HasSubstr("\"esc\\u001b[2J\\rname.py\"")) << tool;
    EXPECT_EQ(r.output.find('\r'), std::string::npos) << tool;
    EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << tool;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_NE(line.rfind("line.py", 0), 0u) << tool << ": a name split over two lines";
    }
  }
  const ToolResult map = Call("repo_map", Json::object());
  ASSERT_TRUE(map.ok) << map.output;
  EXPECT_EQ(map.output.find('\r'), std::string::npos);
  EXPECT_EQ(map.output.find('\x1b'), std::string::npos);
  EXPECT_EQ(map.output.find("\nline.py"), std::string::npos) << map.output;
}

// A name that is not valid UTF-8 cannot travel in JSON as it is: the listings spell each bad byte
// `\xNN`, and the file tools take that spelling back, so the model can read and edit the file.
TEST_F(HostileRepoTest, NamesWithInvalidUtf8AreShownWithByteEscapesThatTheToolsTakeBack) {
  const std::string shown = "\"bad\\\\xff\\\\xfe.py\"";  // the JSON literal "bad\\xff\\xfe.py"
  for (const auto& [tool, args] :
       std::vector<std::pair<std::string, Json>>{{"list_files", {{"path", "."}, {"max_depth", 1}}},
                                                 {"glob", {{"pattern", "*.py"}}},
                                                 {"grep", {{"pattern", "def bad_name"}}}}) {
    const ToolResult r = Call(tool, args);
    ASSERT_TRUE(r.ok) << tool << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(shown)) << tool;
  }
  // The model passes back what it saw: the JSON string's value is the name with `\xNN` in it.
  const std::string passed_back = Json::parse(shown).get<std::string>();
  ToolResult r = Call("read_file", {{"path", passed_back}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("def bad_name"));
  r = Call("edit_file",
           {{"path", passed_back}, {"old_string", "bad_name"}, {"new_string", "renamed"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(repo_.Read(std::string("bad\xff\xfe.py")), "def renamed():\n    pass\n");
}

// Bounded memory: every tool over the whole hostile repository (the 2 GB file included) in a child
// process, whose peak resident size the kernel reports (ru_maxrss). The bound is generous (the
// tools need a few MiB here; reading the 2 GB file whole would need 2 GiB).
TEST_F(HostileRepoTest, ToolsOverTheWholeRepositoryStayWithinBoundedMemory) {
  constexpr long kBoundKiB = 512 * 1024;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int failed = 0;
    const ToolContext ctx = ContextIn(repo_);
    const std::vector<std::pair<std::string, Json>> calls = {
        {"list_files", {{"path", "."}, {"max_depth", 10}}},
        {"glob", {{"pattern", "**/*"}}},
        {"grep", {{"pattern", "."}}},
        {"grep", {{"pattern", "x"}, {"path", "big.bin"}}},
        {"read_file", {{"path", "big.bin"}}},
        {"repo_map", Json::object()},
    };
    for (const auto& [tool, args] : calls) {
      const ToolResult r = registry_.Dispatch(tool, args.dump(), ctx);
      if (r.output.empty()) failed = 1;
    }
    std::_Exit(failed);
  }
  int status = 0;
  struct rusage usage {};
  ASSERT_EQ(::wait4(child, &status, 0, &usage), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GT(usage.ru_maxrss, 0);
  EXPECT_LT(usage.ru_maxrss, kBoundKiB) << "peak RSS " << usage.ru_maxrss / 1024 << " MiB";
}

TEST_F(HostileRepoTest, RepoMapMapsTheInsideOnly) {
  ToolResult r = Call("repo_map", Json::object());
  EXPECT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("main"));
  EXPECT_THAT(r.output, Not(HasSubstr("leaked")));
}

TEST_F(HostileRepoTest, GitToolsRunNoHooksAndReadOnlyTheWorkspace) {
  for (const char* tool : {"git_status", "git_diff", "git_log"}) {
    ToolResult r = Call(tool, Json::object());
    EXPECT_TRUE(r.ok) << tool << ": " << r.output;
  }
  EXPECT_FALSE(fs::exists(marker_));
}

// A repository whose config points its working tree elsewhere (core.worktree) would have the git
// tools read files outside the workspace: refused, with the reason.
TEST_F(HostileRepoTest, GitToolsRefuseAWorkTreeOutsideTheWorkspace) {
  std::ofstream(repo_.path() / ".git" / "config", std::ios::app)
      << "[core]\n\tworktree = " << outside_.path().string() << "\n";
  outside_.Write("main.py", std::string(kOutsideSecret) + "\n");  // what a diff would show
  for (const char* tool : {"git_status", "git_diff"}) {
    ToolResult r = Call(tool, Json::object());
    EXPECT_FALSE(r.ok) << tool << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("core.worktree")) << tool;
  }
}

}  // namespace
}  // namespace dsagent::testing
