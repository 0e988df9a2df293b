#include "evals/polyglot_languages.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/shell_quote.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

const char* kSetupHint = " (install the polyglot toolchains: scripts/setup-eval-toolchains.sh)";
const char* kJavaJars = "/usr/share/java";

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Exercism's CMakeLists.txt builds an executable named after the exercise folder (and runs it
// after the build); EXERCISM_RUN_ALL_TESTS enables every test, as Aider's cpp-test.sh does
// (benchmarks stay out: EXERCISM_INCLUDE_BENCHMARK is not set). The executable then writes a
// JUnit report (`-n tests`: every class "tests.global").
// Most of a build is test/tests-main.cpp, Catch2's whole implementation (CATCH_CONFIG_MAIN),
// byte-identical in every exercise: ~30 s of the ~40 s a build takes. So where ccache is
// installed it compiles through it, with the build in `build/` (ignored, removed afterwards) and
// CCACHE_BASEDIR at the exercise, so every path the compiler sees is the same relative one in
// every exercise and the object is compiled once for all exercises and runs (gold, graded, noop).
// The compiler still gets the same preprocessed source and flags: only the debug info's build
// directory (CCACHE_NOHASHDIR) may name another exercise's.
std::string CppTestCmd(const std::string& exercise) {
  return "rm -rf build; set --; command -v ccache >/dev/null 2>&1 && { set -- "
         "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache; export CCACHE_BASEDIR=\"$PWD\" "
         "CCACHE_NOHASHDIR=1; }; "
         "cmake -S . -B build -DEXERCISM_RUN_ALL_TESTS=1 \"$@\" >/dev/null && cmake --build build; "
         "build/" +
         exercise + " -r junit -n tests -o report.xml; rc=$?; rm -rf build; exit $rc";
}

// Debian's cargo and rustc when installed (the rustup ones may come first on PATH), Debian's
// packaged crates standing in for crates.io (three exercises depend on anyhow, rand or time), a
// temporary target directory, and every ignored test run (Aider: --include-ignored).
std::string RustTestCmd() {
  return "if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; then cargo=/usr/bin/cargo; "
         "export RUSTC=/usr/bin/rustc; [ -x /usr/bin/rustdoc ] && export RUSTDOC=/usr/bin/rustdoc; "
         "else cargo=cargo; fi; "
         "set --; [ -d /usr/share/cargo/registry ] && set -- --config "
         "'source.crates-io.replace-with=\"debian\"' --config "
         "'source.debian.directory=\"/usr/share/cargo/registry\"'; "
         "t=$(mktemp -d); CARGO_TARGET_DIR=\"$t\" \"$cargo\" test --offline \"$@\" -- "
         "--include-ignored; rc=$?; rm -rf \"$t\"; exit $rc";
}

// Aider deletes @Disabled from the tests and runs Gradle; here javac compiles against Debian's
// JUnit 5 console launcher (which bundles the Jupiter API) and AssertJ, and the launcher writes
// its legacy XML report (class = test class, `Outer$Nested` for nested classes).
std::string JavaTestCmd() {
  const std::string j = kJavaJars;
  const std::string launcher = j + "/junit-platform-console-standalone.jar";
  const std::string libs = j + "/assertj-core.jar:" + j + "/byte-buddy.jar";
  return "b=$(mktemp -d); tests=$(find src/test -name '*.java'); "
         "sed -i -E 's/@Disabled(\\([^)]*\\))?//' $tests; "
         "javac -nowarn -encoding UTF-8 -d \"$b/main\" $(find src/main -name '*.java') && "
         "javac -nowarn -encoding UTF-8 -d \"$b/test\" -cp \"$b/main:" +
         launcher + ":" + libs +
         "\" $tests && "
         "java -jar " +
         launcher + " --disable-banner --details=tree --reports-dir=.junit-report --class-path \"$b/main:$b/test:" +
         libs +
         ":src/main/resources:src/test/resources\" --scan-class-path; rc=$?; rm -rf \"$b\"; exit $rc";
}

