// How tool output shows a file name. Listings put one name per line, so a name holding a newline
// (legal on Linux) would read as two entries, and other control characters (a carriage return, an
// escape sequence) can hide or rewrite what the model sees.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// `name` as is when it holds no control character (U+0000..U+001F, U+007F) and does not start
// with '"'; otherwise as a JSON string literal ("new\nline.py", "\u001b[2J.txt"), which is also
// how a tool call's JSON arguments spell that name, so the model can pass it back unchanged.
// Bytes that are not valid UTF-8 are left for the registry's sanitising.
std::string ShownName(std::string_view name);

// True when ShownName(name) differs from `name`.
bool NeedsQuoting(std::string_view name);

}  // namespace dsagent
