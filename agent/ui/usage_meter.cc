#include "agent/ui/usage_meter.h"

#include <cstdio>

namespace dsagent {
std::string Percent(double rate) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * rate);
  return buf;
}

std::string Usd(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

std::string CompactTokens(int64_t tokens) {
  char buf[32];
  if (tokens >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(tokens) / 1e6);
  } else if (tokens >= 1000) {
    std::snprintf(buf, sizeof buf, "%.1fk", static_cast<double>(tokens) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(tokens));
  }
  return buf;
}

void UsageMeter::BeginTurn() {
  turn_calls_.clear();
  turn_cost_usd_ = 0;
}

void UsageMeter::RecordCall(const std::string& model, const Usage& usage, double cost_usd) {
  ModelTotals& t = per_model_[model];
  t.calls += 1;
  t.usage += usage;
  t.cost_usd += cost_usd;
  turn_calls_.push_back(usage);
  turn_cost_usd_ += cost_usd;
  last_call_ = usage;
  last_model_ = model;
}

void UsageMeter::SeedFromTrace(const std::vector<Json>& events) {
  for (const Json& e : events) SeedFromEvent(e);
}

void UsageMeter::SeedFromEvent(const Json& e) {
  if (e.value("type", "") != "response") return;
  const Json u = e.value("usage", Json::object());
  Usage usage;
  usage.input_cache_hit = u.value("input_cache_hit", int64_t{0});
  usage.input_cache_miss = u.value("input_cache_miss", int64_t{0});
  usage.output = u.value("output", int64_t{0});
  usage.reasoning = u.value("reasoning", int64_t{0});
  ModelTotals& t = per_model_[e.value("model", "?")];
  t.calls += 1;
  t.usage += usage;
  t.cost_usd += e.value("cost_usd", 0.0);
}

Usage UsageMeter::session_usage() const {
  Usage total;
  for (const auto& [model, t] : per_model_) total += t.usage;
  return total;
}

double UsageMeter::session_cost_usd() const {
  double total = 0;
  for (const auto& [model, t] : per_model_) total += t.cost_usd;
  return total;
}

int UsageMeter::session_calls() const {
  int n = 0;
  for (const auto& [model, t] : per_model_) n += t.calls;
  return n;
}

int64_t UsageMeter::context_tokens() const {
  if (!last_call_) return 0;
  return last_call_->input_cache_hit + last_call_->input_cache_miss + last_call_->output;
}

std::string FormatCostReport(const UsageMeter& meter) {
  std::string out = "session: " + Usd(meter.session_cost_usd()) + " over " +
                    std::to_string(meter.session_calls()) + " model call(s)\n";
  for (const auto& [model, t] : meter.per_model()) {
    const int64_t in = t.usage.input_cache_hit + t.usage.input_cache_miss;
    char line[256];
    std::snprintf(line, sizeof line, "  %-20s %4d calls  in %7s (%s cached)  out %7s  %s\n",
                  model.c_str(), t.calls, CompactTokens(in).c_str(),
                  Percent(CacheHitRate(t.usage)).c_str(), CompactTokens(t.usage.output).c_str(),
                  Usd(t.cost_usd).c_str());
    out += line;
  }
  out += "last turn: " + Usd(meter.turn_cost_usd()) + " over " +
         std::to_string(meter.turn_calls().size()) + " call(s)\n";
  return out;
}

std::string FormatCacheReport(const UsageMeter& meter) {
  std::string out;
  if (const auto& last = meter.last_call()) {
    const int64_t in = last->input_cache_hit + last->input_cache_miss;
    out += "last call: " + Percent(CacheHitRate(*last)) + " cache hit (" +
           CompactTokens(last->input_cache_hit) + " of " + CompactTokens(in) + " prompt tokens)\n";
  } else {
    out += "last call: none yet\n";
  }
  if (!meter.turn_calls().empty()) {
    out += "this turn:";
    for (const Usage& u : meter.turn_calls()) out += " " + Percent(CacheHitRate(u));
    out += "\n";
  }
  const Usage s = meter.session_usage();
  out += "session: " + Percent(CacheHitRate(s)) + " cache hit (" +
         CompactTokens(s.input_cache_hit) + " of " +
         CompactTokens(s.input_cache_hit + s.input_cache_miss) + " prompt tokens)\n";
  if (const auto& last = meter.last_call();
      last && CacheHitRate(*last) < 0.5 && meter.session_calls() > 1) {
    out +=
        "hint: the last call missed most of its prompt. Usual causes: a model switch (each model "
        "has its own cache), a long idle gap, or the first call of a session.\n";
  }
  return out;
}

}  // namespace dsagent
