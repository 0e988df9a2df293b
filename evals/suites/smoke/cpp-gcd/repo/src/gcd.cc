#include "gcd.h"
int gcd(int a, int b) {
  if (a == 0 || b == 0) return 0;
  while (b != 0) {
    const int t = a % b;
    a = b;
    b = t;
  }
  return a;
}
