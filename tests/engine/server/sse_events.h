// Reading server-sent events in tests: "event: NAME\ndata: JSON\n\n" records, in order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "engine/chat/python_json.h"

namespace dsagent::engine::testing {

// (event name or "", parsed data) for every record with a JSON data line; comments (": ...")
// and "data: [DONE]" are skipped.
inline std::vector<std::pair<std::string, OrderedJson>> SseEvents(const std::string& body) {
  std::vector<std::pair<std::string, OrderedJson>> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    const std::string record = body.substr(pos, end - pos);
    pos = end + 2;
    std::string name, data;
    size_t line_start = 0;
    while (line_start < record.size()) {
      size_t line_end = record.find('\n', line_start);
      if (line_end == std::string::npos) line_end = record.size();
      const std::string line = record.substr(line_start, line_end - line_start);
      if (line.rfind("event: ", 0) == 0) name = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
      line_start = line_end + 1;
    }
    if (data.empty() || data == "[DONE]") continue;
    out.emplace_back(name, OrderedJson::parse(data));
  }
  return out;
}

}  // namespace dsagent::engine::testing
