#include "agent/providers/sse_parser.h"

namespace dsagent {

bool SseParser::Feed(std::string_view bytes) {
  if (stopped_) return false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the second half of a "\r\n" split across two pieces
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = (c == '\r');
      if (!ProcessLine(line_)) return false;
      line_.clear();
      continue;
    }
    // Append the whole run up to the next line ending at once; events can be large.
    const size_t end = bytes.find_first_of("\r\n", i);
    const size_t stop = end == std::string_view::npos ? bytes.size() : end;
    line_.append(bytes.substr(i, stop - i));
    i = stop - 1;
  }
  return true;
}

bool SseParser::Finish() {
  if (stopped_) return false;
  line_.clear();
  if (has_data_) return Dispatch();
  return true;
}

bool SseParser::ProcessLine(std::string_view line) {
  if (line.empty()) {
    if (has_data_) return Dispatch();
    pending_.event.clear();  // an event with no data is discarded, name included
    return true;
  }
  if (line.front() == ':') return true;  // comment, e.g. DeepSeek's ": keep-alive"
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data.push_back('\n');
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = std::string(value);
  }
  // `id:` and `retry:` matter only to browsers that reconnect; nothing here reconnects mid-stream.
  return true;
}

bool SseParser::Dispatch() {
  const bool keep_going = on_event_(pending_);
  pending_ = SseEvent{};
  has_data_ = false;
  if (!keep_going) stopped_ = true;
  return keep_going;
}

}  // namespace dsagent
