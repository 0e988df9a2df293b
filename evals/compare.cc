#include "evals/compare.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "common/file_io.h"
#include "evals/number_format.h"
#include "evals/report.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

Expected<Json, std::string> ReadJson(const fs::path& p) {
  auto text = ReadFileToString(p);
  if (!text) return MakeUnexpected(text.error());
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return MakeUnexpected(p.string() + ": not valid JSON");
  return j;
}

// "always-flash" for "always-flash", "configs/routing/always-flash.yaml", "dsagent+always-flash".
bool IsPolicy(const std::string& name, const std::string& wanted) {
  const std::string stem = fs::path(name).stem().string();
  return stem == wanted || stem == "dsagent+" + wanted;
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The quality-vs-Pro-calls curve through every policy, sorted by Pro share.
std::vector<std::pair<double, double>> Curve(const std::vector<PolicyStats>& rows) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& r : rows) pts.emplace_back(r.pro_calls, r.resolved_rate);
  std::sort(pts.begin(), pts.end());
  return pts;
}

std::optional<double> CallsForPgr(const std::vector<std::pair<double, double>>& pts, double weak,
                                  double strong, double x) {
  const double target = weak + x * (strong - weak);
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i].second < target) continue;
    if (i == 0 || pts[i].second == pts[i - 1].second) return 100 * pts[i].first;
    const auto& [x0, y0] = pts[i - 1];
    const auto& [x1, y1] = pts[i];
    return 100 * (x0 + (target - y0) * (x1 - x0) / (y1 - y0));
  }
  return std::nullopt;
}

}  // namespace

std::pair<double, double> BootstrapInterval(const std::vector<int>& outcomes, int resamples) {
  if (outcomes.empty() || resamples <= 0) return {0, 0};
  std::mt19937 rng(20261123);  // fixed: the same runs always give the same interval
  std::uniform_int_distribution<size_t> pick(0, outcomes.size() - 1);
  std::vector<double> means(resamples);
  for (double& m : means) {
    int sum = 0;
    for (size_t i = 0; i < outcomes.size(); ++i) sum += outcomes[pick(rng)];
    m = static_cast<double>(sum) / outcomes.size();
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) {
    return means[std::min(means.size() - 1, static_cast<size_t>(q * means.size()))];
  };
  return {at(0.025), at(0.975)};
}

std::vector<size_t> ParetoFrontier(const std::vector<std::pair<double, double>>& pts) {
  std::vector<size_t> out;
  for (size_t i = 0; i < pts.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < pts.size() && !dominated; ++j) {
      dominated = j != i && pts[j].first <= pts[i].first && pts[j].second >= pts[i].second &&
                  (pts[j].first < pts[i].first || pts[j].second > pts[i].second);
    }
    if (!dominated) out.push_back(i);
  }
  return out;
}

