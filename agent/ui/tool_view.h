// How a tool call looks on the screen: a compact label (the tool and its key argument — the
// command, path or pattern) and a one-line result summary (exit code, lines, +added -removed).
// Pure functions over the call and its result; the renderer decides colours and folding.
#pragma once

#include <string>

#include "agent/providers/message.h"
#include "tools/tool.h"

namespace dsagent {

// The call's key argument as one line: bash -> the command, read_file -> "path:10-40",
// grep -> "'pattern' in path", edit_file/write_file -> the path, ... ; for other tools the first
// string argument; "" when there is none. Newlines become "⏎".
std::string ToolKeyArgument(const ToolCall& call);

// "exit 0 · 12 lines", "+3 -1", "created · 20 lines", "214 lines", "error: <first line>", ...
std::string ToolResultSummary(const ToolCall& call, const ToolResult& result);

// The diff an edit tool's result carries in details.diff ("" for other results).
std::string ToolResultDiff(const ToolResult& result);

// The output worth showing folded under the summary: a shell command's output without the
// trailing "[exit code: N]" note, an error's text; "" for results the summary says enough about
// (file reads, listings, edits — edits show their diff instead).
std::string ToolResultBody(const ToolCall& call, const ToolResult& result);

}  // namespace dsagent
