// How tool output shows a file name. Listings put one name per line, so a name holding a newline
// (legal on Linux) would read as two entries, and other control characters (a carriage return, an
// escape sequence) can hide or rewrite what the model sees. Linux names are bytes, not text: a
// name that is not valid UTF-8 cannot travel in a JSON request as it is.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dsagent {

// `name` as is when it holds no control character (U+0000..U+001F, U+007F), is valid UTF-8 and
// does not start with '"'; otherwise as a JSON string literal ("new\nline.py", "\u001b[2J.txt"),
// which is also how a tool call's JSON arguments spell that name, so the model can pass it back
// unchanged. A byte that is not part of valid UTF-8 is written as the four characters `\xNN`
// (so the literal reads "bad\\xff.py"); ResolveWorkspacePath maps that spelling back to the byte.
std::string ShownName(std::string_view name);

// True when ShownName(name) differs from `name`.
bool NeedsQuoting(std::string_view name);

// `spelled` with every `\xNN` for NN in 80..ff (the spelling ShownName gives a byte that is not
// valid UTF-8) replaced by that byte; nullopt when it holds no such escape.
std::optional<std::string> DecodeShownByteEscapes(std::string_view spelled);

}  // namespace dsagent
