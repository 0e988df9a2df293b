// SWE-bench's own log parsers (swebench/harness/log_parsers.py), reproduced so that the test ids a
// published SWE-bench / Lite / Verified row lists in FAIL_TO_PASS / PASS_TO_PASS are looked up
// exactly as the official harness derives them from a test log:
//   swebench:pytest          `-rA` summary lines, the id being the first word after the status
//                            (" - " in FAILED lines dropped first), as upstream splits on spaces
//   swebench:pytest_options  the same, with upstream's shortening of path-like parameters
//                            (`test_x[/a/b/c]` -> `test_x[/c]`) (psf/requests, pydicom, pylint)
//   swebench:django          Django's runner: `test_x (module.Class) ... ok|FAIL|ERROR|skipped`,
//                            `FAIL: test_x (module.Class)`, an `ok` on a later line
//   swebench:sympy           sympy's bin/test: `test_x ok|F|E`, `____ sympy/x.py:test_y ____`
// Each returns the same map test_log.h's parsers do. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "evals/test_log.h"

namespace dsagent::evals {

TestStatusMap ParseSwebenchPytestLog(std::string_view log, bool shorten_options);
TestStatusMap ParseDjangoLog(std::string_view log);
TestStatusMap ParseSympyLog(std::string_view log);

// The parser the official harness uses for a repository ("django/django" -> "swebench:django",
// "sympy/sympy" -> "swebench:sympy", requests/pydicom/pylint -> "swebench:pytest_options", any other
// -> "swebench:pytest"): the test_framework of a SWE-bench row that names none.
std::string SwebenchFrameworkForRepo(const std::string& repo);

}  // namespace dsagent::evals
