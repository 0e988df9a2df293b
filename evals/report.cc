#include "evals/report.h"

#include <algorithm>
#include <cstdio>

#include "common/file_io.h"
#include "evals/number_format.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

int64_t TokenSum(const Json& tokens) {
  return tokens.value("input_cache_hit", int64_t{0}) +
         tokens.value("input_cache_miss", int64_t{0}) + tokens.value("output", int64_t{0});
}

void AddTokens(Json& into, const Json& tokens) {
  for (const char* k : {"input_cache_hit", "input_cache_miss", "output", "reasoning"}) {
    into[k] = into.value(k, int64_t{0}) + tokens.value(k, int64_t{0});
  }
}

double HitRate(const Json& tokens) {
  const double hit = tokens.value("input_cache_hit", int64_t{0});
  const double miss = tokens.value("input_cache_miss", int64_t{0});
  return hit + miss > 0 ? hit / (hit + miss) : 0;
}

// "cpp" for a polyglot task ("polyglot/cpp" repo, "polyglot__cpp-<name>" id), else "".
std::string PolyglotLanguageOf(const std::string& repo, const std::string& instance_id) {
  if (repo.rfind("polyglot/", 0) == 0) return repo.substr(9);
  if (instance_id.rfind("polyglot__", 0) == 0) {
    const std::string rest = instance_id.substr(10);
    return rest.substr(0, rest.find('-'));
  }
  return "";
}

// Per-language counts for polyglot runs: {lang: {total, resolved, errors, pass_rate_1,
// pass_rate_2, cost_usd}}; empty for other task sets.
Json ByLanguage(const std::vector<Json>& results, const std::vector<std::string>& missing_ids) {
  Json out = Json::object();
  auto row = [&out](const std::string& lang) -> Json& {
    Json& r = out[lang];
    if (!r.is_object()) {
      r = {{"total", 0}, {"resolved", 0}, {"errors", 0}, {"pass_1", 0}, {"pass_2", 0},
           {"cost_usd", 0.0}};
    }
    return r;
  };
  for (const Json& r : results) {
    const std::string lang = PolyglotLanguageOf(r.value("repo", ""), r.value("instance_id", ""));
    if (lang.empty()) continue;
    Json& row_json = row(lang);
    row_json["total"] = row_json["total"].get<int>() + 1;
    row_json["resolved"] = row_json["resolved"].get<int>() + (r.value("resolved", false) ? 1 : 0);
    row_json["errors"] = row_json["errors"].get<int>() + (r.value("status", "") == "error" ? 1 : 0);
    const Json tries = r.value("tries", Json::array());
    const bool first = !tries.empty() && tries[0].get<bool>();
    const bool second = first || (tries.size() > 1 && tries[1].get<bool>());
    row_json["pass_1"] = row_json["pass_1"].get<int>() + (first ? 1 : 0);
    row_json["pass_2"] = row_json["pass_2"].get<int>() + (second ? 1 : 0);
    row_json["cost_usd"] =
        row_json["cost_usd"].get<double>() + r["agent_run"].value("cost_usd", 0.0);
  }
  for (const std::string& id : missing_ids) {
    const std::string lang = PolyglotLanguageOf("", id);
    if (lang.empty()) continue;
    Json& row_json = row(lang);
    row_json["total"] = row_json["total"].get<int>() + 1;
  }
  for (auto& [lang, r] : out.items()) {
    const double total = r["total"].get<int>();
    r["resolved_rate"] = total > 0 ? r["resolved"].get<int>() / total : 0.0;
    r["pass_rate_1"] = total > 0 ? r["pass_1"].get<int>() / total : 0.0;
    r["pass_rate_2"] = total > 0 ? r["pass_2"].get<int>() / total : 0.0;
    r.erase("pass_1");
    r.erase("pass_2");
  }
  return out;
}

}  // namespace

