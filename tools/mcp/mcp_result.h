// Turning a tools/call result into what the model reads. MCP results carry a list of content
// blocks (text, image, audio, resource links, embedded resources), optionally structuredContent
// (a JSON value matching the tool's outputSchema) and isError. The model here reads text only:
// text blocks pass through, binary blocks become a one-line placeholder naming their type and
// size, and structured content is shown as JSON when no text block carries it.
#pragma once

#include <cstddef>

#include "tools/tool.h"

namespace dsagent {

// `result` is the tools/call result object. ok is false when isError is true (the text is then
// the server's explanation). The output is capped at `cap_bytes` (head and tail kept).
// details: {"is_error":bool, "structured":<structuredContent>} (the latter only when present),
// "content_types": the block types in order.
ToolResult McpResultToToolResult(const Json& result, size_t cap_bytes);

}  // namespace dsagent
