#include "evals/grading.h"

#include <optional>

#include "common/name_table.h"

namespace dsagent::evals {
namespace {

// SWE-bench's names.
constexpr EnumName<Resolution> kResolutionNames[] = {{Resolution::kFull, "RESOLVED_FULL"},
                                                     {Resolution::kPartial, "RESOLVED_PARTIAL"},
                                                     {Resolution::kNo, "RESOLVED_NO"}};

double Rate(size_t success, size_t failure) {
  return success + failure == 0 ? 1.0 : static_cast<double>(success) / (success + failure);
}

}  // namespace

const char* ResolutionName(Resolution r) { return NameOf(kResolutionNames, r).data(); }

double TestsReport::f2p_rate() const { return Rate(f2p_success.size(), f2p_failure.size()); }
double TestsReport::p2p_rate() const { return Rate(p2p_success.size(), p2p_failure.size()); }

Resolution TestsReport::resolution() const {
  const double f2p = f2p_rate(), p2p = p2p_rate();
  if (f2p == 1 && p2p == 1) return Resolution::kFull;
  if (f2p < 1 && f2p > 0 && p2p == 1) return Resolution::kPartial;
  return Resolution::kNo;
}

TestsReport GradeTests(const TestStatusMap& statuses, const std::vector<std::string>& fail_to_pass,
                       const std::vector<std::string>& pass_to_pass) {
  auto status = [&](const std::string& test) -> std::optional<TestStatus> {
    auto it = statuses.find(test);
    if (it == statuses.end()) return std::nullopt;
    return it->second;
  };
  TestsReport r;
  for (const std::string& t : fail_to_pass) {
    auto s = status(t);
    const bool passed = s && (*s == TestStatus::kPassed || *s == TestStatus::kXfail);
    (passed ? r.f2p_success : r.f2p_failure).push_back(t);
  }
  for (const std::string& t : pass_to_pass) {
    auto s = status(t);
    const bool maintained =
        s && (*s == TestStatus::kPassed || *s == TestStatus::kXfail || *s == TestStatus::kSkipped);
    (maintained ? r.p2p_success : r.p2p_failure).push_back(t);
  }
  return r;
}

Json TestsReportToJson(const TestsReport& r) {
  return {{"FAIL_TO_PASS", {{"success", r.f2p_success}, {"failure", r.f2p_failure}}},
          {"PASS_TO_PASS", {{"success", r.p2p_success}, {"failure", r.p2p_failure}}}};
}

}  // namespace dsagent::evals
