// Changing a user or repository config file from the program (the "always allow, and remember"
// answer saves a permission rule to the repository's .dsagent/config.yaml).
#pragma once

#include <filesystem>
#include <string>

#include "common/expected.h"

namespace dsagent {

// Appends `entry` to the list setting `key` (dotted, e.g. "permissions.rules") in the config file
// at `path`, creating the file and its directory when missing; does nothing when the entry is
// already there. Every other setting is kept: when the file does not mention the key's top-level
// section yet, the entry is appended as text (comments and layout untouched); otherwise the file
// is rewritten from its parsed form (values kept, comments lost). Crash-safe: the new file
// replaces the old one atomically (WriteFileAtomic). Error: `key` is not a list setting, the file
// is unreadable or malformed, the key holds something other than a list, or the write fails.
Expected<Ok, std::string> AppendToConfigList(const std::filesystem::path& path,
                                             const std::string& key, const std::string& entry);

}  // namespace dsagent
