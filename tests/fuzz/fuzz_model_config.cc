// config.json of a checkpoint (engine/model/model_config.h): parsed from a file the user points
// at. Any JSON gives a config or an error message, never a crash or an exception.
#include "common/json.h"
#include "engine/model/model_config.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto j = dsagent::Json::parse(dsagent::fuzz::AsText(data, size), nullptr, false);
  if (j.is_discarded()) return 0;
  auto config = dsagent::engine::ParseModelConfig(j, "fuzz/config.json");
  if (!config) FUZZ_CHECK(!config.error().empty(), "an error without a message");
  return 0;
}
