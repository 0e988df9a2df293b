#include <cstdio>
#include <cstring>
#include "split.h"
static bool split_basic() { return split("a,b", ',') == std::vector<std::string>{"a", "b"}; }
struct Case { const char* name; bool (*fn)(); };
static const Case kCases[] = {{"split_basic", split_basic}};

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