std::string LanguageTable(const Json& summary) {
  if (!summary.contains("by_language")) return "";
  std::string md =
      "| language | resolved | pass rate try 1 / try 2 | errors | cost |\n|---|---|---|---|---|\n";
  int total = 0, resolved = 0, errors = 0;
  for (const auto& [lang, r] : summary["by_language"].items()) {
    total += r["total"].get<int>();
    resolved += r["resolved"].get<int>();
    errors += r["errors"].get<int>();
    md += "| " + lang + " | " + std::to_string(r["resolved"].get<int>()) + " / " +
          std::to_string(r["total"].get<int>()) + " (" + Pct(r["resolved_rate"].get<double>()) +
          ") | " + Pct(r["pass_rate_1"].get<double>()) + " / " +
          Pct(r["pass_rate_2"].get<double>()) + " | " + std::to_string(r["errors"].get<int>()) +
          " | " + Fmt("$%.4f", r["cost_usd"].get<double>()) + " |\n";
  }
  md += "| **all** | " + std::to_string(resolved) + " / " + std::to_string(total) + " | | " +
        std::to_string(errors) + " | |\n";
  return md;
}

fs::path ResultPath(const fs::path& out_dir, const std::string& instance_id) {
  return out_dir / "results" / (instance_id + ".json");
}

Json ProShare(const Json& models) {
  double calls = 0, pro_calls = 0, tokens = 0, pro_tokens = 0, cost = 0, pro_cost = 0;
  if (models.is_object()) {
    for (const auto& [id, m] : models.items()) {
      const bool pro = id.find("pro") != std::string::npos;
      const double c = m.value("calls", 0), t = TokenSum(m.value("tokens", Json::object())),
                   d = m.value("cost_usd", 0.0);
      calls += c;
      tokens += t;
      cost += d;
      if (pro) {
        pro_calls += c;
        pro_tokens += t;
        pro_cost += d;
      }
    }
  }
  auto share = [](double part, double whole) { return whole > 0 ? part / whole : 0.0; };
  return {{"calls", share(pro_calls, calls)},
          {"tokens", share(pro_tokens, tokens)},
          {"cost", share(pro_cost, cost)}};
}

