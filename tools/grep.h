// grep: regular-expression search over the workspace's text files (respecting .gitignore).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments {pattern, path?, glob?, case_insensitive?, context_lines?}. `pattern` is a Perl-style
// regular expression (Boost.Regex) matched against each line; `path` a file or directory (default
// the workspace root); `glob` filters file names (a pattern without '/' matches the base name,
// one with '/' the path relative to `path`). Binary files and files over 16 MiB are skipped.
// Output: `path:line:text` for matches and `path-line-text` for context lines ("--" between
// groups), sorted by path then line; at most ctx.grep_max_matches matches and
// ctx.output_cap_bytes bytes, with a note when capped. An invalid regex is an error (ok=false);
// no match is not. Details: {matches, files, truncated}.
std::unique_ptr<Tool> MakeGrepTool();

}  // namespace dsagent
