#include <cstdio>
#include <cstring>
#include "fizzbuzz.h"
static bool fizzbuzz_3() { return fizzbuzz(9) == "Fizz"; }
static bool fizzbuzz_5() { return fizzbuzz(10) == "Buzz"; }
static bool fizzbuzz_plain() { return fizzbuzz(7) == "7"; }
struct Case { const char* name; bool (*fn)(); };
static const Case kCases[] = {{"fizzbuzz_3", fizzbuzz_3}, {"fizzbuzz_5", fizzbuzz_5}, {"fizzbuzz_plain", fizzbuzz_plain}};

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
