#include "evals/test_log.h"

#include <gtest/gtest.h>

#include <utility>

#include "tests/support/temp_dir.h"

namespace dsagent::evals {
namespace {

using S = TestStatus;

// The names are SWE-bench's (reports and FAIL_TO_PASS lookups use them as written).
TEST(TestStatusNameTest, SwebenchNamesRoundTrip) {
  const std::pair<S, const char*> names[] = {{S::kPassed, "PASSED"},
                                             {S::kFailed, "FAILED"},
                                             {S::kSkipped, "SKIPPED"},
                                             {S::kError, "ERROR"},
                                             {S::kXfail, "XFAIL"}};
  for (const auto& [status, name] : names) {
    EXPECT_STREQ(TestStatusName(status), name);
    EXPECT_EQ(ParseTestStatus(name), status) << name;
  }
  EXPECT_FALSE(ParseTestStatus("XPASS"));  // pytest's word, mapped by the pytest parser only
  EXPECT_FALSE(ParseTestStatus("passed"));
}

TEST(PytestLogTest, ShortSummaryLinesGiveEachTestItsStatus) {
  const std::string log =
      "============================= test session starts ==============================\n"
      "collected 5 items\n\n"
      "tests/test_a.py .F.sx                                                    [100%]\n"
      "=========================== short test summary info ============================\n"
      "PASSED tests/test_a.py::test_one\n"
      "PASSED tests/test_a.py::test_param[1-2]\n"
      "FAILED tests/test_a.py::test_two - AssertionError: assert 1 == 2\n"
      "SKIPPED [1] tests/test_a.py:12: needs network\n"
      "XFAIL tests/test_a.py::test_known - bug 12\n"
      "XPASS tests/test_a.py::test_lucky\n"
      "ERROR tests/test_a.py::test_fixture - RuntimeError\n"
      "=================== 1 failed, 2 passed, 1 skipped in 0.05s ====================\n";
  const TestStatusMap m = ParsePytestLog(log);
  EXPECT_EQ(m, (TestStatusMap{{"tests/test_a.py::test_one", S::kPassed},
                              {"tests/test_a.py::test_param[1-2]", S::kPassed},
                              {"tests/test_a.py::test_two", S::kFailed},
                              {"tests/test_a.py::test_known", S::kXfail},
                              {"tests/test_a.py::test_lucky", S::kPassed},
                              {"tests/test_a.py::test_fixture", S::kError}}));
}

TEST(PytestLogTest, VerboseLinesNameSkippedTestsAndLaterLinesWin) {
  const std::string log =
      "tests/t.py::test_a PASSED                                                [ 33%]\n"
      "tests/t.py::test_s SKIPPED (no gpu)                                      [ 66%]\n"
      "tests/t.py::test_b PASSED                                                [100%]\n"
      "tests/t.py::test_b ERROR                                                 [100%]\n";
  const TestStatusMap m = ParsePytestLog(log);
  EXPECT_EQ(m, (TestStatusMap{{"tests/t.py::test_a", S::kPassed},
                              {"tests/t.py::test_s", S::kSkipped},
                              {"tests/t.py::test_b", S::kError}}));
}

TEST(PytestLogTest, ParametrisedIdsKeepSpacesBracketsAndDashes) {
  const std::string log =
      "PASSED tests/t.py::test_add[1 + 1-2]\n"
      "FAILED tests/t.py::test_sub[a - b] - AssertionError: [1] != [2]\n"
      "FAILED tests/t.py::Test::test_x[x[0]] - KeyError: 'k - v'\n"
      "PASSED tests/t.py::test_plain\n";
  EXPECT_EQ(ParsePytestLog(log), (TestStatusMap{{"tests/t.py::test_add[1 + 1-2]", S::kPassed},
                                                {"tests/t.py::test_sub[a - b]", S::kFailed},
                                                {"tests/t.py::Test::test_x[x[0]]", S::kFailed},
                                                {"tests/t.py::test_plain", S::kPassed}}));
}

TEST(GoTestLogTest, SubtestsAreNamedWithTheirPaths) {
  // `go test -v` of a table test with one failing case, and a skipped test.
  const std::string log =
      "=== RUN   TestEncode\n=== RUN   TestEncode/empty_plaintext_results_in_an_empty_ciphertext\n"
      "=== RUN   TestEncode/8_character_plaintext\n"
      "    crypto_square_test.go:80: Encode(\"Chill out.\") = \"clu\", want \"clu hlt io \"\n"
      "--- FAIL: TestEncode (0.00s)\n"
      "    --- PASS: TestEncode/empty_plaintext_results_in_an_empty_ciphertext (0.00s)\n"
      "    --- FAIL: TestEncode/8_character_plaintext (0.00s)\n"
      "=== RUN   TestSlow\n    x_test.go:9: short mode\n--- SKIP: TestSlow (0.00s)\n"
      "=== RUN   TestOk\n--- PASS: TestOk (0.01s)\nFAIL\nFAIL\tcryptosquare\t0.004s\n";
  EXPECT_EQ(
      ParseGoTestLog(log),
      (TestStatusMap{{"TestEncode", S::kFailed},
                     {"TestEncode/empty_plaintext_results_in_an_empty_ciphertext", S::kPassed},
                     {"TestEncode/8_character_plaintext", S::kFailed},
                     {"TestSlow", S::kSkipped},
                     {"TestOk", S::kPassed}}));
}

TEST(CargoTestLogTest, IdsCarryTheTestTargetAndModulePath) {
  // cargo 1.65's output: unit tests, an integration test file, doc tests.
  const std::string log =
      "   Compiling luhn-from v0.0.0 (/tmp/x)\n"
      "    Finished test [unoptimized + debuginfo] target(s) in 1.62s\n"
      "     Running unittests src/lib.rs (target/debug/deps/luhn_from-3f0e)\n\n"
      "running 1 test\ntest tests::helper_works ... ok\n\n"
      "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\n"
      "     Running tests/luhn-from.rs (target/debug/deps/luhn_from-1a2b)\n\n"
      "running 3 tests\ntest you_can_validate_from_a_str ... ok\n"
      "test input_digit_9_is_still_correctly_converted_to_output_digit_9 ... FAILED\n"
      "test slow_case ... ignored, takes a minute\n\n"
      "   Doc-tests luhn-from\n\nrunning 1 test\n"
      "test src/lib.rs - Luhn (line 3) ... ok\n";
  EXPECT_EQ(ParseCargoTestLog(log),
            (TestStatusMap{
                {"src/lib.rs::tests::helper_works", S::kPassed},
                {"tests/luhn-from.rs::you_can_validate_from_a_str", S::kPassed},
                {"tests/luhn-from.rs::input_digit_9_is_still_correctly_converted_to_output_digit_9",
                 S::kFailed},
                {"tests/luhn-from.rs::slow_case", S::kSkipped},
                {"doc-tests::src/lib.rs - Luhn (line 3)", S::kPassed}}));
}

TEST(JestJsonTest, DescribeBlocksPrefixEachTitle) {
  TempDir dir;
  // The shape of `jest --json` (trimmed): absolute test file paths, nested describe blocks.
  const std::string report = R"({"numTotalTests": 4, "testResults": [{"name": ")" +
                             dir.path().string() +
                             R"(/binary.spec.js", "status": "failed", "assertionResults": [
        {"ancestorTitles": ["binary"], "title": "0 is decimal 0", "status": "passed"},
        {"ancestorTitles": ["binary", "invalid input"], "title": "12 is invalid",
         "status": "failed"},
        {"ancestorTitles": [], "title": "top level", "status": "pending"},
        {"ancestorTitles": ["binary"], "title": "later", "status": "todo"}]},
       {"name": "/elsewhere/other.spec.js", "status": "failed", "assertionResults": []}]})";
  EXPECT_EQ(ParseJestJson(report, dir.path()),
            (TestStatusMap{{"binary.spec.js::binary > 0 is decimal 0", S::kPassed},
                           {"binary.spec.js::binary > invalid input > 12 is invalid", S::kFailed},
                           {"binary.spec.js::top level", S::kSkipped},
                           {"binary.spec.js::binary > later", S::kSkipped}}));
  dir.Write(".jest-report.json", report);
  auto via = ParseTestResults("jest:.jest-report.json", "", dir.path());
  ASSERT_TRUE(via) << via.error();
  EXPECT_EQ(via->size(), 4u);
  EXPECT_TRUE(ParseJestJson("not json", dir.path()).empty());
}

