#include "hamming.h"

#include <stdexcept>

namespace hamming {

int compute(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) throw std::domain_error("strands differ in length");
  int distance = 0;
  for (std::string::size_type i = 0; i < a.size(); ++i) distance += a[i] != b[i];
  return distance;
}

}  // namespace hamming
