#include "tools/registry.h"

#include <exception>
#include <utility>

#include "common/utf8.h"
#include "tools/bash.h"
#include "tools/edit_file.h"
#include "tools/git_support.h"
#include "tools/git_tools.h"
#include "tools/glob.h"
#include "tools/grep.h"
#include "tools/list_files.h"
#include "tools/read_file.h"
#include "tools/repomap/repo_map_tool.h"
#include "tools/tool_util.h"
#include "tools/write_file.h"

namespace dsagent {
namespace {

std::string TypeName(const Json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();  // "string", "boolean", "object", "array", "null"
}

bool HasType(const Json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;  // no type constraint we know of
}

std::string PropertyList(const Json& properties) {
  std::string out;
  for (auto it = properties.begin(); it != properties.end(); ++it) {
    out += (out.empty() ? "" : ", ") + it.key();
  }
  return out.empty() ? std::string("none") : out;
}

// Checks `args` against the top level of `schema`: no unknown properties, required ones present,
// primitive types and integer minimums. Null optional properties are dropped (models sometimes
// send "x": null for "not given"). Ok when valid, else the message for the model.
Expected<Ok, std::string> CheckArguments(const std::string& tool, const Json& schema, Json& args) {
  const Json properties = schema.value("properties", Json::object());
  for (auto it = args.begin(); it != args.end();) {
    if (!properties.contains(it.key())) {
      return MakeUnexpected("unknown argument '" + it.key() + "' for " + tool +
                            "; its arguments are: " + PropertyList(properties));
    }
    if (it->is_null()) {
      it = args.erase(it);
      continue;
    }
    const Json& prop = properties[it.key()];
    const std::string type = prop.value("type", "");
    if (!HasType(*it, type)) {
      return MakeUnexpected("argument '" + it.key() + "' of " + tool + " must be " +
                            (type == "integer" ? "an " : "a ") + type + ", got " + TypeName(*it));
    }
    if (type == "integer" && prop.contains("minimum") &&
        it->get<int64_t>() < prop["minimum"].get<int64_t>()) {
      return MakeUnexpected("argument '" + it.key() + "' of " + tool + " must be at least " +
                            std::to_string(prop["minimum"].get<int64_t>()));
    }
    ++it;
  }
  for (const Json& name : schema.value("required", Json::array())) {
    if (!args.contains(name.get<std::string>())) {
      return MakeUnexpected("missing required argument '" + name.get<std::string>() + "' for " +
                            tool);
    }
  }
  return Ok{};
}

}  // namespace

ToolRegistry ToolRegistry::BuiltIn() {
  EnsureLibgit2Initialized();
  ToolRegistry registry;
  registry.Add(MakeReadFileTool());
  registry.Add(MakeWriteFileTool());
  registry.Add(MakeEditFileTool());
  registry.Add(MakeListFilesTool());
  registry.Add(MakeGlobTool());
  registry.Add(MakeGrepTool());
  registry.Add(MakeBashTool());
  registry.Add(MakeGitStatusTool());
  registry.Add(MakeGitDiffTool());
  registry.Add(MakeGitLogTool());
  registry.Add(MakeRepoMapTool());
  return registry;
}

void ToolRegistry::Add(std::unique_ptr<Tool> tool) {
  std::string name = tool->Name();
  tools_[std::move(name)] = std::move(tool);
}

void ToolRegistry::AddExternal(std::unique_ptr<Tool> tool, std::string description) {
  external_.push_back({std::move(tool), std::move(description)});
}

bool ToolRegistry::ReplaceExternal(std::unique_ptr<Tool> tool, std::string description) {
  for (External& e : external_) {
    if (e.tool->Name() != tool->Name()) continue;
    e = {std::move(tool), std::move(description)};
    return true;
  }
  return false;
}

bool ToolRegistry::RemoveExternal(const std::string& name) {
  return std::erase_if(external_, [&](const External& e) { return e.tool->Name() == name; }) > 0;
}

const Tool* ToolRegistry::Find(const std::string& name) const {
  if (auto it = tools_.find(name); it != tools_.end()) return it->second.get();
  for (const External& e : external_) {
    if (e.tool->Name() == name) return e.tool.get();
  }
  return nullptr;
}

std::string ToolRegistry::Description(const std::string& name) const {
  for (const External& e : external_) {
    if (e.tool->Name() == name) return e.description;
  }
  return ToolDescription(name);
}

std::vector<const Tool*> ToolRegistry::Tools() const {
  std::vector<const Tool*> out;
  out.reserve(tools_.size() + external_.size());
  for (const auto& [name, tool] : tools_) out.push_back(tool.get());  // std::map: sorted by name
  for (const External& e : external_) out.push_back(e.tool.get());
  return out;
}

ToolResult ToolRegistry::Dispatch(const std::string& name, const std::string& arguments_json,
                                  const ToolContext& ctx) const {
  try {
    Tool* tool = const_cast<Tool*>(Find(name));
    if (tool == nullptr) {
      std::string names;
      for (const auto& [n, t] : tools_) names += (names.empty() ? "" : ", ") + n;
      for (const External& e : external_) names += ", " + e.tool->Name();
      return ErrorResult("unknown tool '" + SanitizeUtf8(name) + "'; available tools: " + names);
    }
    Json args;
    if (arguments_json.find_first_not_of(" \t\r\n") == std::string::npos) {
      args = Json::object();  // some models send "" for a call without arguments
    } else {
      try {
        args = Json::parse(arguments_json);
      } catch (const Json::parse_error& e) {
        // e.what() quotes the bytes read, which may be invalid UTF-8 (found by fuzz_tool_calls).
        return ErrorResult("the arguments of " + name +
                           " are not valid JSON: " + SanitizeUtf8(e.what()));
      }
    }
    if (!args.is_object()) {
      return ErrorResult("the arguments of " + name + " must be a JSON object, got " +
                         TypeName(args));
    }
    if (tools_.count(name) != 0) {
      if (auto valid = CheckArguments(name, tool->Schema(), args); !valid) {
        return ErrorResult(SanitizeUtf8(valid.error()));
      }
    }
    ToolResult result = tool->Run(args, ctx);
    result.output = SanitizeUtf8(result.output);
    return result;
  } catch (const std::exception& e) {
    return ErrorResult("internal error in tool " + SanitizeUtf8(name) + ": " +
                       SanitizeUtf8(e.what()));
  } catch (...) {
    return ErrorResult("internal error in tool " + SanitizeUtf8(name));
  }
}

}  // namespace dsagent
