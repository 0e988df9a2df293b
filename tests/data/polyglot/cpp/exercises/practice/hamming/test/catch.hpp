// Exercism bundles the single-header Catch2 here; this fixture uses Debian's (package catch2).
#include <catch2/catch.hpp>
