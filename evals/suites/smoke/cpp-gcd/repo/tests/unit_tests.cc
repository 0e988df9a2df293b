#include <cstdio>
#include <cstring>
#include "gcd.h"
static bool gcd_basic() { return gcd(12, 18) == 6 && gcd(7, 5) == 1; }
struct Case { const char* name; bool (*fn)(); };
static const Case kCases[] = {{"gcd_basic", gcd_basic}};

int main(int argc, char** argv) {
  for (const Case& c : kCases) {
    if (argc > 1 && std::strcmp(argv[1], c.name) == 0) {
      const bool ok = c.fn();
      std::printf("%s: %s\n", c.name, ok ? "ok" : "FAILED");
      return ok ? 0 : 1;
    }
  }
  std::printf("unknown test\n");
  return 2;
}
