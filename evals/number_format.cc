#include "evals/number_format.h"

#include <cstdio>

namespace dsagent::evals {

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Pct(double fraction) { return Fmt("%.1f%%", 100 * fraction); }

}  // namespace dsagent::evals
