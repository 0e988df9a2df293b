// The official harness's log parsers, on log samples in each supported format.
#include "evals/swebench_logs.h"

#include <gtest/gtest.h>

namespace dsagent::evals {
namespace {

using S = TestStatus;

TEST(SwebenchPytestLogTest, TheIdIsTheWordAfterTheStatusAsUpstreamSplitsIt) {
  // Tail of an astropy run with -rA.
  const std::string log =
      "=========================== short test summary info ============================\n"
      "PASSED astropy/io/ascii/tests/test_qdp.py::test_roundtrip[True]\n"
      "PASSED astropy/io/ascii/tests/test_qdp.py::test_read_example\n"
      "FAILED astropy/io/ascii/tests/test_qdp.py::test_roundtrip_example_comma - ValueError: "
      "could not convert\n"
      "SKIPPED [1] astropy/io/ascii/tests/test_qdp.py:201: needs scipy\n"
      "XFAIL astropy/io/ascii/tests/test_qdp.py::test_known\n"
      "ERROR astropy/io/ascii/tests/test_qdp.py::test_setup - RuntimeError\n"
      "PASSED tests/test_x.py::test_space[a b]\n"
      "========================= 1 failed, 3 passed in 0.41s =========================\n";
  EXPECT_EQ(ParseSwebenchPytestLog(log, false),
            (TestStatusMap{{"astropy/io/ascii/tests/test_qdp.py::test_roundtrip[True]", S::kPassed},
                           {"astropy/io/ascii/tests/test_qdp.py::test_read_example", S::kPassed},
                           {"astropy/io/ascii/tests/test_qdp.py::test_roundtrip_example_comma",
                            S::kFailed},
                           {"[1]", S::kSkipped},  // upstream keeps this word too
                           {"astropy/io/ascii/tests/test_qdp.py::test_known", S::kXfail},
                           {"astropy/io/ascii/tests/test_qdp.py::test_setup", S::kError},
                           // upstream splits on spaces: the id ends at the first one
                           {"tests/test_x.py::test_space[a", S::kPassed}}));
}

TEST(SwebenchPytestLogTest, OptionsVariantShortensPathParameters) {
  // psf/requests: parameters that are paths keep only their last component.
  const std::string log =
      "PASSED tests/test_requests.py::test_proxy[/home/u/.netrc]\n"
      "PASSED tests/test_requests.py::test_url[//example.com/a]\n"
      "FAILED tests/test_requests.py::test_plain - AssertionError\n";
  EXPECT_EQ(ParseSwebenchPytestLog(log, true),
            (TestStatusMap{{"tests/test_requests.py::test_proxy[/.netrc]", S::kPassed},
                           {"tests/test_requests.py::test_url[//example.com/a]", S::kPassed},
                           {"tests/test_requests.py::test_plain", S::kFailed}}));
}

TEST(DjangoLogTest, RunnerLinesSummaryBlocksAndInterruptedOks) {
  // ./tests/runtests.py --verbosity 2 output, old and new (3.2+: "(module.Class.test)") forms.
  const std::string log =
      "test_add (admin_views.tests.AdminViewBasicTest) ... ok\n"
      "test_change (admin_views.tests.AdminViewBasicTest.test_change) ... FAIL\n"
      "test_delete (admin_views.tests.AdminViewBasicTest) ... ERROR\n"
      "test_gis (gis_tests.tests.GISTest) ... skipped 'No GIS'\n"
      "test_noisy (logging_tests.tests.LogTest) ... Some log output\n"
      "ok\n"
      "test_check (check_framework.tests.CheckTest) ... System check identified no issues "
      "(0 silenced).\n"
      "ok\n"
      "======================================================================\n"
      "FAIL: test_change (admin_views.tests.AdminViewBasicTest.test_change)\n"
      "ERROR: test_other (admin_views.tests.OtherTest)\n"
      "----------------------------------------------------------------------\n"
      "Ran 6 tests in 0.120s\n\nFAILED (failures=1, errors=2, skipped=1)\n";
  const TestStatusMap m = ParseDjangoLog(log);
  EXPECT_EQ(m.at("test_add (admin_views.tests.AdminViewBasicTest)"), S::kPassed);
  EXPECT_EQ(m.at("test_change (admin_views.tests.AdminViewBasicTest.test_change)"), S::kFailed);
  EXPECT_EQ(m.at("test_delete (admin_views.tests.AdminViewBasicTest)"), S::kError);
  EXPECT_EQ(m.at("test_gis (gis_tests.tests.GISTest)"), S::kSkipped);
  EXPECT_EQ(m.at("test_noisy (logging_tests.tests.LogTest)"), S::kPassed);
  EXPECT_EQ(m.at("test_check (check_framework.tests.CheckTest)"), S::kPassed);
  // The summary blocks key on the first word after "FAIL:" / "ERROR:", as upstream splits them.
  EXPECT_EQ(m.at("test_change"), S::kFailed);
  EXPECT_EQ(m.at("test_other"), S::kError);
}

TEST(SympyLogTest, BinTestLinesAndFailureHeaders) {
  // bin/test -C --verbose output.
  const std::string log =
      "============================= test process starts ==============================\n"
      "sympy/core/tests/test_basic.py[3]\n"
      "test_equality ok\n"
      "test_matches_basic F\n"
      "test_has E\n"
      "\n"
      "________________________________________________________________________________\n"
      "______________ sympy/core/tests/test_basic.py:test_matches_basic _______________\n"
      "AssertionError\n"
      "=========== tests finished: 1 passed, 1 failed, 1 exceptions, in 0.11 seconds ==\n";
  const TestStatusMap m = ParseSympyLog(log);
  EXPECT_EQ(m.at("test_equality"), S::kPassed);
  EXPECT_EQ(m.at("test_matches_basic"), S::kFailed);
  EXPECT_EQ(m.at("test_has"), S::kError);
  EXPECT_EQ(m.at("sympy/core/tests/test_basic.py:test_matches_basic"), S::kFailed);
}

TEST(SwebenchFrameworkTest, RepositoriesGetTheHarnessParser) {
  EXPECT_EQ(SwebenchFrameworkForRepo("django/django"), "swebench:django");
  EXPECT_EQ(SwebenchFrameworkForRepo("sympy/sympy"), "swebench:sympy");
  EXPECT_EQ(SwebenchFrameworkForRepo("psf/requests"), "swebench:pytest_options");
  EXPECT_EQ(SwebenchFrameworkForRepo("astropy/astropy"), "swebench:pytest");
  auto via = ParseTestResults("swebench:django", "test_a (m.C) ... ok\n", ".");
  ASSERT_TRUE(via) << via.error();
  EXPECT_EQ(*via, (TestStatusMap{{"test_a (m.C)", S::kPassed}}));
}

}  // namespace
}  // namespace dsagent::evals
