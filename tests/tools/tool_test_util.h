// Test helpers for tools/: a real temporary workspace directory, file helpers, and a git CLI
// runner isolated from the user's configuration.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/command_output.h"
#include "tools/tool.h"

namespace dsagent::testing {

class TempWorkspace {
 public:
  TempWorkspace() {
    char tmpl[] = "/tmp/dsagent_tools_XXXXXX";
    root_ = std::filesystem::canonical(mkdtemp(tmpl));
  }
  ~TempWorkspace() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempWorkspace(const TempWorkspace&) = delete;
  TempWorkspace& operator=(const TempWorkspace&) = delete;

  const std::filesystem::path& root() const { return root_; }

  std::filesystem::path Write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  std::string Read(const std::string& rel) const {
    std::ifstream in(root_ / rel, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  bool Exists(const std::string& rel) const { return std::filesystem::exists(root_ / rel); }

  ToolContext Context() const {
    ToolContext ctx;
    ctx.workspace = root_;
    return ctx;
  }

  // Runs `git <args>` in the workspace with a fixed identity and no user/system config.
  // Returns the exit status.
  int Git(const std::string& args) const {
    const std::string cmd = "cd '" + root_.string() +
                            "' && GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 "
                            "git -c user.name='Test Author' -c user.email=test@example.com "
                            "-c init.defaultBranch=main " +
                            args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  }

  // Output of `git <args>` (stdout only), for comparing with what the tools report.
  std::string GitOutput(const std::string& args) const {
    const std::string cmd = "cd '" + root_.string() +
                            "' && GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git " + args;
    return CommandOutput(cmd);
  }

 private:
  std::filesystem::path root_;
};

}  // namespace dsagent::testing
