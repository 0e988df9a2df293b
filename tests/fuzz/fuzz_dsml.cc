// DSML completion parser (engine/chat/dsml_parser.h): model output is untrusted text. Besides not
// crashing: the streamed deltas, fed in chunks cut at input-chosen points, are a prefix of what the
// whole-text parse returns (text shown to a user while streaming is never taken back), and the
// streaming parser's Finish equals ParseCompletion on the whole text.
#include <string>

#include "engine/chat/dsml_parser.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool thinking = data[0] & 1;
  const size_t chunk = 1 + data[1] % 17;
  const std::string_view text = dsagent::fuzz::AsText(data + 2, size - 2);

  auto whole = dsagent::engine::ParseCompletion(text, thinking);
  dsagent::engine::StreamingCompletionParser stream(thinking);
  std::string reasoning, content;
  for (size_t at = 0; at < text.size(); at += chunk) {
    auto d = stream.Feed(text.substr(at, chunk));
    reasoning += d.reasoning;
    content += d.content;
  }
  auto finished = stream.Finish();
  FUZZ_CHECK(whole.has_value() == finished.has_value(), "streaming and whole parse disagree on success");
  if (whole) {
    FUZZ_CHECK(whole->reasoning == finished->reasoning && whole->content == finished->content &&
                   whole->tool_calls.size() == finished->tool_calls.size(),
               "streaming Finish differs from the whole-text parse");
    FUZZ_CHECK(whole->reasoning.compare(0, reasoning.size(), reasoning) == 0,
               "streamed reasoning is not a prefix of the parsed reasoning");
    FUZZ_CHECK(whole->content.compare(0, content.size(), content) == 0,
               "streamed content is not a prefix of the parsed content");
  }
  return 0;
}
