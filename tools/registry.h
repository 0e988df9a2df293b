// ToolRegistry: the fixed set of tools offered in a session, sorted by name so the tool schemas in
// every request are byte-identical (prefix cache). Dispatch parses the model's argument string and
// turns every failure (unknown tool, malformed JSON, schema mismatch) into a ToolResult.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/tool.h"

namespace dsagent {

class ToolRegistry {
 public:
  // All built-in tools of this issue: read_file, write_file, edit_file, list_files, glob, grep,
  // bash, git_status, git_diff, git_log, repo_map.
  static ToolRegistry BuiltIn();

  void Add(std::unique_ptr<Tool> tool);
  // A tool from outside dsagent (an MCP server's, tools/mcp/) with the description its source
  // gave. Offered after every built-in tool, in the order added, so built-ins keep their place in
  // the request prefix. Its arguments are checked only for being a JSON object: the schema is
  // the server's to enforce (it may use JSON Schema beyond what CheckArguments reads).
  void AddExternal(std::unique_ptr<Tool> tool, std::string description);
  // For a source whose list changed mid-session: ReplaceExternal swaps the external tool of the
  // same name in place (keeping its position), RemoveExternal takes one out. Each returns false
  // when there is no external tool of that name.
  bool ReplaceExternal(std::unique_ptr<Tool> tool, std::string description);
  bool RemoveExternal(const std::string& name);
  // The built-in tools sorted by name, then the external ones in the order added.
  std::vector<const Tool*> Tools() const;
  // What the model is told about tool `name`: prompts/tools/<name>.md for a built-in, the
  // source's description for an external tool.
  std::string Description(const std::string& name) const;
  // Runs tool `name` with `arguments_json` (the model's raw string). Never throws.
  ToolResult Dispatch(const std::string& name, const std::string& arguments_json,
                      const ToolContext& ctx) const;
  bool Has(const std::string& name) const { return Find(name) != nullptr; }

 private:
  struct External {
    std::unique_ptr<Tool> tool;
    std::string description;
  };
  const Tool* Find(const std::string& name) const;

  std::map<std::string, std::unique_ptr<Tool>> tools_;
  std::vector<External> external_;
};

}  // namespace dsagent
