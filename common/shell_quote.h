// POSIX shell quoting for command lines that dsagent builds and hands to `sh -c` (eval test
// commands, the bwrap wrapper, display of MCP server commands).
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// `s` as one single-quoted shell word: 'it'\''s' for it's. Safe for any bytes.
std::string ShellQuote(std::string_view s);

// Like ShellQuote, but a plain word (no blanks, quotes, backslash or $) stays as it is; for
// showing a command to a person.
std::string ShellQuoteIfNeeded(std::string_view s);

}  // namespace dsagent
