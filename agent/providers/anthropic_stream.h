// Decoding a streamed Anthropic Messages response (message_start, content_block_start/delta/stop,
// message_delta, message_stop, ping, error) into one assistant message, and normalising its usage.
#pragma once

#include <map>
#include <string>

#include "agent/providers/sse_parser.h"
#include "agent/providers/wire_format.h"
#include "common/json.h"

namespace dsagent {

// Normalises an Anthropic `usage` object: hit = cache_read_input_tokens; miss = input_tokens +
// cache_creation_input_tokens (both are billed as fresh input on DeepSeek); output =
// output_tokens. The format reports no reasoning count, so reasoning is 0. Missing fields are 0.
Usage AnthropicUsage(const Json& usage);

// Maps Anthropic's stop_reason to Chat Completions names: tool_use -> tool_calls, end_turn and
// stop_sequence -> stop, max_tokens -> length; anything else passes through.
std::string FinishReasonFromStopReason(const std::string& stop_reason);

// Assembles text blocks into content, thinking blocks into reasoning and tool_use blocks into tool
// calls whose `arguments` is the concatenated input_json_delta text (or the canonical JSON of the
// block's `input` when no deltas came). Usage from message_start is updated by message_delta.
// message_stop marks completion; an `error` event is a StreamError::kServer.
class AnthropicStreamDecoder : public StreamDecoder {
 public:
  AnthropicStreamDecoder(StreamSink& sink, std::string expected_model);
  bool Feed(std::string_view bytes) override;
  DecodedStream Finish() override;

 private:
  struct Block {
    std::string type;  // text | thinking | tool_use | (others are ignored)
    std::string text;  // text or thinking
    std::string id, name;
    std::string partial_json;  // concatenated input_json_delta
    Json input;                // tool_use input given whole in content_block_start
  };
  bool OnEvent(const SseEvent& event);
  void MergeUsage(const Json& usage);
  bool Fail(StreamError::Kind kind, std::string type, std::string message);

  StreamSink& sink_;
  std::string expected_model_;
  SseParser parser_;
  DecodedStream out_;
  std::map<int64_t, Block> blocks_;  // by content block index
  Json usage_ = Json::object();      // merged raw usage fields
};

}  // namespace dsagent
