// Number formatting shared by the eval reports (report.cc) and the policy comparison (compare.cc).
#pragma once

#include <string>

namespace dsagent::evals {

// `v` through a printf format with one double conversion, e.g. Fmt("%.3f", 0.5) == "0.500".
std::string Fmt(const char* format, double v);

// A fraction as a percentage with one decimal: Pct(0.1234) == "12.3%".
std::string Pct(double fraction);

}  // namespace dsagent::evals
