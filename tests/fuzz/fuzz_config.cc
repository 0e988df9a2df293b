// YAML the user writes (agent/config, agent/router): the first input byte picks the reader —
//   0: a config file (ReadConfigFile against the built-in schema),
//   1: a routing policy (Router::Parse against the built-in model catalog),
//   2: a model catalog (ModelCatalog::Parse).
// Every document gives a result or an error message; never a crash or an escaped exception.
#include <string>

#include "agent/config/config_file.h"
#include "agent/config/config_schema.h"
#include "agent/config/model_catalog.h"
#include "agent/router/router.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string yaml(dsagent::fuzz::AsText(data + 1, size - 1));
  switch (data[0] % 3) {
    case 0: {
      static const dsagent::fuzz::ScratchPath file("config.yaml");
      dsagent::fuzz::WriteBytes(file.path(), yaml);
      auto settings = dsagent::ReadConfigFile(file.path(), dsagent::ConfigSchema::BuiltIn());
      if (!settings) FUZZ_CHECK(!settings.error().empty(), "an error without a message");
      break;
    }
    case 1: {
      auto router = dsagent::Router::Parse(yaml, "fuzz.yaml", dsagent::ModelCatalog::BuiltIn());
      if (!router) FUZZ_CHECK(!router.error().empty(), "an error without a message");
      break;
    }
    default: {
      auto catalog = dsagent::ModelCatalog::Parse(yaml, "fuzz.yaml");
      if (!catalog) FUZZ_CHECK(!catalog.error().empty(), "an error without a message");
      break;
    }
  }
  return 0;
}
