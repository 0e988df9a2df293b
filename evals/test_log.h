// Per-test results from a test run's output, as SWE-bench's log parsers produce them: a map from
// test name to PASSED / FAILED / SKIPPED / ERROR / XFAIL. Formats: pytest (`-rA` short summary
// lines and `-v` lines), CTest (`Test #N: name ....   Passed`), GoogleTest (`[       OK ] S.T`),
// JUnit XML (a report file), `go test -v`, `cargo test`, Jest's JSON report. Pure functions;
// thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent::evals {

enum class TestStatus { kPassed, kFailed, kSkipped, kError, kXfail };

using TestStatusMap = std::map<std::string, TestStatus>;

const char* TestStatusName(TestStatus s);  // "PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"
// The status TestStatusName gives exactly that name; nullopt for any other word.
std::optional<TestStatus> ParseTestStatus(std::string_view name);

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

// `go test -v` lines `--- PASS: TestX/sub_case (0.00s)` (indented for subtests): ids are the
// test names with their subtest paths as go prints them. PASS / FAIL / SKIP.
TestStatusMap ParseGoTestLog(std::string_view log);

// `cargo test` lines `test path::to::name ... ok|FAILED|ignored`, each id prefixed with the test
// target from the preceding `Running <target> (...)` line (`tests/anagram.rs::name`,
// `src/lib.rs::tests::name`) or `doc-tests::` after `Doc-tests`, so equal names in two targets
// stay distinct. ignored -> SKIPPED.
TestStatusMap ParseCargoTestLog(std::string_view log);

// Jest's `--json` report: one id per assertion, `<test file relative to workdir>::<describe> >
// ... > <test title>`. passed -> PASSED, failed -> FAILED, pending / skipped / todo / disabled ->
// SKIPPED. A test file that did not run (syntax error, missing module) contributes nothing, so its
// tests count as missing.
TestStatusMap ParseJestJson(std::string_view json, const std::filesystem::path& workdir);

// Dispatch on a task's test_framework: "pytest", "ctest" (CTest lines plus any GoogleTest lines in
// its output), "gtest", "go", "cargo", "junit:<report path relative to workdir>",
// "jest:<report path>", the official harness's "swebench:pytest", "swebench:pytest_options",
// "swebench:django", "swebench:sympy" (swebench_logs.h), or "" (every console parser, merged).
// Error: an unknown framework or an unreadable report file (a missing report yields an empty map:
// every test then counts as missing).
Expected<TestStatusMap, std::string> ParseTestResults(const std::string& framework,
                                                      std::string_view log,
                                                      const std::filesystem::path& workdir);

}  // namespace dsagent::evals
