#include "agent/router/router.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "agent/router/lane_cost.h"
#include "common/file_io.h"
#include "configs/configs.h"

namespace dsagent {
namespace {

// YAML scalars/maps/sequences as JSON, so policy params reach the policy unchanged.
Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json j = Json::object();
      for (const auto& kv : node) j[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      Json j = Json::array();
      for (const auto& v : node) j.push_back(YamlToJson(v));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted: always a string
      if (s == "true" || s == "false") return s == "true";
      try {
        size_t used = 0;
        const long long i = std::stoll(s, &used);
        if (used == s.size()) return i;
        const double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (const std::exception&) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

Expected<Lane, std::string> ParseLane(const Json& j, const std::string& which) {
  if (!j.is_object() || !j.contains("model") || !j["model"].is_string()) {
    return MakeUnexpected("lanes." + which + " needs a model, e.g. {model: deepseek-v4-flash}");
  }
  Lane lane;
  lane.model = j["model"];
  lane.thinking = j.value("thinking", true);
  lane.effort = j.value("effort", std::string("high"));
  if (lane.effort != "high" && lane.effort != "max") {
    return MakeUnexpected("lanes." + which + ".effort must be high or max");
  }
  return lane;
}

Json LaneJson(const Lane& l) {
  return {{"model", l.model}, {"thinking", l.thinking}, {"effort", l.effort}};
}

}  // namespace

std::vector<std::string> BuiltInRoutingPolicies() {
  std::vector<std::string> names;
  for (std::string_view path : configs::List()) {
    const std::string p(path);
    if (p.rfind("routing/", 0) == 0 && p.size() > 13 && p.substr(p.size() - 5) == ".yaml") {
      names.push_back(p.substr(8, p.size() - 13));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Expected<std::unique_ptr<Router>, std::string> Router::Load(const std::string& name_or_file,
                                                            const ModelCatalog& catalog) {
  if (auto text = configs::Find("routing/" + name_or_file + ".yaml")) {
    auto r = Parse(std::string(*text), "configs/routing/" + name_or_file + ".yaml", catalog);
    if (r) (*r)->name_ = name_or_file;
    return r;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name_or_file, ec)) {
    std::string names;
    for (const auto& n : BuiltInRoutingPolicies()) names += (names.empty() ? "" : ", ") + n;
    return MakeUnexpected("unknown routing policy '" + name_or_file + "': not a built-in (" +
                          names + ") and not a file");
  }
  auto text = ReadFileToString(name_or_file);
  if (!text) return MakeUnexpected(text.error());
  auto r = Parse(*text, name_or_file, catalog);
  if (r) (*r)->name_ = name_or_file;
  return r;
}

Expected<std::unique_ptr<Router>, std::string> Router::Parse(const std::string& yaml_text,
                                                             const std::string& source,
                                                             const ModelCatalog& catalog) {
  Json doc;
  try {
    doc = YamlToJson(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    return MakeUnexpected(source + ": " + e.what());
  }
  const auto fail = [&](const std::string& what) { return MakeUnexpected(source + ": " + what); };
  if (!doc.is_object() || !doc.contains("policy") || !doc["policy"].is_string()) {
    return fail("needs `policy: <kind>`");
  }
  for (const auto& [key, value] : doc.items()) {
    static const char* kKnown[] = {"policy",      "params",     "lanes", "mechanical_thinking_off",
                                   "cache_aware", "description"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return fail("unknown key '" + key + "'");
    }
  }
  for (const char* group : {"params", "lanes", "cache_aware"}) {
    if (doc.contains(group) && !doc[group].is_object()) {
      return fail(std::string(group) + " must be a mapping of keys to values");
    }
  }
  // The typed reads below (Json::value) throw on a value of the wrong type, e.g. `thinking: "no"`:
  // that is a mistake in the file, reported like the others (found by tests/fuzz/fuzz_config).
  try {
    return ParseChecked(doc, source, catalog);
  } catch (const Json::exception& e) {
    return fail(std::string("a value has the wrong type: ") + e.what());
  }
}

Expected<std::unique_ptr<Router>, std::string> Router::ParseChecked(const Json& doc,
                                                                    const std::string& source,
                                                                    const ModelCatalog& catalog) {
  const auto fail = [&](const std::string& what) { return MakeUnexpected(source + ": " + what); };
  std::unique_ptr<Router> r(new Router(catalog));
  r->name_ = source;
  auto policy = MakeRoutingPolicy(doc["policy"], doc.value("params", Json::object()));
  if (!policy) return fail(policy.error());
  r->policy_ = std::move(*policy);
  const Json lanes = doc.value("lanes", Json::object());
  auto flash = ParseLane(lanes.value("flash", Json{{"model", "deepseek-v4-flash"}}), "flash");
  auto pro =
      ParseLane(lanes.value("pro", Json{{"model", "deepseek-v4-pro"}, {"effort", "max"}}), "pro");
  if (!flash) return fail(flash.error());
  if (!pro) return fail(pro.error());
  r->flash_ = *flash;
  r->pro_ = *pro;
  r->mechanical_thinking_off_ = doc.value("mechanical_thinking_off", false);
  const Json ca = doc.value("cache_aware", Json::object());
  r->cache_aware_ = ca.value("enabled", false);
  r->horizon_steps_ = ca.value("horizon_steps", 5);
  r->stickiness_ = ca.value("stickiness", 0.1);
  if (r->horizon_steps_ < 1) return fail("cache_aware.horizon_steps must be at least 1");
  return r;
}

RouteDecision Router::Decide(const StepFeatures& f, std::chrono::system_clock::time_point now) {
  Proposal p = policy_->Propose(f);
  // Each later step appends about one reply and one tool result.
  const int64_t growth = std::max<int64_t>(f.mean_output_tokens * 2, 500);
  const LaneCostEstimate flash_cost =
      EstimateLaneCost(catalog_, flash_.model, f, horizon_steps_, growth, now);
  const LaneCostEstimate pro_cost =
      EstimateLaneCost(catalog_, pro_.model, f, horizon_steps_, growth, now);

  std::string reason = p.reason;
  // Cache-aware: a switch made to save money must actually save money once the cache miss of the
  // other model's unseen tokens is paid. Quality-motivated switches (required) always pass.
  if (cache_aware_ && called_ && p.pro != on_pro_ && !p.required) {
    const LaneCostEstimate& stay = on_pro_ ? pro_cost : flash_cost;
    const LaneCostEstimate& go = p.pro ? pro_cost : flash_cost;
    if (go.horizon_usd >= stay.horizon_usd * (1.0 - stickiness_)) {
      reason += "; cache-aware: staying (switch would cost $" + std::to_string(go.horizon_usd) +
                " vs $" + std::to_string(stay.horizon_usd) + " over " +
                std::to_string(horizon_steps_) + " steps)";
      p.pro = on_pro_;
    }
  }

  Lane lane = p.pro ? pro_ : flash_;
  if (!p.pro && mechanical_thinking_off_ && f.last_step_mechanical) {
    lane.thinking = false;
    reason += "; thinking off after a step of pure edits";
  }
  on_pro_ = p.pro;
  called_ = true;

  const auto alt = [](const Lane& l, const LaneCostEstimate& c) {
    return Json{{"lane", LaneJson(l)},
                {"est_next_call_usd", c.next_call_usd},
                {"est_horizon_usd", c.horizon_usd},
                {"unseen_tokens", c.unseen_tokens},
                {"priced", c.priced}};
  };
  RouteDecision d;
  d.lane = lane;
  d.reason = reason;
  d.record = {
      {"policy", name_},
      {"features", f.ToJson()},
      {"lane", LaneJson(lane)},
      {"pro", p.pro},
      {"reason", reason},
      {"estimated_unseen_tokens", p.pro ? pro_cost.unseen_tokens : flash_cost.unseen_tokens},
      {"alternatives", Json::array({alt(flash_, flash_cost), alt(pro_, pro_cost)})}};
  return d;
}

}  // namespace dsagent
