// Runs a shell command for test setup/inspection and returns its stdout.
#pragma once

#include <cstdio>
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

}  // namespace dsagent::testing
