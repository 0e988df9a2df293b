#include <cstdio>
#include <cstring>
#include "stack.h"
static bool push_pop() { return [] { BoundedStack s(2); int v = 0; return s.push(1) && s.pop(&v) && v == 1 && !s.pop(&v); }(); }
struct Case { const char* name; bool (*fn)(); };
static const Case kCases[] = {{"push_pop", push_pop}};

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
