// The change an edit tool call would make, as a unified diff, for the approval prompt — computed
// without writing anything. Best effort: "" whenever the preview would not be exactly what the
// tool does (the path is refused, the file is binary or unreadable, old_string does not match
// exactly once), since the tool itself then reports the problem.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace dsagent {

// For write_file and edit_file calls (arguments as the model sent them); "" for other tools.
// Thread-safe; reads the file once.
std::string PreviewEditDiff(std::string_view tool_name, std::string_view arguments_json,
                            const std::filesystem::path& workspace);

}  // namespace dsagent
