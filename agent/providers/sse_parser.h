// Incremental parser for Server-Sent Events (the WHATWG event-stream format) as DeepSeek and other
// model APIs send them. Bytes may be fed in pieces split anywhere — inside a line, between "\r"
// and "\n", inside a UTF-8 sequence. Not thread-safe; one parser per response body.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace dsagent {

struct SseEvent {
  std::string event;  // the `event:` field; empty when the server sent none
  std::string data;   // the `data:` lines joined with "\n"

  bool operator==(const SseEvent&) const = default;
};

class SseParser {
 public:
  // Called once per complete event. Return false to stop parsing (Feed then returns false too).
  using EventCallback = std::function<bool(const SseEvent&)>;

  explicit SseParser(EventCallback on_event) : on_event_(std::move(on_event)) {}

  // Consumes more bytes. Lines may end in "\n", "\r\n" or "\r". Comment lines (": keep-alive")
  // and blank lines without pending data are skipped. Returns false once the callback declined.
  bool Feed(std::string_view bytes);

  // The body ended: dispatches a last event that had data lines but no terminating blank line.
  // A final line without a line ending is incomplete (the stream was cut) and is dropped.
  bool Finish();

 private:
  bool ProcessLine(std::string_view line);
  bool Dispatch();

  EventCallback on_event_;
  std::string line_;       // the current, unterminated line
  bool after_cr_ = false;  // the last byte seen was "\r" (a following "\n" belongs to it)
  SseEvent pending_;
  bool has_data_ = false;
  bool stopped_ = false;
};

}  // namespace dsagent