Expected<Comparison, std::string> CompareRuns(const std::vector<fs::path>& run_dirs) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Json>> pooled;
  std::map<std::string, int> runs;
  for (const fs::path& dir : run_dirs) {
    auto summary = ReadJson(dir / "summary.json");
    if (!summary) return MakeUnexpected(summary.error());
    std::string policy = summary->value("policy", "");
    if (policy.empty()) policy = summary->value("model_name_or_path", dir.filename().string());
    if (!pooled.count(policy)) order.push_back(policy);
    ++runs[policy];
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "results", ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    auto& into = pooled[policy];
    for (const auto& f : files) {
      auto r = ReadJson(f);
      if (!r) return MakeUnexpected(r.error());
      into.push_back(std::move(*r));
    }
  }
  Comparison c;
  for (const std::string& policy : order) {
    const auto& results = pooled[policy];
    const Json s = BuildSummary(results, {}, {});
    PolicyStats p;
    p.policy = policy;
    p.runs = runs[policy];
    p.samples = static_cast<int>(results.size());
    p.resolved = s["resolved_instances"].get<int>();
    p.resolved_rate = s["resolved_rate"].get<double>();
    std::vector<int> outcomes;
    for (const Json& r : results) outcomes.push_back(r.value("resolved", false) ? 1 : 0);
    std::tie(p.ci_low, p.ci_high) = BootstrapInterval(outcomes);
    p.cost_per_task_usd = s["cost_per_task_usd"].get<double>();
    if (!s["cost_per_resolved_usd"].is_null()) {
      p.cost_per_resolved_usd = s["cost_per_resolved_usd"].get<double>();
    }
    p.pro_calls = s["pro_share"]["calls"].get<double>();
    p.pro_tokens = s["pro_share"]["tokens"].get<double>();
    p.pro_cost = s["pro_share"]["cost"].get<double>();
    p.cache_hit_rate = s["cache_hit_rate"].get<double>();
    c.policies.push_back(std::move(p));
  }
  std::vector<std::pair<double, double>> points;
  for (const auto& p : c.policies) points.emplace_back(p.cost_per_task_usd, p.resolved_rate);
  for (size_t i : ParetoFrontier(points)) c.policies[i].pareto = true;

  const PolicyStats *weak = nullptr, *strong = nullptr;
  for (const auto& p : c.policies) {
    if (IsPolicy(p.policy, "always-flash")) weak = &p;
    if (IsPolicy(p.policy, "always-pro")) strong = &p;
  }
  if (weak && strong && strong->resolved_rate != weak->resolved_rate) {
    const double w = weak->resolved_rate, st = strong->resolved_rate;
    for (auto& p : c.policies) p.pgr = (p.resolved_rate - w) / (st - w);
    // RouteLLM's APGR: the area under the quality-vs-strong-calls curve, normalised between the
    // constant weak and strong lines. Here the curve runs through the policies compared.
    const auto pts = Curve(c.policies);
    double auc = 0;
    for (size_t i = 1; i < pts.size(); ++i) {
      auc += (pts[i].first - pts[i - 1].first) * (pts[i].second + pts[i - 1].second) / 2;
    }
    c.apgr = (auc - w) / (st - w);
    c.cpt50 = CallsForPgr(pts, w, st, 0.5);
    c.cpt80 = CallsForPgr(pts, w, st, 0.8);
  }
  return c;
}

Json CompareToJson(const Comparison& c) {
  Json rows = Json::array();
  auto opt = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };
  for (const auto& p : c.policies) {
    rows.push_back(
        {{"policy", p.policy},
         {"runs", p.runs},
         {"samples", p.samples},
         {"resolved", p.resolved},
         {"resolved_rate", p.resolved_rate},
         {"ci95", {p.ci_low, p.ci_high}},
         {"cost_per_task_usd", p.cost_per_task_usd},
         {"cost_per_resolved_usd", opt(p.cost_per_resolved_usd)},
         {"pro_share", {{"calls", p.pro_calls}, {"tokens", p.pro_tokens}, {"cost", p.pro_cost}}},
         {"cache_hit_rate", p.cache_hit_rate},
         {"pgr", opt(p.pgr)},
         {"pareto", p.pareto}});
  }
  return {{"policies", rows},
          {"apgr", opt(c.apgr)},
          {"cpt50_pct", opt(c.cpt50)},
          {"cpt80_pct", opt(c.cpt80)}};
}

std::string CompareMarkdown(const Comparison& c) {
  std::string md =
      "# Routing policies compared\n\n"
      "| policy | runs | tasks | resolved | 95% CI | $/task | $/resolved | Pro calls / tokens / $ "
      "| cache hit | PGR | Pareto |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : c.policies) {
    md += "| " + p.policy + " | " + std::to_string(p.runs) + " | " + std::to_string(p.samples) +
          " | " + Pct(p.resolved_rate) + " | " + Pct(p.ci_low) + " – " + Pct(p.ci_high) + " | " +
          Fmt("$%.6f", p.cost_per_task_usd) + " | " +
          (p.cost_per_resolved_usd ? Fmt("$%.6f", *p.cost_per_resolved_usd) : "n/a") + " | " +
          Pct(p.pro_calls) + " / " + Pct(p.pro_tokens) + " / " + Pct(p.pro_cost) + " | " +
          Pct(p.cache_hit_rate) + " | " + (p.pgr ? Fmt("%.2f", *p.pgr) : "n/a") + " | " +
          (p.pareto ? "yes" : "") + " |\n";
  }
  md += "\n";
  if (c.apgr) {
    md += "APGR " + Fmt("%.3f", *c.apgr) + "; CPT(50%) " +
          (c.cpt50 ? Fmt("%.1f%%", *c.cpt50) : "n/a") + " Pro calls; CPT(80%) " +
          (c.cpt80 ? Fmt("%.1f%%", *c.cpt80) : "n/a") + " Pro calls.\n";
  } else {
    md +=
        "PGR, APGR and CPT need an always-flash and an always-pro run with different resolved "
        "rates.\n";
  }
  md += "\nPlot: `pareto.svg` (cost per task vs resolved rate; the line is the Pareto frontier).\n";
  return md;
}

