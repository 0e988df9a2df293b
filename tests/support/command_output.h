// Runs a shell command for test setup/inspection and returns its stdout; or runs one with its exit
// code, stdout and stderr captured (through files in `scratch`).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace dsagent::testing {

inline std::string CommandOutput(const std::string& shell_command) {
  std::string out;
  if (FILE* f = popen(shell_command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
  }
  return out;
}

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
};

inline CommandResult RunCommand(const std::string& shell_command,
                                const std::filesystem::path& scratch) {
  const auto out = scratch / "command_stdout.txt", err = scratch / "command_stderr.txt";
  const std::string cmd = shell_command + " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read(out), read(err)};
}

}  // namespace dsagent::testing
