// SWE-bench's grading rules, exactly (swebench/harness/grading.py): a FAIL_TO_PASS test succeeds
// only when it PASSED or XFAILed — skipped, failed, errored or missing is a failure; a
// PASS_TO_PASS test is maintained when it passed or was skipped — failed, errored or missing is a
// failure. Each rate is success / (success + failure), 1 for an empty list. RESOLVED_FULL: both
// rates are 1; RESOLVED_PARTIAL: 0 < FAIL_TO_PASS rate < 1 and PASS_TO_PASS rate 1 (a diagnostic;
// not resolved); RESOLVED_NO otherwise. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "evals/test_log.h"

namespace dsagent::evals {

enum class Resolution { kFull, kPartial, kNo };

const char* ResolutionName(Resolution r);  // "RESOLVED_FULL", "RESOLVED_PARTIAL", "RESOLVED_NO"

struct TestsReport {
  std::vector<std::string> f2p_success, f2p_failure;
  std::vector<std::string> p2p_success, p2p_failure;
  double f2p_rate() const;
  double p2p_rate() const;
  Resolution resolution() const;
  bool resolved() const { return resolution() == Resolution::kFull; }
};

TestsReport GradeTests(const TestStatusMap& statuses, const std::vector<std::string>& fail_to_pass,
                       const std::vector<std::string>& pass_to_pass);

// {"FAIL_TO_PASS":{"success":[...],"failure":[...]},"PASS_TO_PASS":{...}} as SWE-bench's
// report.json writes tests_status.
Json TestsReportToJson(const TestsReport& report);

}  // namespace dsagent::evals
