// Per-test results from a test run's output, as SWE-bench's log parsers produce them: a map from
// test name to PASSED / FAILED / SKIPPED / ERROR / XFAIL. Formats: pytest (`-rA` short summary
// lines and `-v` lines), CTest (`Test #N: name ....   Passed`), GoogleTest (`[       OK ] S.T`),
// JUnit XML (a report file). Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent::evals {

enum class TestStatus { kPassed, kFailed, kSkipped, kError, kXfail };

using TestStatusMap = std::map<std::string, TestStatus>;

const char* TestStatusName(TestStatus s);  // "PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"

// Test ids are `path::name[params]` as pytest prints them. A later line for the same test wins
// (the short summary after the verbose line; a teardown ERROR after PASSED). XPASS counts as
// PASSED (a strict xfail that passes is reported FAILED by pytest itself).
TestStatusMap ParsePytestLog(std::string_view log);

// Test names as registered with add_test(). Passed -> PASSED; Skipped / Not Run (Disabled) ->
// SKIPPED; anything else (Failed, Not Run, Timeout, Exception, ...) -> FAILED. Accepts lines with
// or without the "k/n " counter.
TestStatusMap ParseCtestLog(std::string_view log);

// Test names `Suite.Test` (with `Suite/Param.Test/N` forms). `[ OK ]` -> PASSED, `[ FAILED ]` ->
// FAILED, `[ SKIPPED ]` -> SKIPPED; a `[ RUN ]` with no outcome (the binary crashed) -> FAILED.
// Lines may carry ctest -V's "N: " prefix.
TestStatusMap ParseGtestLog(std::string_view log);

// <testcase name=".." classname=".."> elements; the id is "classname::name" (or name alone when
// classname is empty). A <failure> child -> FAILED, <error> -> ERROR, <skipped> -> SKIPPED,
// otherwise PASSED.
TestStatusMap ParseJunitXml(std::string_view xml);

// Dispatch on a task's test_framework: "pytest", "ctest" (CTest lines plus any GoogleTest lines in
// its output), "gtest", "junit:<report path relative to workdir>", or "" (every console parser,
// merged). Error: an unknown framework or an unreadable JUnit report (a missing report yields an
// empty map: every test then counts as missing).
Expected<TestStatusMap, std::string> ParseTestResults(const std::string& framework,
                                                      std::string_view log,
                                                      const std::filesystem::path& workdir);

}  // namespace dsagent::evals
