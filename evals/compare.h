// Routing-policy comparison (`dsagent route compare`): several eval runs of the same tasks under
// different policies, summarised the way RouteLLM and swebench.com do — resolved rate with a
// bootstrap 95% CI over tasks, cost per task and per resolved task, Pro share, cache-hit rate,
// PGR against always-flash / always-pro, APGR and CPT(50%/80%) over the policies' quality-vs-Pro-
// calls curve, and the cost/resolved Pareto frontier — as a markdown table and an SVG plot.
// Pure computations over run directories; thread-compatible.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"

namespace dsagent::evals {

struct PolicyStats {
  std::string policy;
  int runs = 0;     // repeats pooled into this row
  int samples = 0;  // task results pooled (tasks x repeats)
  int resolved = 0;
  double resolved_rate = 0;
  double ci_low = 0, ci_high = 0;  // bootstrap 95% interval of resolved_rate
  double cost_per_task_usd = 0;
  std::optional<double> cost_per_resolved_usd;
  double pro_calls = 0, pro_tokens = 0, pro_cost = 0;  // shares in [0, 1]
  double cache_hit_rate = 0;
  std::optional<double> pgr;  // (rate - flash) / (pro - flash) when both baselines ran and differ
  bool pareto = false;        // on the cost-per-task vs resolved-rate frontier
};

struct Comparison {
  std::vector<PolicyStats> policies;   // in first-seen order
  std::optional<double> apgr;          // needs always-flash and always-pro rows
  std::optional<double> cpt50, cpt80;  // % of Pro calls needed for PGR 50% / 80%
};

// Reads RUN_DIR/summary.json and results/*.json of each run and pools runs by their policy
// (summary "policy", else "model_name_or_path"). Error: a directory without a readable summary.
Expected<Comparison, std::string> CompareRuns(const std::vector<std::filesystem::path>& run_dirs);

// 95% percentile bootstrap interval of the mean of `outcomes` (0/1), `resamples` draws with a
// fixed seed (reproducible). {0, 0} for no outcomes.
std::pair<double, double> BootstrapInterval(const std::vector<int>& outcomes, int resamples = 2000);

// Indices of the points (cost, rate) no other point beats on both (lower-or-equal cost and
// higher-or-equal rate, one strictly).
std::vector<size_t> ParetoFrontier(const std::vector<std::pair<double, double>>& cost_rate);

std::string CompareMarkdown(const Comparison& c);
// Cost per task (x) vs resolved rate (y), one labelled point per policy with its CI as a bar, the
// frontier drawn as a line. Self-contained SVG 1.1.
std::string CompareSvg(const Comparison& c);
Json CompareToJson(const Comparison& c);

}  // namespace dsagent::evals
