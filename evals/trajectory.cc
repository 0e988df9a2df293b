#include "evals/trajectory.h"

namespace dsagent::evals {

std::vector<Json> TrajectoryFromTrace(const std::vector<Json>& events) {
  std::vector<Json> out;
  for (const Json& e : events) {
    const std::string type = e.value("type", "");
    if (type == "session_start" && e.contains("system_prompt")) {
      out.push_back({{"role", "system"}, {"content", e["system_prompt"]}, {"ts", e.value("ts", "")}});
      continue;
    }
    if (!e.contains("message") || !e["message"].is_object()) continue;
    const Json& m = e["message"];
    Json line = {{"role", m.value("role", "")}, {"content", m.value("content", "")}};
    if (e.contains("step")) line["step"] = e["step"];
    if (type == "response") {
      if (m.contains("reasoning_content")) line["reasoning"] = m["reasoning_content"];
      Json calls = Json::array();
      for (const Json& c : m.value("tool_calls", Json::array())) {
        const Json f = c.value("function", Json::object());
        calls.push_back({{"id", c.value("id", "")},
                         {"name", f.value("name", "")},
                         {"arguments", f.value("arguments", "")}});
      }
      if (!calls.empty()) line["tool_calls"] = calls;
      for (const char* k : {"model", "usage", "cost_usd"}) {
        if (e.contains(k)) line[k] = e[k];
      }
    } else if (type == "tool") {
      line["tool_call_id"] = m.value("tool_call_id", "");
      for (const char* k : {"name", "ok", "duration_ms"}) {
        if (e.contains(k)) line[k] = e[k];
      }
    }
    line["ts"] = e.value("ts", "");
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace dsagent::evals
