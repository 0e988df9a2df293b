#include <cstdio>
#include <cstring>
#include "temperature.h"
static bool celsius() { return to_celsius(212) == 100 && to_celsius(32) == 0; }
struct Case { const char* name; bool (*fn)(); };
static const Case kCases[] = {{"celsius", celsius}};

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
