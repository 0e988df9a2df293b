// The Aider polyglot layout, on the team-written fixture in tests/data/polyglot.
#include "evals/polyglot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/file_io.h"
#include "evals/polyglot_languages.h"
#include "evals/report.h"
#include "evals/runner.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {
namespace fs = std::filesystem;

const fs::path kFixture = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/polyglot";

TEST(LoadPolyglotTest, ExercisesBecomeTasksWithHiddenTestsAndTheExampleAsGold) {
  auto tasks = LoadTasks({.tasks = kFixture / "python", .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 2u);
  const EvalTask& leap = (*tasks)[0];
  EXPECT_EQ(leap.instance_id, "polyglot__python-leap-year");
  EXPECT_EQ(leap.repo, "polyglot/python");
  EXPECT_EQ(leap.tries, 2);
  // The test ids come from the runner's report of the gold run, not from reading the tests.
  EXPECT_TRUE(leap.fail_to_pass.empty());
  EXPECT_TRUE(leap.fail_to_pass_from_gold);
  EXPECT_TRUE(leap.pass_to_pass.empty());
  EXPECT_NE(leap.problem_statement.find("divisible by 4"), std::string::npos);
  EXPECT_NE(leap.problem_statement.find("modify the supplied files: leap_year.py"),
            std::string::npos);
  EXPECT_NE(leap.patch.find("+    return year % 4 == 0"), std::string::npos) << leap.patch;
  EXPECT_NE(leap.test_patch.find("new file mode"), std::string::npos);
  EXPECT_EQ(leap.source.kind, RepoSource::Kind::kFiles);
  EXPECT_EQ(leap.source.exclude, (std::vector<std::string>{".meta", "leap_year_test.py"}));
  // The introduction comes before the instructions.
  const std::string& rle = (*tasks)[1].problem_statement;
  EXPECT_LT(rle.find("Run-length encoding stores"), rle.find("Implement `encode"));

  auto one =
      LoadTasks({.tasks = kFixture / "python/exercises/practice/run-length", .format = "polyglot"});
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(one->size(), 1u);
}

TEST(LoadPolyglotTest, CppExercisesBuildWithCmakeAndGradeFromCatchJunit) {
  auto tasks = LoadTasks({.tasks = kFixture / "cpp", .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 1u);
  const EvalTask& t = (*tasks)[0];
  EXPECT_EQ(t.instance_id, "polyglot__cpp-hamming");
  EXPECT_EQ(t.test_framework, "junit:report.xml");
  EXPECT_EQ(t.checkout_name, "hamming");
  EXPECT_NE(t.test_cmd.find("cmake"), std::string::npos);
  // Both solution files get their example: the header is unchanged, the source is replaced.
  EXPECT_NE(t.patch.find("+  if (a.size() != b.size()) throw"), std::string::npos) << t.patch;
  EXPECT_NE(t.problem_statement.find("hamming.cpp, hamming.h"), std::string::npos);
}

// Rust's grep: the reference solution uses thiserror, which only its own manifest
// (.meta/Cargo-example.toml) declares; the gold patch puts that manifest in place of the stub's.
TEST(LoadPolyglotTest, RustGoldTakesTheExampleManifest) {
  if (std::string missing = MissingPolyglotToolchain("rust"); !missing.empty()) {
    GTEST_SKIP() << missing;
  }
  TempDir root;
  const std::string ex = "rust/exercises/practice/grep/";
  root.Write(ex + ".meta/config.json",
             R"({"files": {"solution": ["src/lib.rs", "Cargo.toml"], "test": ["tests/grep.rs"],
                 "example": [".meta/example.rs"]}})");
  root.Write(ex + ".meta/example.rs", "#[derive(Debug, thiserror::Error)]\n");
  root.Write(ex + ".meta/Cargo-example.toml",
             "[dependencies]\nanyhow = \"1.0\"\nthiserror = \"1.0\"\n");
  root.Write(ex + "Cargo.toml", "[dependencies]\nanyhow = \"1.0\"\n");
  root.Write(ex + "src/lib.rs", "pub fn grep() {}\n");
  root.Write(ex + "tests/grep.rs", "#[test]\nfn t() {}\n");
  // The trailing slash (shell completion's) names the exercise folder too.
  auto tasks = LoadTasks({.tasks = root.path() / ex, .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 1u);
  const std::string& patch = (*tasks)[0].patch;
  EXPECT_NE(patch.find("+++ b/Cargo.toml"), std::string::npos) << patch;
  EXPECT_NE(patch.find("+thiserror = \"1.0\""), std::string::npos) << patch;
  EXPECT_NE(patch.find("+#[derive(Debug, thiserror::Error)]"), std::string::npos) << patch;
  EXPECT_EQ(patch.find("Cargo-example.toml"), std::string::npos) << patch;

  // Without an example manifest the stub's Cargo.toml stays (luhn-from).
  auto plain = LoadTasks({.tasks = kFixture / "rust", .format = "polyglot"});
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ((*plain)[0].patch.find("Cargo.toml"), std::string::npos) << (*plain)[0].patch;
}

TEST(LoadPolyglotTest, UnknownLanguagesAndEmptyFoldersAreErrors) {
  TempDir dir;
  dir.Write("cobol/exercises/practice/x/.meta/config.json",
            R"({"files": {"solution": ["X.cob"], "test": ["XTest.cob"], "example": ["E.cob"]}})");
  auto cobol = LoadPolyglot(dir.path());
  ASSERT_FALSE(cobol);
  EXPECT_NE(cobol.error().find("'cobol' is not a polyglot language"), std::string::npos)
      << cobol.error();
  EXPECT_FALSE(LoadPolyglot(dir.path() / "cobol/exercises/practice/x/.meta"));
}

TEST(GoldTargetsTest, ExamplesReplaceTheirSolutionFileOrJoinIt) {
  // C++: paired by extension; Rust: Cargo.toml has no example and stays; Java: helper classes
  // of the reference solution become new files beside the solution; a header-only example.
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(GoldTargets({"hamming.cpp", "hamming.h"}, {".meta/example.cpp", ".meta/example.h"}),
            (Pairs{{".meta/example.cpp", "hamming.cpp"}, {".meta/example.h", "hamming.h"}}));
  EXPECT_EQ(GoldTargets({"src/lib.rs", "Cargo.toml"}, {".meta/example.rs"}),
            (Pairs{{".meta/example.rs", "src/lib.rs"}}));
  EXPECT_EQ(GoldTargets({"src/main/java/Poker.java"}, {".meta/src/reference/java/Card.java",
                                                       ".meta/src/reference/java/Poker.java"}),
            (Pairs{{".meta/src/reference/java/Poker.java", "src/main/java/Poker.java"},
                   {".meta/src/reference/java/Card.java", "src/main/java/Card.java"}}));
  EXPECT_EQ(GoldTargets({"meetup.cpp", "meetup.h"}, {".meta/example.h"}),
            (Pairs{{".meta/example.h", "meetup.h"}}));
}

// One exercise per language through the real toolchain: the gold run names the tests from the
// runner's own report, the oracle resolves the exercise and noop does not. Skips, saying what to
// install, where the language's toolchain is missing (scripts/setup-eval-toolchains.sh).
struct LanguageCase {
  const char* lang;
  const char* exercise;
  const char* id_sample;  // one test id the runner's report must name, exactly
  size_t tests;           // how many tests the gold run reports
};

void PrintTo(const LanguageCase& c, std::ostream* os) { *os << c.lang << "/" << c.exercise; }

// Cache hits in $CCACHE_DIR (`ccache --print-stats`, ccache >= 4), -1 when unreadable.
int CcacheHits() {
  FILE* p = ::popen("ccache --print-stats", "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  ::pclose(p);
  int hits = -1;
  std::istringstream lines(text);
  for (std::string key, value; lines >> key >> value;) {
    if (key == "direct_cache_hit" || key == "preprocessed_cache_hit") {
      hits = (hits < 0 ? 0 : hits) + std::stoi(value);
    }
  }
  return hits;
}

class PolyglotLanguageTest : public ::testing::TestWithParam<LanguageCase> {};

TEST_P(PolyglotLanguageTest, GoldRunNamesTheTestsOracleResolvesNoopDoesNot) {
  const LanguageCase& c = GetParam();
  if (std::string missing = MissingPolyglotToolchain(c.lang); !missing.empty()) {
    GTEST_SKIP() << c.lang << ": " << missing;
  }
  auto tasks = LoadTasks(
      {.tasks = kFixture / c.lang / "exercises/practice" / c.exercise, .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 1u);
  TempDir out;
  // C++ compiles through ccache where it is installed: Catch2's main (test/tests-main.cpp) is
  // compiled by the gold run and taken from the cache by the oracle and noop runs.
  const bool ccache =
      std::string(c.lang) == "cpp" && std::system("command -v ccache >/dev/null") == 0;
  if (ccache) ::setenv("CCACHE_DIR", (out.path() / "ccache").c_str(), 1);
  for (const char* agent : {"oracle", "noop"}) {
    EvalOptions o;
    o.agent = agent;
    o.out_dir = out.path() / agent;
    o.test_ids_cache = out.path() / "test-ids";  // the noop run reuses the oracle run's gold run
    auto s = RunEval(*tasks, o, nullptr, CancelToken());
    ASSERT_TRUE(s) << s.error().message;
    const bool oracle = std::string(agent) == "oracle";
    auto text = ReadFileToString(ResultPath(o.out_dir, (*tasks)[0].instance_id));
    ASSERT_TRUE(text);
    const Json r = Json::parse(*text);
    EXPECT_EQ((*s)["resolved_instances"], oracle ? 1 : 0) << r.dump(2);
    EXPECT_EQ((*s)["error_instances"], 0) << r.dump(2);
    const Json& f2p = r["tests_status"]["FAIL_TO_PASS"];
    const Json ids = f2p[oracle ? "success" : "failure"];
    EXPECT_EQ(ids.size(), c.tests) << ids.dump(1);
    EXPECT_TRUE(f2p[oracle ? "failure" : "success"].empty()) << r.dump(2);
    EXPECT_NE(std::find(ids.begin(), ids.end(), Json(c.id_sample)), ids.end()) << ids.dump(1);
    EXPECT_FALSE(r.contains("gold_failed_tests")) << r.dump(2);
    // Build outputs never reach the patch.
    EXPECT_EQ(r["model_patch"].get<std::string>().find("target/"), std::string::npos);
  }
  if (ccache) {
    // Oracle: all three objects hit (same files as the gold run); noop: the test and Catch2's
    // main hit, the stub misses.
    EXPECT_EQ(CcacheHits(), 5);
    ::unsetenv("CCACHE_DIR");
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllSix, PolyglotLanguageTest,
    ::testing::Values(
        LanguageCase{"python", "leap-year", "leap_year_test.py::LeapYearTest::test_ordinary_year",
                     4},
        LanguageCase{"cpp", "hamming", "tests.global::sections/identical strands", 6},
        LanguageCase{"go", "crypto-square", "TestEncode/1,_2,_3_GO!", 20},
        LanguageCase{"rust", "luhn-from", "tests/luhn-from.rs::you_can_validate_from_a_str", 14},
        LanguageCase{"java", "series", "SeriesTest::slicesOfTwoOverlap()", 11},
        LanguageCase{"javascript", "binary", "binary.spec.js::binary > 0 is decimal 0", 10}),
    [](const ::testing::TestParamInfo<LanguageCase>& p) { return std::string(p.param.lang); });

}  // namespace
}  // namespace dsagent::evals
