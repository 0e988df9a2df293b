// The OpenAI Chat Completions stream decoder (agent/providers/chat_completions_stream.h): bytes
// from the API or any compatible server. See stream_decoder_check.h for the invariant.
#include "agent/providers/chat_completions_stream.h"
#include "tests/fuzz/stream_decoder_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dsagent::fuzz::CheckChunkingIndependence<dsagent::ChatCompletionsDecoder>(data, size);
  return 0;
}