Json BuildSummary(const std::vector<Json>& results, const std::vector<std::string>& missing_ids,
                  const RunInfo& info) {
  std::vector<std::string> submitted, completed, resolved, unresolved, empty, errors, partial;
  Json tokens = Json::object(), models = Json::object();
  double cost = 0, wall = 0;
  int64_t steps = 0;
  for (const Json& r : results) {
    const std::string id = r["instance_id"];
    const std::string status = r.value("status", "error");
    submitted.push_back(id);
    if (r.value("empty_patch", false)) empty.push_back(id);
    if (status == "error") {
      errors.push_back(id);
    } else {
      completed.push_back(id);
      (r.value("resolved", false) ? resolved : unresolved).push_back(id);
      if (status == "RESOLVED_PARTIAL") partial.push_back(id);
    }
    const Json& run = r["agent_run"];
    cost += run.value("cost_usd", 0.0);
    steps += run.value("steps", 0);
    wall += r.value("wall_s", 0.0);
    AddTokens(tokens, run.value("tokens", Json::object()));
    const Json run_models = run.contains("models") ? run["models"] : Json::object();
    for (const auto& [model, m] : run_models.items()) {
      Json& into = models[model];
      if (!into.is_object()) into = Json::object();
      into["calls"] = into.value("calls", 0) + m.value("calls", 0);
      into["cost_usd"] = into.value("cost_usd", 0.0) + m.value("cost_usd", 0.0);
      if (!into.contains("tokens")) into["tokens"] = Json::object();
      AddTokens(into["tokens"], m.value("tokens", Json::object()));
    }
  }
  AddTokens(tokens, Json::object());  // all four keys present even with no calls
  // Aider's scoring for tasks with several tries: resolved within the first try / within two.
  size_t with_tries = 0, pass_1 = 0, pass_2 = 0;
  for (const Json& r : results) {
    if (!r.contains("tries")) continue;
    ++with_tries;
    const Json& t = r["tries"];
    pass_1 += !t.empty() && t[0].get<bool>();
    pass_2 += (!t.empty() && t[0].get<bool>()) || (t.size() > 1 && t[1].get<bool>());
  }
  const size_t total = results.size() + missing_ids.size();
  Json s = {
      {"schema_version", 2},
      {"total_instances", total},
      {"submitted_instances", submitted.size()},
      {"completed_instances", completed.size()},
      {"resolved_instances", resolved.size()},
      {"unresolved_instances", unresolved.size()},
      {"empty_patch_instances", empty.size()},
      {"error_instances", errors.size()},
      {"partial_instances", partial.size()},
      {"submitted_ids", submitted},
      {"completed_ids", completed},
      {"incomplete_ids", missing_ids},
      {"resolved_ids", resolved},
      {"unresolved_ids", unresolved},
      {"empty_patch_ids", empty},
      {"error_ids", errors},
      {"partial_ids", partial},
      {"agent", info.agent},
      {"policy", info.policy},
      {"model_name_or_path", info.model_name_or_path},
      {"resolved_rate", total > 0 ? static_cast<double>(resolved.size()) / total : 0.0},
      {"total_cost_usd", cost},
      {"cost_per_task_usd", results.empty() ? 0.0 : cost / results.size()},
      {"cost_per_resolved_usd", resolved.empty() ? Json(nullptr) : Json(cost / resolved.size())},
      {"tokens", tokens},
      {"cache_hit_rate", HitRate(tokens)},
      {"steps_total", steps},
      {"models", models},
      {"pro_share", ProShare(models)},
      {"wall_s_total", wall}};
  if (with_tries > 0) {
    s["pass_rate_1"] = static_cast<double>(pass_1) / with_tries;
    s["pass_rate_2"] = static_cast<double>(pass_2) / with_tries;
  }
  const Json by_language = ByLanguage(results, missing_ids);
  if (!by_language.empty()) s["by_language"] = by_language;
  return s;
}

