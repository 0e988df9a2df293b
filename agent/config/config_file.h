// Reading one user or repository config file (a layer of Config) and validating it against the
// schema from configs/default.yaml. Internal to agent/config.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "agent/config/config_schema.h"
#include "common/expected.h"

namespace dsagent {

struct ConfigFileSetting {
  std::string key;    // a known dotted key
  std::string value;  // canonical, already validated (ConfigSchema::Check)
  std::string where;  // "<path>:<line>", for later warnings
};

// The settings in `path`, in file order; an empty list if the file does not exist. Error (every
// problem found, one per line, each starting "<path>:<line>:"): unreadable file, malformed YAML,
// unknown key (with the closest known key suggested), a value of the wrong type (naming the
// expected type), a value where a group of keys belongs or the reverse, or a key with no value.
// Values of secret keys are never echoed. The `mcp_servers:` section is skipped here (see
// mcp_servers_config.h).
Expected<std::vector<ConfigFileSetting>, std::string> ReadConfigFile(
    const std::filesystem::path& path, const ConfigSchema& schema);

}  // namespace dsagent
