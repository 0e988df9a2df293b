// The driver for fuzz targets in builds without libFuzzer (the default GCC build and CI): runs the
// target on every file of the given corpus and regression folders, then on deterministic mutations
// of each (bit flips, byte overwrites with boundary values, truncations, duplications and splices
// of two inputs), so CI gets a short, repeatable smoke beyond the stored inputs. Real coverage-guided
// fuzzing is scripts/fuzz.sh (clang + libFuzzer).
//
//   replay FOLDER_OR_FILE... [--mutations N] [--seed S]
//
// Exit 0 when every input ran; a finding aborts (the input's path and mutation number are printed
// first, so it can be reproduced and saved under tests/fuzz/regressions/<target>/).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {
namespace fs = std::filesystem;

struct Input {
  std::string name;
  std::string bytes;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void Collect(const fs::path& path, std::vector<Input>* out) {
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    std::sort(files.begin(), files.end());  // the same order, so the same mutations, every run
    for (const auto& f : files) out->push_back({f.string(), ReadAll(f)});
  } else if (fs::is_regular_file(path)) {
    out->push_back({path.string(), ReadAll(path)});
  }
}

// One mutation of `in` (and sometimes `other`), chosen by `rng`.
std::string Mutate(const std::string& in, const std::string& other, std::mt19937_64& rng) {
  std::string s = in;
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  static const unsigned char kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '\\', '{',
                                               '}',  '[',  ']',  ':',  ',',  '\n', '\r', '<'};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // overwrite with a boundary or syntax byte
        if (!s.empty())
          s[pick(s.size())] = static_cast<char>(kInteresting[rng() % sizeof(kInteresting)]);
        break;
      case 2:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 3: {  // duplicate a slice in place
        if (s.empty()) break;
        const size_t at = pick(s.size()), len = 1 + pick(std::min<size_t>(s.size() - at, 64));
        s.insert(at, s.substr(at, len));
        break;
      }
      case 4: {  // splice in a slice of the other input
        if (other.empty()) break;
        const size_t from = pick(other.size()), len = 1 + pick(std::min<size_t>(other.size() - from, 256));
        s.insert(pick(s.size() + 1), other.substr(from, len));
        break;
      }
      case 5:  // erase a slice
        if (!s.empty()) {
          const size_t at = pick(s.size());
          s.erase(at, 1 + pick(std::min<size_t>(s.size() - at, 32)));
        }
        break;
    }
  }
  return s;
}

// The input being run, for the crash handler. Set before each run; the handler only reads it.
const std::vector<uint8_t>* g_current = nullptr;
constexpr char kCrashFile[] = "fuzz-crash-input.bin";

// On a crash or a failed FUZZ_CHECK: saves the input to ./fuzz-crash-input.bin (async-signal-safe
// calls only), then dies with the same signal.
void OnCrash(int sig) {
  if (g_current != nullptr) {
    const int fd = open(kCrashFile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      const ssize_t n = write(fd, g_current->data(), g_current->size());
      (void)n;
      close(fd);
      static const char kMsg[] = "replay: the crashing input is in ./fuzz-crash-input.bin\n";
      const ssize_t m = write(2, kMsg, sizeof(kMsg) - 1);
      (void)m;
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void RunOne(const std::string& bytes) {
  // A copy in its own allocation, so a read past the end is caught by ASan in sanitizer builds.
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  g_current = &copy;
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
  g_current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, OnCrash);
  std::vector<Input> inputs;
  long mutations = 0;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (!fs::exists(a)) {
      std::fprintf(stderr, "replay: %s does not exist\n", a.c_str());
      return 2;
    } else {
      Collect(a, &inputs);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (give corpus folders or files)\n");
    return 2;
  }
  for (const auto& in : inputs) {
    std::fprintf(stderr, "replay: %s\n", in.name.c_str());
    RunOne(in.bytes);
  }
  std::mt19937_64 rng(seed);
  for (long m = 0; m < mutations; ++m) {
    const Input& a = inputs[static_cast<size_t>(m) % inputs.size()];
    const Input& b = inputs[static_cast<size_t>(rng() % inputs.size())];
    const std::string bytes = Mutate(a.bytes, b.bytes, rng);
    // Reproduce a finding with: replay <same inputs> --mutations <m+1> --seed <seed>.
    if (m % 1000 == 0) std::fprintf(stderr, "replay: mutation %ld of %ld\n", m, mutations);
    RunOne(bytes);
  }
  std::fprintf(stderr, "replay: %zu inputs and %ld mutations ran clean\n", inputs.size(), mutations);
  return 0;
}
