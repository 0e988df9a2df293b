// SWE-bench's grading rules on crafted test logs: parse, then grade.
#include "evals/grading.h"

#include <gtest/gtest.h>

namespace dsagent::evals {
namespace {

TestsReport Grade(const std::string& pytest_log, std::vector<std::string> f2p,
                  std::vector<std::string> p2p) {
  return GradeTests(ParsePytestLog(pytest_log), f2p, p2p);
}

TEST(GradingTest, AllFailToPassPassingAndPassToPassKeptIsResolved) {
  const TestsReport r = Grade("PASSED t.py::fix\nPASSED t.py::old\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_EQ(r.resolution(), Resolution::kFull);
  EXPECT_TRUE(r.resolved());
  EXPECT_EQ(r.f2p_success, std::vector<std::string>{"t.py::fix"});
  EXPECT_EQ(r.p2p_success, std::vector<std::string>{"t.py::old"});
}

TEST(GradingTest, SkippedFailToPassIsAFailure) {
  // A patch that makes the new test skip must not count.
  const TestsReport r =
      Grade("t.py::fix SKIPPED (why) [ 50%]\nPASSED t.py::old\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_EQ(r.resolution(), Resolution::kNo);
  EXPECT_EQ(r.f2p_failure, std::vector<std::string>{"t.py::fix"});
}

TEST(GradingTest, SkippedPassToPassIsTolerated) {
  const TestsReport r =
      Grade("PASSED t.py::fix\nt.py::old SKIPPED (flaky) [ 50%]\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_TRUE(r.resolved());
  EXPECT_EQ(r.p2p_success, std::vector<std::string>{"t.py::old"});
}

TEST(GradingTest, MissingTestsAreFailuresOnBothLists) {
  const TestsReport missing_f2p = Grade("PASSED t.py::old\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_EQ(missing_f2p.resolution(), Resolution::kNo);
  const TestsReport missing_p2p = Grade("PASSED t.py::fix\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_EQ(missing_p2p.resolution(), Resolution::kNo);
  EXPECT_EQ(missing_p2p.p2p_failure, std::vector<std::string>{"t.py::old"});
  // A build that failed before any test ran: nothing parsed, nothing passes.
  const TestsReport nothing = Grade("error: compilation failed\n", {"t.py::fix"}, {"t.py::old"});
  EXPECT_EQ(nothing.resolution(), Resolution::kNo);
  EXPECT_EQ(nothing.f2p_rate(), 0);
  EXPECT_EQ(nothing.p2p_rate(), 0);
}

TEST(GradingTest, SomeFailToPassPassingIsPartialOnlyWhilePassToPassHolds) {
  const std::string log = "PASSED t.py::a\nFAILED t.py::b - x\nPASSED t.py::old\n";
  const TestsReport partial = Grade(log, {"t.py::a", "t.py::b"}, {"t.py::old"});
  EXPECT_EQ(partial.resolution(), Resolution::kPartial);
  EXPECT_FALSE(partial.resolved());
  EXPECT_DOUBLE_EQ(partial.f2p_rate(), 0.5);
  const TestsReport broke =
      Grade(log + "ERROR t.py::old2 - boom\n", {"t.py::a", "t.py::b"}, {"t.py::old", "t.py::old2"});
  EXPECT_EQ(broke.resolution(), Resolution::kNo);
  EXPECT_STREQ(ResolutionName(partial.resolution()), "RESOLVED_PARTIAL");
}

TEST(GradingTest, XfailCountsAsPassingAndEmptyListsCountAsOne) {
  const TestsReport r = Grade("XFAIL t.py::fix - known\n", {"t.py::fix"}, {});
  EXPECT_TRUE(r.resolved());
  EXPECT_EQ(r.p2p_rate(), 1);
  EXPECT_TRUE(GradeTests({}, {}, {}).resolved());  // as upstream: nothing to check
}

TEST(GradingTest, CtestAndGtestLogsGradeTheSameWay) {
  const std::string log =
      "1/3 Test #1: fixed .....   Passed    0.01 sec\n"
      "2/3 Test #2: kept ......***Failed    0.01 sec\n"
      "[       OK ] Suite.New (0 ms)\n";
  auto statuses = ParseTestResults("ctest", log, ".");
  ASSERT_TRUE(statuses);
  const TestsReport r = GradeTests(*statuses, {"fixed", "Suite.New"}, {"kept"});
  EXPECT_EQ(r.resolution(), Resolution::kNo);
  EXPECT_EQ(r.p2p_failure, std::vector<std::string>{"kept"});
  EXPECT_EQ(TestsReportToJson(r)["FAIL_TO_PASS"]["success"].size(), 2u);
}

}  // namespace
}  // namespace dsagent::evals
