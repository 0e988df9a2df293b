// Runs the real `dsagent` binary as a child process for end-to-end tests: an isolated HOME and XDG
// directories, an explicit environment, stdout/stderr captured to files.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dsagent::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// A temp directory tree for one test: home/, data/, config/, cache/, repo/ (not yet a git repo).
class Sandbox {
 public:
  Sandbox();
  ~Sandbox();
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path repo() const { return root_ / "repo"; }
  std::filesystem::path sessions_dir() const { return root_ / "data" / "dsagent" / "sessions"; }
  // Environment for the child: HOME/XDG_* inside the sandbox, PATH from this process, plus `extra`.
  std::map<std::string, std::string> Env(const std::map<std::string, std::string>& extra) const;
  // Writes a file under repo/ (creating parents).
  void WriteRepoFile(const std::string& rel, const std::string& content) const;
  std::string ReadRepoFile(const std::string& rel) const;
  // `git init` + commit everything in repo/ using the git CLI (test setup only).
  void GitInitAndCommit() const;

 private:
  std::filesystem::path root_;
};

// Whether `dsagent run` can sandbox its shell commands on this machine (some backend works). Where
// none does, `run` refuses to start without --no-sandbox, as it would for a user; so the helpers
// below add --no-sandbox to a `run`, `eval` or `route compare` command line there, and tests of the
// sandbox itself skip.
bool HeadlessSandboxWorksHere();

// A dsagent child process started in the background. A `run`, `eval` or `route compare` command
// line gets --no-sandbox where HeadlessSandboxWorksHere() is false.
class RunningDsagent {
 public:
  RunningDsagent(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::filesystem::path& cwd,
                 const std::string& stdin_text, const std::filesystem::path& capture_dir);
  ~RunningDsagent();
  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  ProcessResult Wait();  // waits for exit and returns the captured output

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_path_, err_path_, in_path_;
  bool waited_ = false;
};

// Runs dsagent to completion.
ProcessResult RunDsagent(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         const std::filesystem::path& cwd, const std::string& stdin_text = "");

std::string ReadFile(const std::filesystem::path& path);

}  // namespace dsagent::testing
