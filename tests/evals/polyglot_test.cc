// The Aider polyglot layout, on the team-written fixture in tests/data/polyglot.
#include "evals/polyglot.h"

#include <gtest/gtest.h>

#include "evals/runner.h"
#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {
namespace fs = std::filesystem;

const fs::path kFixture = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/polyglot";

TEST(PythonTestIdsTest, UnittestMethodsAndModuleFunctions) {
  const std::string source =
      "import unittest\n\n\nclass AddTest(unittest.TestCase):\n    def setUp(self):\n"
      "        pass\n\n    def test_one(self):\n        pass\n\n    def helper(self):\n"
      "        pass\n\n    def test_two(self):\n        pass\n\n\n"
      "def test_free():\n    pass\n\n\nif __name__ == '__main__':\n    unittest.main()\n";
  EXPECT_EQ(PythonTestIds("add_test.py", source),
            (std::vector<std::string>{"add_test.py::AddTest::test_one",
                                      "add_test.py::AddTest::test_two", "add_test.py::test_free"}));
}

TEST(CatchTestIdsTest, TestCaseNamesAsCatchJunitNamesThem) {
  const std::string source =
      "#include \"test/catch.hpp\"\nTEST_CASE(\"empty strands\") { REQUIRE(true); }\n"
      "#if defined(EXERCISM_RUN_ALL_TESTS)\nTEST_CASE( \"quoted \\\"x\\\"\", \"[tag]\") {}\n"
      "// MY_TEST_CASE(\"not a test\")\n#endif\n";
  EXPECT_EQ(
      CatchTestIds("x_test.cpp", source),
      (std::vector<std::string>{"tests.global::empty strands", "tests.global::quoted \\\"x\\\""}));
}

TEST(LoadPolyglotTest, ExercisesBecomeTasksWithHiddenTestsAndTheExampleAsGold) {
  auto tasks = LoadTasks({.tasks = kFixture / "python", .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  ASSERT_EQ(tasks->size(), 2u);
  const EvalTask& leap = (*tasks)[0];
  EXPECT_EQ(leap.instance_id, "polyglot__python-leap-year");
  EXPECT_EQ(leap.repo, "polyglot/python");
  EXPECT_EQ(leap.tries, 2);
  EXPECT_EQ(leap.fail_to_pass.size(), 4u);
  EXPECT_EQ(leap.fail_to_pass[0], "leap_year_test.py::LeapYearTest::test_ordinary_year");
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
  EXPECT_EQ(
      t.fail_to_pass,
      (std::vector<std::string>{
          "tests.global::empty strands", "tests.global::single letter different strands",
          "tests.global::long different strands", "tests.global::disallow first strand longer"}));
  EXPECT_EQ(t.test_framework, "junit:report.xml");
  EXPECT_NE(t.test_cmd.find("cmake"), std::string::npos);
  // Both solution files get their example: the header is unchanged, the source is replaced.
  EXPECT_NE(t.patch.find("+  if (a.size() != b.size()) throw"), std::string::npos) << t.patch;
  EXPECT_NE(t.problem_statement.find("hamming.cpp, hamming.h"), std::string::npos);
}

TEST(LoadPolyglotTest, UnsupportedLanguagesAndEmptyFoldersAreErrors) {
  TempDir dir;
  dir.Write(
      "java/exercises/practice/x/.meta/config.json",
      R"({"files": {"solution": ["X.java"], "test": ["XTest.java"], "example": ["E.java"]}})");
  auto java = LoadPolyglot(dir.path());
  ASSERT_FALSE(java);
  EXPECT_NE(java.error().find("'java' is not supported"), std::string::npos) << java.error();
  EXPECT_FALSE(LoadPolyglot(dir.path() / "java/exercises/practice/x/.meta"));
}

TEST(LoadPolyglotTest, OracleResolvesTheFixtureAndNoopDoesNot) {
  auto tasks = LoadTasks({.tasks = kFixture, .format = "polyglot"});
  ASSERT_TRUE(tasks) << tasks.error();
  TempDir out;
  for (const char* agent : {"oracle", "noop"}) {
    EvalOptions o;
    o.agent = agent;
    o.jobs = 2;
    o.out_dir = out.path() / agent;
    auto s = RunEval(*tasks, o, nullptr, CancelToken());
    ASSERT_TRUE(s) << s.error().message;
    const bool oracle = std::string(agent) == "oracle";
    EXPECT_EQ((*s)["resolved_instances"], oracle ? 3 : 0) << s->dump(2);
    EXPECT_EQ((*s)["error_instances"], 0);
    // Only the real agent gets a second try; the baselines have one verdict each.
    EXPECT_EQ((*s)["pass_rate_1"], oracle ? 1.0 : 0.0);
    EXPECT_EQ((*s)["pass_rate_2"], oracle ? 1.0 : 0.0);
  }
}

}  // namespace
}  // namespace dsagent::evals
