// A StreamSink that records everything it is told, for assertions.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "agent/providers/provider.h"

namespace dsagent {

class RecordingSink : public StreamSink {
 public:
  struct Retry {
    int attempt;
    std::string why;
    std::chrono::milliseconds delay;
  };

  void OnReasoningDelta(std::string_view d) override { reasoning += d; }
  void OnContentDelta(std::string_view d) override {
    content += d;
    ++content_deltas;
  }
  void OnToolCallStart(std::string_view id, std::string_view name) override {
    tool_starts.emplace_back(std::string(id), std::string(name));
  }
  void OnRetry(int attempt, const std::string& why, std::chrono::milliseconds delay) override {
    retries.push_back({attempt, why, delay});
    if (on_retry) on_retry();
  }

  std::string reasoning;
  std::string content;
  int content_deltas = 0;
  std::vector<std::pair<std::string, std::string>> tool_starts;
  std::vector<Retry> retries;
  std::function<void()> on_retry;  // runs inside OnRetry (e.g. to cancel during the wait)
};

}  // namespace dsagent
