#include "tests/agent/cli/dsagent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "tools/env_block.h"
#include "tools/sandbox.h"

namespace dsagent::testing {
namespace fs = std::filesystem;
namespace bp = boost::process;

bool HeadlessSandboxWorksHere() {
  static const bool works = ProbeSandbox().Choose(SandboxBackend::kAuto, false).has_value();
  return works;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Sandbox::Sandbox() {
  char tmpl[] = "/tmp/dsagent_e2e_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  for (const char* d : {"home", "data", "config", "cache", "repo"})
    fs::create_directories(root_ / d);
}

Sandbox::~Sandbox() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::map<std::string, std::string> Sandbox::Env(
    const std::map<std::string, std::string>& extra) const {
  std::map<std::string, std::string> env = {
      {"HOME", (root_ / "home").string()},
      {"XDG_DATA_HOME", (root_ / "data").string()},
      {"XDG_CONFIG_HOME", (root_ / "config").string()},
      {"XDG_CACHE_HOME", (root_ / "cache").string()},
      {"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"},
      {"NO_COLOR", "1"},
      // Keep retries fast in tests; the tests that check retry behaviour rely on these.
      {"DSAGENT_RETRY__INITIAL_BACKOFF_MS", "5"},
      {"DSAGENT_RETRY__MAX_BACKOFF_MS", "50"},
  };
  for (const auto& [k, v] : extra) env[k] = v;
  return env;
}

void Sandbox::WriteRepoFile(const std::string& rel, const std::string& content) const {
  const fs::path p = repo() / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string Sandbox::ReadRepoFile(const std::string& rel) const { return ReadFile(repo() / rel); }

void Sandbox::GitInitAndCommit() const {
  const std::string cmd = "cd '" + repo().string() +
                          "' && git init -q && git add -A && git -c user.name=t -c user.email=t@t "
                          "commit -qm init";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("git init failed");
}

RunningDsagent::RunningDsagent(const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env, const fs::path& cwd,
                               const std::string& stdin_text, const fs::path& capture_dir) {
  static std::mt19937 rng(std::random_device{}());
  const std::string tag = std::to_string(rng());
  out_path_ = capture_dir / ("stdout." + tag);
  err_path_ = capture_dir / ("stderr." + tag);
  in_path_ = capture_dir / ("stdin." + tag);
  std::ofstream(in_path_, std::ios::binary) << stdin_text;

  // Not boost::process::environment: its lookup reads past short entries (tools/env_block.h).
  EnvBlock child_env(EnvMap(env.begin(), env.end()));
  char** envp = child_env.envp();
  std::vector<std::string> argv = args;
  // The commands that run the agent headless and sandbox it by default.
  const bool sandboxed_command =
      !argv.empty() && (argv[0] == "run" || (argv[0] == "eval" && (argv.size() < 2 ||
                                                                    argv[1] != "merge")) ||
                        (argv[0] == "route" && argv.size() > 1 && argv[1] == "compare"));
  if (sandboxed_command && !HeadlessSandboxWorksHere() &&
      std::find(argv.begin(), argv.end(), "--no-sandbox") == argv.end()) {
    argv.push_back("--no-sandbox");
  }
  bp::child child(
      DSAGENT_BINARY, bp::args(argv),
      bp::extend::on_exec_setup = [envp](auto& exec) { exec.env = envp; },
      bp::start_dir = cwd.string(), bp::std_in<in_path_.string(), bp::std_out> out_path_.string(),
      bp::std_err > err_path_.string());
  pid_ = child.id();
  child.detach();  // reaped by Wait() with waitpid
}

RunningDsagent::~RunningDsagent() {
  if (!waited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void RunningDsagent::Signal(int sig) const { ::kill(pid_, sig); }

ProcessResult RunningDsagent::Wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  waited_ = true;
  ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path_);
  r.err = ReadFile(err_path_);
  std::error_code ec;
  fs::remove(out_path_, ec);
  fs::remove(err_path_, ec);
  fs::remove(in_path_, ec);
  return r;
}

ProcessResult RunDsagent(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, const fs::path& cwd,
                         const std::string& stdin_text) {
  const fs::path dir = fs::temp_directory_path();
  RunningDsagent p(args, env, cwd, stdin_text, dir);
  return p.Wait();
}

}  // namespace dsagent::testing
