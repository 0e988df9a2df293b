#include "agent/ui/status_line.h"

#include <cstdio>
#include <vector>

#include "agent/ui/screen.h"
#include "agent/ui/usage_meter.h"

namespace dsagent {
std::string LaneLabel(const Lane& lane) {
  std::string model = lane.model;
  const std::string family = "deepseek-v4-";
  if (model.rfind(family, 0) == 0) model = model.substr(family.size());
  return model + "·" + (lane.thinking ? lane.effort : std::string("no-think"));
}

std::string FormatStatusLine(const StatusFields& f, int width) {
  // Each field in its fullest form first; shorter forms replace them until the line fits.
  struct Field {
    std::vector<std::string> forms;  // longest first; "" = drop
    size_t chosen = 0;
  };
  const std::string sep = " │ ";
  std::vector<Field> fields;
  const std::string lane = LaneLabel(f.lane);
  fields.push_back({{f.policy.empty() ? lane : lane + " [" + f.policy + "]", lane}});
  const std::string ctx = "ctx " + CompactTokens(f.context_tokens);
  fields.push_back(
      {{f.context_window > 0 ? ctx + "/" + CompactTokens(f.context_window) : ctx, ctx, ""}});
  const std::string cost = Usd(f.session_cost_usd);
  fields.push_back({{cost + " (turn " + Usd(f.turn_cost_usd) + ")", cost}});
  std::vector<std::string> cache_forms;
  if (f.last_hit && f.session_hit) {
    cache_forms = {
        "cache " + Percent(*f.last_hit) + " last · " + Percent(*f.session_hit) + " session",
        "cache " + Percent(*f.last_hit) + "/" + Percent(*f.session_hit), ""};
  } else if (f.session_hit) {
    cache_forms = {"cache " + Percent(*f.session_hit) + " session", ""};
  }
  if (!cache_forms.empty()) fields.push_back({cache_forms});

  const auto render = [&] {
    std::string line;
    for (const Field& field : fields) {
      const std::string& s = field.forms[field.chosen];
      if (s.empty()) continue;
      if (!line.empty()) line += sep;
      line += s;
    }
    return line;
  };
  // Shorten the least important fields first: the cost's turn part, the policy, the window, then
  // the cache detail, then drop the context and the cache rates.
  const std::vector<size_t> order = {2, 0, 1, 3, 3, 1};
  std::string line = render();
  for (size_t i : order) {
    if (width <= 0 || DisplayWidth(line) <= static_cast<size_t>(width)) break;
    if (i < fields.size() && fields[i].chosen + 1 < fields[i].forms.size()) ++fields[i].chosen;
    line = render();
  }
  return FitWidth(line, width);
}

}  // namespace dsagent
