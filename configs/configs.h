// The YAML files under configs/, embedded at build time (the built-in defaults layer).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace dsagent::configs {

// `path` relative to configs/, e.g. "default.yaml" or "models.yaml".
std::optional<std::string_view> Find(std::string_view path);
std::vector<std::string_view> List();

}  // namespace dsagent::configs
