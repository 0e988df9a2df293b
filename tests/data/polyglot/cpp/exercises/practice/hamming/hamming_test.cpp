#include "hamming.h"

#include <stdexcept>

#include "test/catch.hpp"

TEST_CASE("empty strands") { REQUIRE(0 == hamming::compute("", "")); }

#if defined(EXERCISM_RUN_ALL_TESTS)
TEST_CASE("single letter different strands") { REQUIRE(1 == hamming::compute("G", "T")); }

TEST_CASE("long different strands") {
  REQUIRE(9 == hamming::compute("GGACGGATTCTG", "AGGACGGATTCT"));
}

TEST_CASE("disallow first strand longer") {
  REQUIRE_THROWS_AS(hamming::compute("AATG", "AAA"), std::domain_error);
}

// Catch2's JUnit reporter names each SECTION "<test case>/<section>".
TEST_CASE("sections") {
  SECTION("identical strands") { REQUIRE(0 == hamming::compute("GGA", "GGA")); }
  SECTION("one difference") { REQUIRE(1 == hamming::compute("GGA", "GGT")); }
}
#endif

// Exercism compiles benchmarks only on request; Aider never asks, so this test never runs.
#if defined(EXERCISM_INCLUDE_BENCHMARK)
TEST_CASE("benchmark") {
  BENCHMARK("long strands") {
    return hamming::compute(std::string(1000, 'A'), std::string(1000, 'C'));
  };
}
#endif
