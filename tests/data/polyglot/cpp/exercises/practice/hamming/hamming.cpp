#include "hamming.h"

namespace hamming {

int compute(const std::string&, const std::string&) { return -1; }

}  // namespace hamming
