#include "evals/task.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/file_io.h"
#include "evals/polyglot.h"
#include "evals/swebench_logs.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

using Result = Expected<EvalTask, std::string>;

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();  // e.g. a numeric version
}

// SWE-bench stores the two test lists as JSON strings; accept lists too.
Expected<std::vector<std::string>, std::string> TestList(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::vector<std::string>{};
  Json list = *it;
  if (list.is_string()) {
    list = Json::parse(list.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (list.is_discarded()) return MakeUnexpected(std::string(key) + " is not a JSON list");
  }
  if (!list.is_array()) return MakeUnexpected(std::string(key) + " is not a list");
  std::vector<std::string> out;
  for (const Json& t : list) {
    if (!t.is_string()) return MakeUnexpected(std::string(key) + " holds a non-string");
    out.push_back(t.get<std::string>());
  }
  return out;
}

void ApplySpec(const Json& spec, EvalTask& t) {
  if (!spec.is_object()) return;
  if (t.test_cmd.empty()) t.test_cmd = spec.value("test_cmd", "");
  if (t.test_framework.empty()) t.test_framework = spec.value("test_framework", "");
  if (spec.contains("test_timeout_s") && spec["test_timeout_s"].is_number_integer()) {
    t.test_timeout_s = spec["test_timeout_s"].get<int>();
  }
}

// The repo spec for a task: specs[repo][version] when present, else specs[repo].
void ApplyRepoSpecs(const RepoSpecs& specs, EvalTask& t) {
  if (!specs.is_object() || !specs.contains(t.repo)) return;
  const Json& by_repo = specs[t.repo];
  if (by_repo.contains(t.version) && by_repo[t.version].is_object()) {
    ApplySpec(by_repo[t.version], t);
  }
  ApplySpec(by_repo, t);
}

std::optional<RepoSource> FindInReposDir(const fs::path& dir, const std::string& repo) {
  if (dir.empty() || repo.empty()) return std::nullopt;
  const std::string name = RepoDirName(repo);
  for (const char* suffix : {"", ".git"}) {
    const fs::path p = dir / (name + suffix);
    if (fs::is_directory(p)) return RepoSource{RepoSource::Kind::kGitDir, p, "dir:" + p.string()};
  }
  const fs::path bundle = dir / (name + ".bundle");
  if (fs::is_regular_file(bundle)) {
    return RepoSource{RepoSource::Kind::kGitBundle, bundle, "bundle:" + name};
  }
  return std::nullopt;
}

Expected<Json, std::string> ReadJsonFile(const fs::path& path) {
  auto text = ReadFileToString(path);
  if (!text) return MakeUnexpected(text.error());
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return MakeUnexpected(path.string() + ": not valid JSON");
  return j;
}

Expected<std::vector<EvalTask>, std::string> LoadJsonl(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return MakeUnexpected("cannot read " + file.string());
  std::vector<EvalTask> tasks;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      return MakeUnexpected(file.string() + ":" + std::to_string(n) + ": not valid JSON");
    }
    auto t = TaskFromJson(j);
    if (!t) return MakeUnexpected(file.string() + ":" + std::to_string(n) + ": " + t.error());
    tasks.push_back(std::move(*t));
  }
  return tasks;
}

Result LoadSuiteTask(const fs::path& dir) {
  auto j = ReadJsonFile(dir / "task.json");
  if (!j) return MakeUnexpected(j.error());
  auto t = TaskFromJson(*j);
  if (!t) return MakeUnexpected((dir / "task.json").string() + ": " + t.error());
  if (fs::is_directory(dir / "repo")) {
    t->source = {RepoSource::Kind::kFiles, dir / "repo", "files:" + t->instance_id};
  } else if (fs::is_regular_file(dir / "repo.bundle")) {
    t->source = {RepoSource::Kind::kGitBundle, dir / "repo.bundle", "bundle:" + t->instance_id};
  } else {
    t->source.path.clear();  // resolved from --repos below
  }
  return t;
}

Expected<std::vector<EvalTask>, std::string> LoadSuite(const fs::path& dir) {
  std::vector<EvalTask> tasks;
  if (fs::is_regular_file(dir / "task.json")) {  // a single task directory
    auto t = LoadSuiteTask(dir);
    if (!t) return MakeUnexpected(t.error());
    tasks.push_back(std::move(*t));
    return tasks;
  }
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory() && fs::is_regular_file(e.path() / "task.json")) dirs.push_back(e.path());
  }
  if (ec) return MakeUnexpected("cannot list " + dir.string() + ": " + ec.message());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    auto t = LoadSuiteTask(d);
    if (!t) return MakeUnexpected(t.error());
    tasks.push_back(std::move(*t));
  }
  if (tasks.empty()) return MakeUnexpected(dir.string() + " holds no */task.json");
  return tasks;
}

}  // namespace

