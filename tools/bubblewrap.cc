#include "tools/bubblewrap.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/shell_quote.h"
#include "tools/shell_command.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    const std::string dir = dirs.substr(start, colon - start);
    start = colon + 1;
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return "";
}

// Runs `argv` + /bin/true; "" on success, else the first line of what it said.
std::string Trial(std::vector<std::string> argv) {
  argv.push_back("/bin/true");
  std::string command;
  for (const std::string& a : argv) command += (command.empty() ? "" : " ") + ShellQuote(a);
  ShellOptions options;
  options.cwd = "/";
  options.timeout = std::chrono::seconds(5);
  options.output_cap_bytes = 2000;
  auto run = RunShellCommand(command + " 2>&1", options);
  if (!run) return run.error();
  if (run->exit_code == 0) return "";
  std::string line = run->output.substr(0, run->output.find('\n'));
  if (line.empty()) line = "exit code " + std::to_string(run->exit_code);
  return line;
}

}  // namespace

BubblewrapSupport ProbeBubblewrap() {
  BubblewrapSupport s;
  s.path = FindOnPath("bwrap");
  if (s.path.empty()) {
    s.problem = "is not installed (Debian/Ubuntu: apt install bubblewrap)";
    return s;
  }
  SandboxPolicy trial;
  const std::string failed = Trial(BubblewrapArgv(trial, s.path));
  if (!failed.empty()) {
    s.problem = "cannot create a sandbox here (user namespaces unavailable?): " + failed;
    return s;
  }
  s.usable = true;
  trial.deny_network = true;
  s.network = Trial(BubblewrapArgv(trial, s.path)).empty();
  return s;
}

std::vector<std::string> BubblewrapArgv(const SandboxPolicy& policy,
                                        const std::string& bwrap_path) {
  std::vector<std::string> argv = {bwrap_path, "--ro-bind", "/",      "/",
                                   "--dev",    "/dev",      "--proc", "/proc"};
  std::vector<fs::path> writable = policy.writable;
  if (!policy.temp_dir.empty()) writable.push_back(policy.temp_dir);
  for (const fs::path& p : writable) {
    argv.insert(argv.end(), {"--bind", p.string(), p.string()});
  }
  // Its own PID namespace: when the shell exits or is killed, everything it started goes too.
  argv.insert(argv.end(), {"--unshare-pid", "--die-with-parent", "--new-session"});
  if (policy.deny_network) argv.push_back("--unshare-net");
  argv.push_back("--");
  return argv;
}

}  // namespace dsagent