std::string CompareSvg(const Comparison& c) {
  const double w = 640, h = 420, left = 70, right = 30, top = 40, bottom = 60;
  double max_cost = 0;
  for (const auto& p : c.policies) max_cost = std::max(max_cost, p.cost_per_task_usd);
  if (max_cost <= 0) max_cost = 1e-6;
  max_cost *= 1.15;
  auto X = [&](double cost) { return left + (w - left - right) * cost / max_cost; };
  auto Y = [&](double rate) { return h - bottom - (h - top - bottom) * rate; };
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"420\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"640\" height=\"420\" fill=\"white\"/>\n"
      "<text x=\"320\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Resolved "
      "rate vs cost per task</text>\n";
  svg += "<line x1=\"" + Fmt("%.1f", left) + "\" y1=\"" + Fmt("%.1f", Y(0)) + "\" x2=\"" +
         Fmt("%.1f", w - right) + "\" y2=\"" + Fmt("%.1f", Y(0)) + "\" stroke=\"black\"/>\n";
  svg += "<line x1=\"" + Fmt("%.1f", left) + "\" y1=\"" + Fmt("%.1f", Y(0)) + "\" x2=\"" +
         Fmt("%.1f", left) + "\" y2=\"" + Fmt("%.1f", Y(1)) + "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 5; ++i) {
    const double rate = i / 5.0, cost = max_cost * i / 5;
    svg += "<text x=\"" + Fmt("%.1f", left - 8) + "\" y=\"" + Fmt("%.1f", Y(rate) + 4) +
           "\" text-anchor=\"end\">" + Fmt("%.0f%%", 100 * rate) + "</text>\n";
    svg += "<text x=\"" + Fmt("%.1f", X(cost)) + "\" y=\"" + Fmt("%.1f", Y(0) + 18) +
           "\" text-anchor=\"middle\">" + Fmt("$%.4g", cost) + "</text>\n";
  }
  svg += "<text x=\"" + Fmt("%.1f", (left + w - right) / 2) + "\" y=\"" + Fmt("%.1f", h - 15) +
         "\" text-anchor=\"middle\">cost per task (USD)</text>\n";
  svg += "<text transform=\"translate(18 " + Fmt("%.1f", (top + h - bottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">resolved</text>\n";
  std::vector<std::pair<double, double>> frontier;
  for (const auto& p : c.policies) {
    if (p.pareto) frontier.emplace_back(p.cost_per_task_usd, p.resolved_rate);
  }
  std::sort(frontier.begin(), frontier.end());
  std::string pts;
  for (const auto& [cost, rate] : frontier) {
    pts += Fmt("%.1f", X(cost)) + "," + Fmt("%.1f", Y(rate)) + " ";
  }
  if (!pts.empty()) pts.pop_back();
  svg += "<polyline class=\"frontier\" points=\"" + pts +
         "\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  for (const auto& p : c.policies) {
    const double x = X(p.cost_per_task_usd);
    svg += "<line x1=\"" + Fmt("%.1f", x) + "\" y1=\"" + Fmt("%.1f", Y(p.ci_low)) + "\" x2=\"" +
           Fmt("%.1f", x) + "\" y2=\"" + Fmt("%.1f", Y(p.ci_high)) +
           "\" stroke=\"#1f77b4\" stroke-opacity=\"0.5\"/>\n";
    svg += "<circle cx=\"" + Fmt("%.1f", x) + "\" cy=\"" + Fmt("%.1f", Y(p.resolved_rate)) +
           "\" r=\"5\" fill=\"" + (p.pareto ? "#d62728" : "#1f77b4") + "\"/>\n";
    svg += "<text x=\"" + Fmt("%.1f", x + 8) + "\" y=\"" + Fmt("%.1f", Y(p.resolved_rate) - 8) +
           "\">" + XmlEscape(fs::path(p.policy).stem().string()) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace dsagent::evals
