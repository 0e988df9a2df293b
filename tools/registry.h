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
  // The tools, sorted by name.
  std::vector<const Tool*> Tools() const;
  // Runs tool `name` with `arguments_json` (the model's raw string). Never throws.
  ToolResult Dispatch(const std::string& name, const std::string& arguments_json,
                      const ToolContext& ctx) const;
  bool Has(const std::string& name) const { return tools_.count(name) != 0; }

 private:
  std::map<std::string, std::unique_ptr<Tool>> tools_;
};

}  // namespace dsagent
