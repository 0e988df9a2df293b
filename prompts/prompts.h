// The prompt texts under prompts/, embedded byte for byte at build time. Static by design: nothing
// volatile (dates, paths, git state) may appear in them, because they open every request's prefix.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace dsagent::prompts {

// `path` relative to prompts/, e.g. "system.md" or "tools/read_file.md".
std::optional<std::string_view> Find(std::string_view path);
std::vector<std::string_view> List();

}  // namespace dsagent::prompts
