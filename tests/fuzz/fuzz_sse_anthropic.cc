// The Anthropic Messages stream decoder (agent/providers/anthropic_stream.h). See
// stream_decoder_check.h for the invariant.
#include "agent/providers/anthropic_stream.h"
#include "tests/fuzz/stream_decoder_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dsagent::fuzz::CheckChunkingIndependence<dsagent::AnthropicStreamDecoder>(data, size);
  return 0;
}
