#include "engine/tokenizer/v4_special_tokens.h"

#include <array>

namespace dsagent::engine {

std::span<const SpecialToken> V4AddedSpecialTokens() {
  // Ids marked [I] in the chat-format notes (a V4.1 tokenizer listing and a V4 port agree).
  static constexpr std::array<SpecialToken, 11> kTokens = {{
      {"<think>", 128821},
      {"</think>", 128822},
      {"｜DSML｜", 128825},
      {"<｜latest_reminder｜>", 128828},
      {"<｜action｜>", 128829},
      {"<｜query｜>", 128830},
      {"<｜authority｜>", 128831},
      {"<｜domain｜>", 128832},
      {"<｜title｜>", 128836},
      {"<｜extracted_url｜>", 128844},
      {"<｜read_url｜>", 128845},
  }};
  return kTokens;
}

}  // namespace dsagent::engine
