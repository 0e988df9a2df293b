// Server-sent events as the streamable HTTP transport of MCP delivers them: bytes in, at any
// boundaries; the data of each complete event out. Only `data:` matters to MCP (event names,
// ids and comments are read and dropped); multi-line data is joined with '\n'.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

class SseReader {
 public:
  // Feeds bytes; returns the data of every event completed by them, in order. Events without
  // data (keep-alive comments) give nothing.
  std::vector<std::string> Feed(std::string_view bytes);

 private:
  void TakeLine(std::string_view line, std::vector<std::string>& events);

  std::string partial_;  // an incomplete line
  std::string data_;     // data lines of the current event
  bool has_data_ = false;
};

}  // namespace dsagent
