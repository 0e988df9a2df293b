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
#endif
