#if !defined(HAMMING_H)
#define HAMMING_H

#include <string>

namespace hamming {

int compute(const std::string& a, const std::string& b);

}  // namespace hamming

#endif  // HAMMING_H
