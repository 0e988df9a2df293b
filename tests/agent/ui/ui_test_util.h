// Helpers for the agent/ui unit tests: a Screen writing to memory, and a LineReader that answers
// from a script.
#pragma once

#include <cstdio>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "agent/ui/line_reader.h"
#include "agent/ui/screen.h"

namespace dsagent::testing {

// A Screen over an in-memory stream; text() is everything written so far.
class MemoryScreen {
 public:
  explicit MemoryScreen(Screen::Options options = {.tty = false, .color = false, .width = 80})
      : file_(open_memstream(&buf_, &size_)), screen_(file_, options) {}
  ~MemoryScreen() {
    std::fclose(file_);
    std::free(buf_);
  }
  Screen& screen() { return screen_; }
  std::string text() {
    std::fflush(file_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
  Screen screen_;
};

// Returns the scripted events in order (kEof once they run out) and records what it was asked.
class ScriptedReader : public LineReader {
 public:
  explicit ScriptedReader(std::vector<InputEvent> events) : events_(events.begin(), events.end()) {}
  static InputEvent Line(std::string text) { return {InputEvent::Kind::kLine, std::move(text)}; }
  static InputEvent Interrupt() { return {InputEvent::Kind::kInterrupt, ""}; }

  InputEvent ReadLine(const std::string& prompt, const std::string& initial) override {
    prompts.push_back(prompt);
    initials.push_back(initial);
    if (events_.empty()) return {InputEvent::Kind::kEof, ""};
    InputEvent e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

  std::vector<std::string> prompts;
  std::vector<std::string> initials;

 private:
  std::deque<InputEvent> events_;
};

}  // namespace dsagent::testing
