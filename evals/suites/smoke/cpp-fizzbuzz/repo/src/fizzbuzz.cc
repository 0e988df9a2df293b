#include "fizzbuzz.h"
std::string fizzbuzz(int n) {
  if (n % 3 == 0) return "Fizz";
  if (n % 5 == 0) return "Buzz";
  return std::to_string(n);
}
