// How each language of the Aider polyglot benchmark builds and tests an exercise, offline, with
// Aider's conventions (benchmark/benchmark.py, cpp-test.sh, npm-test.sh) and Debian's toolchains:
//   python      pytest -rA
//   cpp         Exercism's CMake recipe with EXERCISM_RUN_ALL_TESTS, Catch2's JUnit report
//   go          GOFLAGS=-mod=mod GOPROXY=off go test -count=1 -v ./... (no cached results)
//   rust        cargo test --offline -- --include-ignored (Debian's /usr/bin/cargo and rustc when
//               installed, with Debian's crate registry /usr/share/cargo/registry as crates.io)
//   java        javac against Debian's JUnit 5 + AssertJ jars, the JUnit console launcher's XML
//               report; @Disabled removed from the tests (no Gradle, nothing downloaded)
//   javascript  jest from the shared npm cache (.deps/eval-js, scripts/setup-eval-toolchains.sh),
//               its JSON report; xtest( turned into test( as Aider does
// Build outputs go to temporary directories or are ignored, so they never reach a patch.
#pragma once

#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent::evals {

struct PolyglotLanguage {
  std::string test_cmd;        // bash, run in the exercise folder after the tests are added
  std::string test_framework;  // test_log.h's name for the report the command leaves
  // Paths the workspaces ignore (build outputs an agent's own runs may leave behind).
  std::vector<std::string> ignore;
  // The checkout folder must carry the exercise's name (Exercism's CMake names its executable
  // after the folder).
  bool named_checkout = false;
};

// The languages supported, in the benchmark's order.
const std::vector<std::string>& PolyglotLanguages();

// `exercise`: the folder name (e.g. "hamming"). Error: a language not in PolyglotLanguages().
Expected<PolyglotLanguage, std::string> PolyglotLanguageFor(const std::string& lang,
                                                            const std::string& exercise);

// "" when the toolchain `lang` needs is installed here; otherwise what is missing and how to get
// it (scripts/setup-eval-toolchains.sh).
std::string MissingPolyglotToolchain(const std::string& lang);

// The node_modules holding jest and the exercises' Babel preset: $DSAGENT_EVAL_JS_DIR, else the
// first .deps/eval-js/node_modules above the working directory or above the dsagent executable.
// "" when none is found.
std::string JestModulesDir();

}  // namespace dsagent::evals
