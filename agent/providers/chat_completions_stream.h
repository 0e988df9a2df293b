// Decoding a streamed Chat Completions response (`chat.completion.chunk` events) into one assistant
// message, and normalising its usage.
#pragma once

#include <map>
#include <string>

#include "agent/providers/sse_parser.h"
#include "agent/providers/wire_format.h"
#include "common/json.h"

namespace dsagent {

// Normalises a Chat Completions `usage` object. DeepSeek: hit = prompt_cache_hit_tokens, miss =
// prompt_cache_miss_tokens. Generic servers without those fields: hit =
// prompt_tokens_details.cached_tokens (0 if absent), miss = prompt_tokens - hit. output =
// completion_tokens; reasoning = completion_tokens_details.reasoning_tokens. Missing fields are 0.
Usage ChatCompletionsUsage(const Json& usage);

// Assembles content, reasoning (`reasoning_content`, or `reasoning` as some vLLM versions name it)
// and tool calls from deltas. Tool-call deltas are keyed by `index`; the id and name arrive first
// and argument fragments are concatenated byte-exactly. `data: [DONE]` marks completion; the
// usage-only chunk (`choices: []`) carries usage; `data: {"error": ...}` is a StreamError::kServer.
class ChatCompletionsDecoder : public StreamDecoder {
 public:
  ChatCompletionsDecoder(StreamSink& sink, std::string expected_model);
  bool Feed(std::string_view bytes) override;
  DecodedStream Finish() override;

 private:
  struct PartialCall {
    std::string id;
    std::string name;
    std::string arguments;
    bool announced = false;
  };
  bool OnEvent(const SseEvent& event);
  bool OnChunk(const Json& chunk);
  void OnToolCallDelta(const Json& delta);
  bool Fail(StreamError::Kind kind, std::string type, std::string message);

  StreamSink& sink_;
  std::string expected_model_;
  SseParser parser_;
  DecodedStream out_;
  std::map<int, PartialCall> calls_;  // by `index`; std::map keeps them in index order
  int last_index_ = -1;               // for servers that omit `index`
};

}  // namespace dsagent