std::string ReportMarkdown(const Json& s, const std::vector<Json>& results) {
  const Json& t = s["tokens"];
  const Json& pro = s["pro_share"];
  std::string md = "# dsagent eval: " + s.value("model_name_or_path", "") + "\n\n";
  md += "| metric | value |\n|---|---|\n";
  md += "| resolved | " + std::to_string(s["resolved_instances"].get<int>()) + " / " +
        std::to_string(s["total_instances"].get<int>()) + " (" +
        Pct(s["resolved_rate"].get<double>()) + ") |\n";
  md += "| partially resolved (diagnostic) | " + std::to_string(s["partial_instances"].get<int>()) +
        " |\n";
  md += "| errors / empty patches | " + std::to_string(s["error_instances"].get<int>()) + " / " +
        std::to_string(s["empty_patch_instances"].get<int>()) + " |\n";
  md += "| total cost | " + Fmt("$%.6f", s["total_cost_usd"].get<double>()) + " |\n";
  md += "| cost per task | " + Fmt("$%.6f", s["cost_per_task_usd"].get<double>()) + " |\n";
  md += "| cost per resolved task | " +
        (s["cost_per_resolved_usd"].is_null()
             ? std::string("n/a")
             : Fmt("$%.6f", s["cost_per_resolved_usd"].get<double>())) +
        " |\n";
  md += "| tokens (cache-hit input / cache-miss input / output / reasoning) | " +
        std::to_string(t["input_cache_hit"].get<int64_t>()) + " / " +
        std::to_string(t["input_cache_miss"].get<int64_t>()) + " / " +
        std::to_string(t["output"].get<int64_t>()) + " / " +
        std::to_string(t["reasoning"].get<int64_t>()) + " |\n";
  md += "| cache-hit rate | " + Pct(s["cache_hit_rate"].get<double>()) + " |\n";
  md += "| Pro share (calls / tokens / $) | " + Pct(pro["calls"].get<double>()) + " / " +
        Pct(pro["tokens"].get<double>()) + " / " + Pct(pro["cost"].get<double>()) + " |\n";
  md += "| model calls (steps) | " + std::to_string(s["steps_total"].get<int64_t>()) + " |\n";
  if (s.contains("pass_rate_1")) {
    md += "| pass rate after try 1 / try 2 | " + Pct(s["pass_rate_1"].get<double>()) + " / " +
          Pct(s["pass_rate_2"].get<double>()) + " |\n";
  }
  md += "\n";
  if (const std::string languages = LanguageTable(s); !languages.empty()) {
    md += "## Languages\n\n" + languages + "\n";
  }
  md += "## Tasks\n\n| task | status | F2P | P2P | steps | cost | cache hit | Pro calls | wall |\n";
  md += "|---|---|---|---|---|---|---|---|---|\n";
  for (const Json& r : results) {
    const Json& ts = r["tests_status"];
    auto frac = [&](const char* key) {
      const size_t ok = ts[key]["success"].size(), bad = ts[key]["failure"].size();
      return std::to_string(ok) + "/" + std::to_string(ok + bad);
    };
    const Json& run = r["agent_run"];
    md += "| " + r["instance_id"].get<std::string>() + " | " + r.value("status", "error") + " | " +
          frac("FAIL_TO_PASS") + " | " + frac("PASS_TO_PASS") + " | " +
          std::to_string(run.value("steps", 0)) + " | " + Fmt("$%.6f", run.value("cost_usd", 0.0)) +
          " | " + Pct(run.value("cache_hit_rate", 0.0)) + " | " +
          Pct(run["pro_share"].value("calls", 0.0)) + " | " + Fmt("%.1fs", r.value("wall_s", 0.0)) +
          " |\n";
  }
  bool any_error = false;
  for (const Json& r : results) {
    if (!r.contains("error")) continue;
    if (!any_error) md += "\n## Errors\n\n";
    any_error = true;
    std::string e = r["error"].get<std::string>();
    if (e.size() > 300) e = e.substr(0, 300) + "...";
    std::replace(e.begin(), e.end(), '\n', ' ');
    md += "- `" + r["instance_id"].get<std::string>() + "`: " + e + "\n";
  }
  return md;
}

Expected<Json, std::string> WriteRunOutputs(const std::vector<EvalTask>& tasks,
                                            const fs::path& out_dir, const RunInfo& info) {
  std::vector<std::string> ids;
  for (const EvalTask& t : tasks) ids.push_back(t.instance_id);
  return WriteRunOutputs(ids, out_dir, info);
}

Expected<Json, std::string> WriteRunOutputs(const std::vector<std::string>& instance_ids,
                                            const fs::path& out_dir, const RunInfo& info) {
  std::vector<Json> results;
  std::vector<std::string> missing;
  std::string preds;
  for (const std::string& id : instance_ids) {
    const fs::path p = ResultPath(out_dir, id);
    if (!fs::exists(p)) {
      missing.push_back(id);
      continue;
    }
    auto text = ReadFileToString(p);
    if (!text) return MakeUnexpected(text.error());
    Json r = Json::parse(*text, nullptr, false);
    if (r.is_discarded()) return MakeUnexpected(p.string() + ": not valid JSON");
    preds += Json{{"instance_id", id},
                  {"model_name_or_path", r.value("model_name_or_path", info.model_name_or_path)},
                  {"model_patch", r.value("model_patch", "")}}
                 .dump() +
             "\n";
    results.push_back(std::move(r));
  }
  Json summary = BuildSummary(results, missing, info);
  for (const auto& [name, data] : {std::pair<const char*, std::string>{"preds.jsonl", preds},
                                   {"summary.json", summary.dump(2) + "\n"},
                                   {"report.md", ReportMarkdown(summary, results)}}) {
    if (auto w = WriteFileAtomic(out_dir / name, data); !w) return MakeUnexpected(w.error());
  }
  return summary;
}

}  // namespace dsagent::evals
