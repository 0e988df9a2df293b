#include "agent/router/step_features.h"

#include <algorithm>

namespace dsagent {
namespace {
constexpr int64_t kDefaultOutputTokens = 1000;  // before any call: a typical agent step

bool IsEdit(const std::string& tool) { return tool == "edit_file" || tool == "write_file"; }
bool IsCommand(const std::string& tool) { return tool == "bash"; }
}  // namespace

Json StepFeatures::ToJson() const {
  return {{"step", step},
          {"turn_step", turn_step},
          {"phase", phase},
          {"failures_since_success", failures_since_success},
          {"recent_failures", recent_failures},
          {"edit_misses", edit_misses},
          {"repeated_calls", repeated_calls},
          {"last_verify_passed", last_verify_passed},
          {"last_step_mechanical", last_step_mechanical},
          {"context_tokens", context_tokens},
          {"unseen_tokens", unseen_tokens},
          {"cost_so_far_usd", cost_so_far_usd},
          {"budget_usd", budget_usd},
          {"mean_output_tokens", mean_output_tokens}};
}

void FeatureTracker::StartTurn() {
  current_.turn_step = 0;
  current_.phase = "start";
  current_.edit_misses = 0;
  current_.repeated_calls = 0;
  current_.recent_failures = 0;
  current_.last_verify_passed = false;
  current_.last_step_mechanical = false;
  turn_calls_.clear();
}

StepFeatures FeatureTracker::Next(double cost_so_far_usd, double budget_usd) {
  if (step_calls_ > 0) {
    current_.recent_failures = step_failures_;
    current_.last_verify_passed = step_commands_ > 0 && step_commands_ok_ == step_commands_;
    current_.last_step_mechanical = step_edits_ok_ == step_calls_;
    if (step_edits_ok_ > 0) {
      current_.phase = "edit";
    } else if (step_commands_ > 0) {
      current_.phase = "verify";
    } else if (step_reads_ > 0) {
      current_.phase = "explore";
    }
    if (current_.last_verify_passed) {
      current_.failures_since_success = 0;
    } else {
      current_.failures_since_success += step_failures_;
    }
  }
  step_failures_ = step_calls_ = step_edits_ok_ = step_commands_ = step_commands_ok_ = step_reads_ =
      0;

  current_.step += 1;
  current_.turn_step += 1;
  current_.context_tokens = context_tokens_;
  current_.unseen_tokens.clear();
  for (const auto& [model, seen] : seen_) {
    current_.unseen_tokens[model] = std::max<int64_t>(0, context_tokens_ - seen);
  }
  current_.cost_so_far_usd = cost_so_far_usd;
  current_.budget_usd = budget_usd;
  current_.mean_output_tokens = calls_ == 0 ? kDefaultOutputTokens : output_total_ / calls_;
  return current_;
}

void FeatureTracker::ObserveResponse(const std::string& model, const Usage& usage) {
  // The provider's cache now holds this prompt plus the reply (DeepSeek persists both units).
  context_tokens_ = usage.input_cache_hit + usage.input_cache_miss + usage.output;
  seen_[model] = context_tokens_;
  output_total_ += usage.output;
  calls_ += 1;
}

void FeatureTracker::ObserveTool(const ToolCall& call, const ToolResult& result) {
  // The tool message as sent, at ~4 bytes per token (the same estimate the server-side
  // accounting of DeepSeek-style caches is tested against).
  const size_t bytes =
      CanonicalJson(MessageToJson(ToolResultMessage(call.id, result.output))).size();
  context_tokens_ += static_cast<int64_t>((bytes + 3) / 4);
  step_calls_ += 1;
  if (!result.ok) step_failures_ += 1;
  if (IsEdit(call.name)) {
    if (result.ok) {
      step_edits_ok_ += 1;
    } else if (call.name == "edit_file") {
      current_.edit_misses += 1;
    }
  } else if (IsCommand(call.name)) {
    step_commands_ += 1;
    if (result.ok) step_commands_ok_ += 1;
  } else {
    step_reads_ += 1;
  }
  const std::string key = call.name + '\x1f' + call.arguments;
  if (std::find(turn_calls_.begin(), turn_calls_.end(), key) != turn_calls_.end()) {
    current_.repeated_calls += 1;
    step_failures_ += 1;  // an identical call again is a sign of being stuck
  }
  turn_calls_.push_back(key);
}

}  // namespace dsagent
