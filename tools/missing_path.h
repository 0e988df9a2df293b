// The message for a path that does not exist, with "did you mean" suggestions taken from the
// directory where the model expected it (a typo or a wrong extension is the usual cause).
#pragma once

#include <filesystem>
#include <string>

namespace dsagent {

// E.g. "file 'src/mian.cc' does not exist; similar names in src/: main.cc, main.h" or
// "file 'x/y.cc' does not exist (nor does directory 'x')". `absolute` is the resolved path,
// `shown` the path as the model wrote it, `kind` what was expected there ("file", "directory").
// At most 3 suggestions. Never throws.
std::string MissingPathMessage(const std::filesystem::path& workspace,
                               const std::filesystem::path& absolute, const std::string& shown,
                               const std::string& kind = "file");

}  // namespace dsagent