TEST(CtestLogTest, ClassifiesEveryCtestOutcome) {
  const std::string log =
      "Test project /tmp/x/build\n"
      "    Start 1: add_basic\n"
      "1/6 Test #1: add_basic ........................   Passed    0.00 sec\n"
      "2/6 Test #2: add_zero .........................***Failed    0.01 sec\n"
      "3/6 Test #3: slow .............................***Timeout  10.00 sec\n"
      "4/6 Test #4: crashes ..........................***Exception: SegFault  0.01 sec\n"
      "5/6 Test #5: optional .........................***Skipped   0.00 sec\n"
      "    Test #6: off ..............................***Not Run (Disabled)   0.00 sec\n"
      "67% tests passed, 2 tests failed out of 6\n";
  EXPECT_EQ(ParseCtestLog(log), (TestStatusMap{{"add_basic", S::kPassed},
                                               {"add_zero", S::kFailed},
                                               {"slow", S::kFailed},
                                               {"crashes", S::kFailed},
                                               {"optional", S::kSkipped},
                                               {"off", S::kSkipped}}));
}

TEST(GtestLogTest, OutcomesCrashesAndCtestPrefixes) {
  const std::string log =
      "[==========] Running 4 tests from 2 test suites.\n"
      "1: [ RUN      ] Math.Adds\n"
      "1: [       OK ] Math.Adds (0 ms)\n"
      "[ RUN      ] Math.Divides\n"
      "math_test.cc:12: Failure\n"
      "[  FAILED  ] Math.Divides (0 ms)\n"
      "[ RUN      ] Param/Shape.Area/0\n"
      "[  SKIPPED ] Param/Shape.Area/0 (0 ms)\n"
      "[ RUN      ] Math.Crashes\n"
      "Segmentation fault\n"
      "[  FAILED  ] 1 test, listed below:\n"
      "[  FAILED  ] Math.Divides\n";
  EXPECT_EQ(ParseGtestLog(log), (TestStatusMap{{"Math.Adds", S::kPassed},
                                               {"Math.Divides", S::kFailed},
                                               {"Param/Shape.Area/0", S::kSkipped},
                                               {"Math.Crashes", S::kFailed}}));
}