// Aider's npm-test.sh: link the shared node_modules, turn xtest( into test(, run jest. One
// difference: each test gets 60 s instead of jest's 5 s. Under a loaded machine (an eval with
// --jobs beside other work) parallel-letter-frequency's reference solution, which starts 50
// worker threads, passed the 5 s only when run alone (docs/BENCHMARKS.md); the command as a whole
// keeps its own limit.
std::string JsTestCmd() {
  const std::string modules = JestModulesDir();
  return "[ -e node_modules ] || ln -s " + ShellQuote(modules.empty() ? "/nonexistent" : modules) +
         " node_modules; sed -i -E 's/\\bxtest\\(/test(/g' *.spec.js; "
         "node node_modules/jest/bin/jest.js --ci --testTimeout=60000 --json "
         "--outputFile=.jest-report.json";
}

}  // namespace

const std::vector<std::string>& PolyglotLanguages() {
  static const std::vector<std::string> kLanguages = {"cpp",    "go",   "java",
                                                      "javascript", "python", "rust"};
  return kLanguages;
}

Expected<PolyglotLanguage, std::string> PolyglotLanguageFor(const std::string& lang,
                                                            const std::string& exercise) {
  if (lang == "python") {
    return PolyglotLanguage{"pytest -rA -p no:cacheprovider", "pytest",
                            {"__pycache__/", ".pytest_cache/"}};
  }
  if (lang == "cpp") {
    return PolyglotLanguage{CppTestCmd(exercise), "junit:report.xml", {"build/", "report.xml"}, true};
  }
  if (lang == "go") {
    return PolyglotLanguage{"GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local go test -count=1 -v ./...", "go",
                            {}};
  }
  if (lang == "rust") return PolyglotLanguage{RustTestCmd(), "cargo", {"target/", "Cargo.lock"}};
  if (lang == "java") {
    return PolyglotLanguage{JavaTestCmd(), "junit:.junit-report/TEST-junit-jupiter.xml",
                            {"build/", ".junit-report/", "*.class"}};
  }
  if (lang == "javascript") {
    return PolyglotLanguage{JsTestCmd(), "jest:.jest-report.json",
                            {"node_modules", ".jest-report.json", "package-lock.json"}};
  }
  std::string known;
  for (const auto& l : PolyglotLanguages()) known += (known.empty() ? "" : ", ") + l;
  return MakeUnexpected("language '" + lang + "' is not a polyglot language (" + known + ")");
}

std::string MissingPolyglotToolchain(const std::string& lang) {
  auto need = [](const std::vector<const char*>& programs) -> std::string {
    for (const char* p : programs) {
      if (!OnPath(p)) return std::string("`") + p + "` is not on PATH" + kSetupHint;
    }
    return "";
  };
  if (lang == "python") return need({"pytest"});
  if (lang == "cpp") return need({"cmake", "c++"});
  if (lang == "go") return need({"go"});
  if (lang == "rust") {
    return fs::exists("/usr/bin/cargo") ? "" : need({"cargo", "rustc"});
  }
  if (lang == "java") {
    if (auto m = need({"javac", "java"}); !m.empty()) return m;
    for (const char* jar : {"junit-platform-console-standalone.jar", "assertj-core.jar"}) {
      if (!fs::exists(fs::path(kJavaJars) / jar)) {
        return std::string(kJavaJars) + "/" + jar + " is missing" + kSetupHint;
      }
    }
    return "";
  }
  if (lang == "javascript") {
    if (auto m = need({"node"}); !m.empty()) return m;
    if (JestModulesDir().empty()) {
      return std::string("jest is not installed in .deps/eval-js (or $DSAGENT_EVAL_JS_DIR)") +
             kSetupHint;
    }
    return "";
  }
  return "unknown language '" + lang + "'";
}

std::string JestModulesDir() {
  auto has_jest = [](const fs::path& modules) {
    return fs::exists(modules / "jest" / "bin" / "jest.js") &&
           fs::exists(modules / "@exercism" / "babel-preset-javascript");
  };
  if (const char* env = std::getenv("DSAGENT_EVAL_JS_DIR"); env != nullptr && *env != '\0') {
    const fs::path p = fs::path(env).filename() == "node_modules" ? fs::path(env)
                                                                   : fs::path(env) / "node_modules";
    return has_jest(p) ? p.string() : "";
  }
  std::error_code ec;
  for (fs::path start : {fs::current_path(ec), fs::read_symlink("/proc/self/exe", ec).parent_path()}) {
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
      const fs::path modules = dir / ".deps" / "eval-js" / "node_modules";
      if (has_jest(modules)) return fs::weakly_canonical(modules, ec).string();
      if (dir == dir.root_path()) break;
    }
  }
  return "";
}

}  // namespace dsagent::evals
