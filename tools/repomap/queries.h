// The tags queries under tools/repomap/queries/, embedded byte for byte at build time
// (cmake/Embed.cmake). Find("cpp.scm") returns the text of queries/cpp.scm.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace dsagent::repomap_queries {

std::optional<std::string_view> Find(std::string_view path);
std::vector<std::string_view> List();

}  // namespace dsagent::repomap_queries
