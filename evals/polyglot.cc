#include "evals/polyglot.h"

#include <algorithm>
#include <regex>
#include <sstream>

#include "common/file_io.h"
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

// How one language's exercises are tested and how their test ids are named.
struct LanguageSpec {
  const char* name;
  std::string (*test_cmd)(const std::string& exercise);
  const char* test_framework;
  std::vector<std::string> (*test_ids)(const std::string& file_name, const std::string& source);
};

std::string PythonTestCmd(const std::string&) { return "pytest -rA -p no:cacheprovider"; }

// Exercism's CMakeLists.txt builds an executable named after the exercise folder (and runs it
// after the build). The build goes to a temporary directory so it never lands in the patch; the
// executable then writes a JUnit report whose test case classes are all "tests.global" (-n tests).
std::string CppTestCmd(const std::string& exercise) {
  return "b=$(mktemp -d) && cmake -S . -B \"$b\" -DEXERCISM_RUN_ALL_TESTS=1 >/dev/null && "
         "cmake --build \"$b\"; \"$b/" +
         exercise +
         "\" -r junit -n tests -o report.xml; rc=$?; rm -rf \"$b\"; "
         "exit $rc";
}

const LanguageSpec kLanguages[] = {
    {"python", PythonTestCmd, "pytest", PythonTestIds},
    {"cpp", CppTestCmd, "junit:report.xml", CatchTestIds},
};

const LanguageSpec* FindLanguage(const std::string& name) {
  for (const LanguageSpec& spec : kLanguages) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

Expected<EvalTask, std::string> LoadExercise(const fs::path& dir) {
  const fs::path config_path = dir / ".meta" / "config.json";
  auto text = ReadFileToString(config_path);
  if (!text) return MakeUnexpected(text.error());
  const Json config = Json::parse(*text, nullptr, false);
  if (config.is_discarded() || !config.contains("files")) {
    return MakeUnexpected(config_path.string() + ": not a polyglot config (no \"files\")");
  }
  const std::string lang = Language(dir), name = dir.filename().string();
  const LanguageSpec* spec = FindLanguage(lang);
  if (spec == nullptr) {
    return MakeUnexpected(dir.string() + ": language '" + lang +
                          "' is not supported yet (python, cpp); point --tasks at <root>/python "
                          "or <root>/cpp");
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
  // Gold: each solution stub becomes its example (paired in order; extra stubs keep the first).
  for (size_t i = 0; i < solution.size(); ++i) {
    const std::string& example = examples[std::min(i, examples.size() - 1)];
    auto stub = ReadFileToString(dir / solution[i]);
    auto gold = ReadFileToString(dir / example);
    if (!stub || !gold) return MakeUnexpected(!stub ? stub.error() : gold.error());
    t.patch += FileChangePatch(solution[i], *stub, *gold);
  }
  for (const auto& test : tests) {
    auto source = ReadFileToString(dir / test);
    if (!source) return MakeUnexpected(source.error());
    t.test_patch += FileChangePatch(test, std::nullopt, *source);
    for (auto& id : spec->test_ids(test, *source)) t.fail_to_pass.push_back(std::move(id));
  }
  if (t.fail_to_pass.empty()) return MakeUnexpected(dir.string() + ": no tests found");
  t.test_cmd = spec->test_cmd(name);
  t.test_framework = spec->test_framework;
  t.test_timeout_s = 180;  // Aider's limit
  t.tries = 2;
  if (lang == "cpp") t.checkout_name = name;
  t.source = {RepoSource::Kind::kFiles, dir, "polyglot:" + lang + "/" + name, {".meta"}};
  for (const auto& test : tests) t.source.exclude.push_back(test);
  t.raw = {{"instance_id", t.instance_id}, {"exercise", dir.string()}, {"tries", t.tries}};
  return t;
}

}  // namespace

std::vector<std::string> CatchTestIds(const std::string& /*file_name*/, const std::string& source) {
  static const std::regex kCase(R"re(\bTEST_CASE\s*\(\s*"((?:[^"\\]|\\.)*)")re");
  std::vector<std::string> ids;
  for (auto it = std::sregex_iterator(source.begin(), source.end(), kCase);
       it != std::sregex_iterator(); ++it) {
    ids.push_back("tests.global::" + (*it)[1].str());
  }
  return ids;
}

std::vector<std::string> PythonTestIds(const std::string& file_name, const std::string& source) {
  static const std::regex kClass(R"(^class\s+(\w+)\b)");
  static const std::regex kMethod(R"(^(\s+)def\s+(test\w*)\s*\()");
  static const std::regex kFunction(R"(^def\s+(test\w*)\s*\()");
  std::vector<std::string> ids;
  std::string current_class;
  std::istringstream in(source);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, kClass)) {
      current_class = m[1].str();
    } else if (std::regex_search(line, m, kFunction)) {
      current_class.clear();
      ids.push_back(file_name + "::" + m[1].str());
    } else if (!current_class.empty() && std::regex_search(line, m, kMethod)) {
      ids.push_back(file_name + "::" + current_class + "::" + m[2].str());
    } else if (!line.empty() && !std::isspace(static_cast<unsigned char>(line[0])) &&
               line[0] != '#' && line[0] != ')') {
      current_class.clear();  // a top-level statement ends the class body
    }
  }
  return ids;
}

Expected<std::vector<EvalTask>, std::string> LoadPolyglot(const fs::path& root) {
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
