#include "evals/polyglot.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "common/file_io.h"
#include "evals/polyglot_languages.h"
#include "evals/workspace.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

std::string ReadOr(const fs::path& p, const std::string& fallback = "") {
  auto text = ReadFileToString(p);
  return text ? *text : fallback;
}

std::vector<std::string> Strings(const Json& files, const char* key) {
  std::vector<std::string> out;
  if (files.contains(key) && files[key].is_array()) {
    for (const Json& f : files[key]) {
      if (f.is_string()) out.push_back(f.get<std::string>());
    }
  }
  return out;
}

// "<lang>" from ".../<lang>/exercises/practice/<name>", else "".
std::string Language(const fs::path& exercise) {
  const fs::path practice = exercise.parent_path();
  if (practice.filename() != "practice" || practice.parent_path().filename() != "exercises") {
    return "";
  }
  return practice.parent_path().parent_path().filename().string();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> GoldTargets(
    const std::vector<std::string>& solution, const std::vector<std::string>& examples) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<bool> used(solution.size(), false);
  std::vector<bool> placed(examples.size(), false);
  auto name = [](const std::string& p) { return fs::path(p).filename().string(); };
  auto ext = [](const std::string& p) { return fs::path(p).extension().string(); };
  for (size_t e = 0; e < examples.size(); ++e) {
    for (size_t s = 0; s < solution.size() && !placed[e]; ++s) {
      if (!used[s] && name(solution[s]) == name(examples[e])) {
        out.emplace_back(examples[e], solution[s]);
        used[s] = placed[e] = true;
      }
    }
  }
  for (size_t e = 0; e < examples.size(); ++e) {
    for (size_t s = 0; s < solution.size() && !placed[e]; ++s) {
      if (!used[s] && ext(solution[s]) == ext(examples[e])) {
        out.emplace_back(examples[e], solution[s]);
        used[s] = placed[e] = true;
      }
    }
  }
  for (size_t e = 0; e < examples.size(); ++e) {
    if (placed[e]) continue;
    std::string dir;
    for (const auto& s : solution) {
      if (ext(s) == ext(examples[e])) {
        dir = fs::path(s).parent_path().string();
        break;
      }
    }
    out.emplace_back(examples[e], (fs::path(dir) / name(examples[e])).string());
  }
  return out;
}

namespace {

Expected<EvalTask, std::string> LoadExercise(const fs::path& dir) {
  const fs::path config_path = dir / ".meta" / "config.json";
  auto text = ReadFileToString(config_path);
  if (!text) return MakeUnexpected(text.error());
  const Json config = Json::parse(*text, nullptr, false);
  if (config.is_discarded() || !config.contains("files")) {
    return MakeUnexpected(config_path.string() + ": not a polyglot config (no \"files\")");
  }
  const std::string lang = Language(dir), name = dir.filename().string();
  auto spec = PolyglotLanguageFor(lang, name);
  if (!spec) return MakeUnexpected(dir.string() + ": " + spec.error());
  if (std::string missing = MissingPolyglotToolchain(lang); !missing.empty()) {
    return MakeUnexpected(dir.string() + ": cannot test " + lang + " exercises here: " + missing);
  }
  const auto solution = Strings(config["files"], "solution");
  const auto tests = Strings(config["files"], "test");
  const auto examples = Strings(config["files"], "example");
  if (solution.empty() || tests.empty() || examples.empty()) {
    return MakeUnexpected(config_path.string() +
                          ": files.solution, .test and .example are required");
  }

  EvalTask t;
  t.instance_id = "polyglot__" + lang + "-" + name;
  t.repo = "polyglot/" + lang;
  t.version = lang;
  std::string files_list;
  for (const auto& f : solution) files_list += (files_list.empty() ? "" : ", ") + f;
  for (const char* doc : {"introduction.md", "instructions.md", "instructions.append.md"}) {
    const std::string part = ReadOr(dir / ".docs" / doc);
    if (!part.empty()) t.problem_statement += part + (part.back() == '\n' ? "\n" : "\n\n");
  }
  t.problem_statement +=
      "Use the above instructions to modify the supplied files: " + files_list +
      "\nDon't change the names of existing functions or classes, as they may be referenced from "
      "other code like unit tests, etc.\nOnly use standard libraries, don't suggest installing "
      "any packages.\n";
  // Gold: each example replaces its solution file (GoldTargets); examples without one are added.
  auto gold_targets = GoldTargets(solution, examples);
  // Exercism's Rust track gives a reference solution that needs crates its own manifest,
  // `.meta/Cargo-example.toml`, in place of the stub's Cargo.toml (as the track's CI does):
  // grep's uses thiserror, which the stub's Cargo.toml does not declare.
  if (lang == "rust" && fs::exists(dir / ".meta" / "Cargo-example.toml")) {
    gold_targets.emplace_back(".meta/Cargo-example.toml", "Cargo.toml");
  }
  for (const auto& [example, target] : gold_targets) {
    auto gold = ReadFileToString(dir / example);
    if (!gold) return MakeUnexpected(gold.error());
    std::optional<std::string> before;
    if (fs::exists(dir / target)) {
      auto stub = ReadFileToString(dir / target);
      if (!stub) return MakeUnexpected(stub.error());
      before = *stub;
    }
    t.patch += FileChangePatch(target, before, *gold);
  }
  for (const auto& test : tests) {
    auto source = ReadFileToString(dir / test);
    if (!source) return MakeUnexpected(source.error());
    t.test_patch += FileChangePatch(test, std::nullopt, *source);
  }
  // The test ids come from the runner's own report of the example solution (the runner's gold
  // run), so they are named exactly as grading will see them.
  t.fail_to_pass_from_gold = true;
  t.test_cmd = spec->test_cmd;
  t.test_framework = spec->test_framework;
  t.ignore = spec->ignore;
  // Aider allows 180 s for the tests; the build is inside the test command here, and a cold C++,
  // Rust or Java build on a small loaded machine can take longer than that on its own.
  t.test_timeout_s = 600;
  t.tries = 2;
  if (spec->named_checkout) t.checkout_name = name;
  t.source = {RepoSource::Kind::kFiles, dir, "polyglot:" + lang + "/" + name, {".meta"}};
  for (const auto& test : tests) t.source.exclude.push_back(test);
  t.raw = {{"instance_id", t.instance_id}, {"exercise", dir.string()}, {"tries", t.tries}};
  return t;
}

}  // namespace

Expected<std::vector<EvalTask>, std::string> LoadPolyglot(const fs::path& root_arg) {
  // "rust/exercises/practice/grep/" (as shell completion writes it) names the same exercise: the
  // language is read from the folder names above it.
  const fs::path root = root_arg.has_filename() ? root_arg : root_arg.parent_path();
  std::vector<fs::path> exercises;
  if (fs::is_regular_file(root / ".meta" / "config.json")) {
    exercises.push_back(root);
  } else {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const fs::path& p = it->path();
      if (p.filename() == "config.json" && p.parent_path().filename() == ".meta") {
        exercises.push_back(p.parent_path().parent_path());
      }
    }
    if (ec) return MakeUnexpected("cannot list " + root.string() + ": " + ec.message());
  }
  if (exercises.empty()) {
    return MakeUnexpected(root.string() + " holds no polyglot exercise (*/.meta/config.json)");
  }
  std::sort(exercises.begin(), exercises.end());
  std::vector<EvalTask> tasks;
  for (const auto& dir : exercises) {
    auto t = LoadExercise(dir);
    if (!t) return MakeUnexpected(t.error());
    tasks.push_back(std::move(*t));
  }
  return tasks;
}

}  // namespace dsagent::evals
