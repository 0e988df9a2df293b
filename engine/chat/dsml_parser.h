// Parsing V4 completions (the text after "<｜Assistant｜><think>" or "...</think>") into reasoning,
// content and OpenAI-style tool calls, as upstream `parse_message_from_completion_text` does:
// reasoning up to "</think>" (thinking mode), content up to EOS or "\n\n<｜DSML｜tool_calls", tool
// calls parsed strictly. StreamingCompletionParser does the same incrementally for streamed text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent::engine {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object as text: string="true" values quoted, others verbatim
};

struct ParsedCompletion {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;
  bool ended = false;  // the text ended with EOS (otherwise it was cut, e.g. by max tokens)
};

// `thinking`: the completion starts inside <think>. Error: a malformed DSML block or a stray
// special token in content, with the byte offset and what was expected.
Expected<ParsedCompletion, std::string> ParseCompletion(std::string_view text, bool thinking);

// Incremental version: Feed() returns the reasoning/content text that became certain with this
// chunk (never a partial "</think>" or a partial DSML opening); Finish() parses the tool calls.
class StreamingCompletionParser {
 public:
  explicit StreamingCompletionParser(bool thinking)
      : thinking_(thinking), in_reasoning_(thinking) {}

  // A piece of a tool call, as the block is written. A call's first delta carries its `name`
  // (once the invoke tag is complete) and the arguments so far; later ones carry the next piece of
  // the arguments; `done` marks the one after which the invoke is closed. A call's pieces
  // concatenate to the `arguments` Finish() gives (when the block parses).
  struct ToolCallDelta {
    size_t index = 0;
    std::string name;  // the first delta of a call only
    std::string arguments;
    bool done = false;
  };
  struct Delta {
    std::string reasoning;
    std::string content;
    std::vector<ToolCallDelta> tool_calls;
    bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  };
  Delta Feed(std::string_view chunk);
  // Stream at most `n` tool calls (parallel tool calls off); 0: all.
  void LimitToolCalls(size_t n) { max_calls_ = n; }
  // Parses everything fed so far (same result as ParseCompletion on the whole text).
  Expected<ParsedCompletion, std::string> Finish() const;

 private:
  bool thinking_;
  bool in_reasoning_;
  bool in_tools_ = false;  // past the start of the tool-call block or EOS: nothing more streams
  std::string all_;        // everything fed
  size_t emitted_ = 0;     // bytes of all_ already classified and emitted (or withheld for good)
  size_t tools_at_ = std::string::npos;  // where the tool-call block starts in all_
  size_t max_calls_ = 0;
  std::vector<size_t> sent_;  // per started call: bytes of its arguments already streamed
  std::vector<bool> done_;    // per started call: `done` streamed
};

}  // namespace dsagent::engine
