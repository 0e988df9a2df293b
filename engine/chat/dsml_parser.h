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

  struct Delta {
    std::string reasoning;
    std::string content;
  };
  Delta Feed(std::string_view chunk);
  // Parses everything fed so far (same result as ParseCompletion on the whole text).
  Expected<ParsedCompletion, std::string> Finish() const;

 private:
  bool thinking_;
  bool in_reasoning_;
  bool in_tools_ = false;  // past the start of the tool-call block or EOS: nothing more streams
  std::string all_;        // everything fed
  size_t emitted_ = 0;     // bytes of all_ already classified and emitted (or withheld for good)
};

}  // namespace dsagent::engine