TEST(JunitXmlTest, TestcaseChildrenDecideTheStatus) {
  const std::string xml = R"(<?xml version="1.0"?>
<testsuites><testsuite name="s">
  <testcase classname="pkg.Mod" name="ok_one" time="0.1"/>
  <testcase classname="pkg.Mod" name="bad"><failure message="x">trace</failure></testcase>
  <testcase classname="pkg.Mod" name="boom"><error message="y"/></testcase>
  <testcase classname="" name="skip &amp; go"><skipped/></testcase>
</testsuite></testsuites>)";
  EXPECT_EQ(ParseJunitXml(xml), (TestStatusMap{{"pkg.Mod::ok_one", S::kPassed},
                                               {"pkg.Mod::bad", S::kFailed},
                                               {"pkg.Mod::boom", S::kError},
                                               {"skip & go", S::kSkipped}}));
}

TEST(JunitXmlTest, AttributeValuesMayHoldAngleBrackets) {
  // Catch2's JUnit reporter (allergies: SECTIONs are "<case>/<section>", names hold "->").
  const std::string xml =
      "<testsuite name=\"tests\" tests=\"3\">\n"
      "  <testcase classname=\"tests.global\" name=\"eggs allergy -> not allergic\" "
      "time=\"0.1\" status=\"run\"/>\n"
      "  <testcase classname=\"tests.global\" name=\"a > b/section one\" status=\"run\">\n"
      "    <failure message=\"x &gt; y\" type=\"REQUIRE\">at t.cpp:3</failure>\n"
      "  </testcase>\n"
      "  <testcase classname='tests.global' name='c'/>\n</testsuite>\n";
  EXPECT_EQ(ParseJunitXml(xml),
            (TestStatusMap{{"tests.global::eggs allergy -> not allergic", S::kPassed},
                           {"tests.global::a > b/section one", S::kFailed},
                           {"tests.global::c", S::kPassed}}));
}

TEST(JunitXmlTest, LongAttributeValuesAndLookalikeNamesAreRead) {
  // A JUnit report's values can be megabytes (failure messages, the class path among the
  // properties); reading them must not recurse per character. `classname=` and `xname=` hold
  // "name=" without being the name attribute.
  const std::string long_name(2'000'000, 'n');
  const std::string xml = "<testsuite><properties><property name=\"java.class.path\" value=\"" +
                          std::string(2'000'000, 'p') +
                          "\"/></properties>\n"
                          "<testcase xname=\"no\" classname=\"C\" name = '" +
                          long_name + "'><failure message=\"" + std::string(2'000'000, 'm') +
                          "\"/></testcase></testsuite>";
  EXPECT_EQ(ParseJunitXml(xml), (TestStatusMap{{"C::" + long_name, S::kFailed}}));
}

TEST(ParseTestResultsTest, DispatchesOnFrameworkAndReadsJunitReports) {
  TempDir dir;
  dir.Write("out/report.xml", "<testcase classname=\"c\" name=\"t\"/>");
  auto junit = ParseTestResults("junit:out/report.xml", "", dir.path());
  ASSERT_TRUE(junit) << junit.error();
  EXPECT_EQ(*junit, (TestStatusMap{{"c::t", S::kPassed}}));
  auto missing = ParseTestResults("junit:none.xml", "", dir.path());
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());

  const std::string mixed =
      "1/1 Test #1: unit .....   Passed    0.01 sec\n[       OK ] A.B (0 ms)\n"
      "PASSED t.py::test_x\n";
  auto ctest = ParseTestResults("ctest", mixed, dir.path());
  ASSERT_TRUE(ctest);
  EXPECT_EQ(ctest->size(), 2u);  // ctest + gtest lines, not pytest
  auto any = ParseTestResults("", mixed, dir.path());
  ASSERT_TRUE(any);
  EXPECT_EQ(any->size(), 3u);
  EXPECT_FALSE(ParseTestResults("mocha", mixed, dir.path()));
  auto go = ParseTestResults("go", "--- PASS: TestA (0.00s)\n", dir.path());
  ASSERT_TRUE(go);
  EXPECT_EQ(*go, (TestStatusMap{{"TestA", S::kPassed}}));
  auto cargo = ParseTestResults("cargo", "test a ... ok\n", dir.path());
  ASSERT_TRUE(cargo);
  EXPECT_EQ(*cargo, (TestStatusMap{{"a", S::kPassed}}));
}

}  // namespace
}  // namespace dsagent::evals