std::string RepoDirName(const std::string& repo) {
  std::string out = repo;
  if (auto slash = out.find('/'); slash != std::string::npos) out.replace(slash, 1, "__");
  return out;
}

Result TaskFromJson(const Json& j) {
  if (!j.is_object()) return MakeUnexpected("a task must be a JSON object");
  EvalTask t;
  t.raw = j;
  t.instance_id = Str(j, "instance_id");
  if (t.instance_id.empty()) return MakeUnexpected("missing instance_id");
  // It names files and directories in RUN_DIR, so only a plain file name will do.
  const bool plain = std::all_of(t.instance_id.begin(), t.instance_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._+-", c) != nullptr;
  });
  if (!plain || t.instance_id == "." || t.instance_id == "..") {
    return MakeUnexpected("instance_id '" + t.instance_id + "' is not a valid file name");
  }
  t.repo = Str(j, "repo");
  t.base_commit = Str(j, "base_commit");
  t.problem_statement = Str(j, "problem_statement");
  if (t.problem_statement.empty()) {
    return MakeUnexpected(t.instance_id + ": missing problem_statement");
  }
  t.hints_text = Str(j, "hints_text");
  t.patch = Str(j, "patch");
  t.test_patch = Str(j, "test_patch");
  t.version = Str(j, "version");
  t.test_cmd = Str(j, "test_cmd");
  t.test_framework = Str(j, "test_framework");
  if (j.contains("test_timeout_s") && j["test_timeout_s"].is_number_integer()) {
    t.test_timeout_s = j["test_timeout_s"].get<int>();
  }
  if (j.contains("tries") && j["tries"].is_number_integer()) {
    t.tries = std::max(1, j["tries"].get<int>());
  }
  auto f2p = TestList(j, "FAIL_TO_PASS");
  if (!f2p) return MakeUnexpected(t.instance_id + ": " + f2p.error());
  auto p2p = TestList(j, "PASS_TO_PASS");
  if (!p2p) return MakeUnexpected(t.instance_id + ": " + p2p.error());
  t.fail_to_pass = std::move(*f2p);
  t.pass_to_pass = std::move(*p2p);
  return t;
}

Expected<std::vector<EvalTask>, std::string> LoadTasks(const LoadOptions& o) {
  std::string format = o.format;
  if (format.empty()) format = fs::is_directory(o.tasks) ? "suite" : "swebench";
  if (format != "suite" && format != "swebench" && format != "polyglot") {
    return MakeUnexpected("unknown task format '" + format + "' (swebench, suite or polyglot)");
  }
  if (!fs::exists(o.tasks)) return MakeUnexpected(o.tasks.string() + " does not exist");
  auto tasks = format == "suite"      ? LoadSuite(o.tasks)
               : format == "polyglot" ? LoadPolyglot(o.tasks)
                                      : LoadJsonl(o.tasks);
  if (!tasks) return tasks;

  RepoSpecs specs;
  fs::path spec_file = o.repo_specs;
  if (spec_file.empty() && !o.repos_dir.empty() &&
      fs::is_regular_file(o.repos_dir / "specs.json")) {
    spec_file = o.repos_dir / "specs.json";
  }
  if (!spec_file.empty()) {
    auto s = ReadJsonFile(spec_file);
    if (!s) return MakeUnexpected(s.error());
    specs = std::move(*s);
  }

  std::set<std::string> seen;
  for (EvalTask& t : *tasks) {
    if (!seen.insert(t.instance_id).second) {
      return MakeUnexpected("duplicate instance_id " + t.instance_id);
    }
    if (t.source.path.empty()) {
      auto found = FindInReposDir(o.repos_dir, t.repo);
      if (!found) {
        return MakeUnexpected(t.instance_id + ": no repository for '" + t.repo + "'" +
                              (o.repos_dir.empty() ? " (pass --repos DIR)"
                                                   : " in " + o.repos_dir.string() + " (want " +
                                                         RepoDirName(t.repo) + "[.git|.bundle])"));
      }
      t.source = *found;
    }
    if (t.base_commit.empty() && t.source.kind != RepoSource::Kind::kFiles) {
      return MakeUnexpected(t.instance_id + ": missing base_commit");
    }
    ApplyRepoSpecs(specs, t);
    // A published SWE-bench row names no parser: use the one the official harness uses.
    if (format == "swebench" && t.test_framework.empty()) {
      t.test_framework = SwebenchFrameworkForRepo(t.repo);
    }
    if (t.test_cmd.empty()) {
      return MakeUnexpected(t.instance_id + ": no test_cmd (in the task or a repo spec)");
    }
  }
  return tasks;
}

std::filesystem::path CheckoutDir(const std::filesystem::path& parent, const EvalTask& task) {
  return task.checkout_name.empty() ? parent : parent / task.checkout_name;
}

}  // namespace dsagent::evals
