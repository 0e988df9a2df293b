// The `repo_map` tool: the model asks for the repository's most relevant definitions, focused on
// files it is working on or symbols it cares about, within a token budget.
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments: focus (array of paths, files or directories), symbols (array of identifiers),
// max_tokens (integer >= 128, default kDefaultRepoMapTokens, at most 8192). Output: the map
// (elided snippets per file), then a line listing skipped files if any. Errors (ok=false): a focus
// path outside the workspace, a non-string array element. Details: {files_mapped, files_parsed,
// files_from_cache, definitions_shown, definitions_ranked, tokens_estimate, skipped}.
std::unique_ptr<Tool> MakeRepoMapTool();

}  // namespace dsagent
