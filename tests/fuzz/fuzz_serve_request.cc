// The serve request parser (engine/server/openai_chat.h): request bodies come from the network.
// Every body either parses or gives a 400 whose error body is valid JSON naming the problem.
#include <string>

#include "common/json.h"
#include "engine/server/openai_chat.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(dsagent::fuzz::AsText(data, size));
  dsagent::engine::server::RequestDefaults defaults;
  defaults.max_tokens = 64;
  defaults.context_limit = 4096;
  auto request = dsagent::engine::server::ParseChatRequest(body, defaults);
  if (!request) {
    const std::string error = dsagent::engine::server::ErrorBody(request.error());
    const auto parsed = dsagent::Json::parse(error, nullptr, false);
    FUZZ_CHECK(!parsed.is_discarded() && parsed.contains("error"), "error body is not JSON");
  }
  return 0;
}
