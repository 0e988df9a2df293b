// Shared by the two SSE stream-decoder targets: decodes the same body whole and cut into chunks at
// input-chosen points (a stream may be split at any byte on the wire) and requires the same result.
#pragma once

#include <string_view>

#include "agent/providers/provider.h"
#include "agent/providers/wire_format.h"
#include "tests/fuzz/fuzz_target.h"

namespace dsagent::fuzz {

struct NullSink : StreamSink {};

template <typename Decoder>
void CheckChunkingIndependence(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const size_t chunk = 1 + data[0] % 13;
  const std::string_view body = AsText(data + 1, size - 1);
  NullSink sink_a, sink_b;
  Decoder whole(sink_a, "deepseek-v4-flash");
  whole.Feed(body);
  const DecodedStream a = whole.Finish();
  Decoder pieces(sink_b, "deepseek-v4-flash");
  for (size_t at = 0; at < body.size(); at += chunk) {
    if (!pieces.Feed(body.substr(at, chunk))) break;
  }
  const DecodedStream b = pieces.Finish();
  FUZZ_CHECK(a.message == b.message, "the message depends on how the stream was chunked");
  FUZZ_CHECK(a.finish_reason == b.finish_reason && a.complete == b.complete &&
                 a.error.has_value() == b.error.has_value(),
             "the outcome depends on how the stream was chunked");
}

}  // namespace dsagent::fuzz
