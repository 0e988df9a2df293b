#include "agent/config/mcp_servers_config.h"

#include "agent/config/closest_key.h"
#include "agent/config/scalar.h"
#include "agent/config/yaml_util.h"
#include "common/file_io.h"

namespace dsagent {
namespace {

constexpr const char* kSection = "mcp_servers";
constexpr size_t kMaxNameBytes = 32;  // tool names are capped at 64 bytes in all

const std::vector<std::string>& KnownFields() {
  static const std::vector<std::string> kFields = {
      "command", "args",    "env",     "cwd",           "url", "headers",
      "sandbox", "enabled", "startup_timeout_s", "tool_timeout_s"};
  return kFields;
}

// Reads one server's mapping into `out`; appends problems to `errors`.
void ReadServer(const YAML::Node& node, const std::string& where_prefix, const std::string& source,
                McpServerConfig& out, std::vector<std::string>& errors) {
  const auto fail = [&](const YAML::Node& at, const std::string& field, const std::string& what) {
    errors.push_back(Where(source, at) + ": " + where_prefix + (field.empty() ? "" : "." + field) +
                     ": " + what);
  };
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string field = it->first.Scalar();
    // A copy (a Node is a handle): yaml-cpp's iterator returns a temporary proxy from ->, so a
    // reference to it->second dangles after this line (ASan: stack-use-after-scope).
    const YAML::Node value = it->second;
    if (std::find(KnownFields().begin(), KnownFields().end(), field) == KnownFields().end()) {
      fail(it->first, field, "unknown field" + DidYouMean(field, KnownFields()));
      continue;
    }
    if (field == "args") {
      if (!value.IsSequence()) {
        fail(it->first, field, "expects a list of strings, not " + DescribeNodeType(value));
        continue;
      }
      for (const YAML::Node& a : value) {
        if (!a.IsScalar()) {
          fail(a, field, "expects a list of strings; an entry is " + DescribeNodeType(a));
          break;
        }
        out.args.push_back(a.Scalar());
      }
      continue;
    }
    if (field == "env" || field == "headers") {
      if (!value.IsMap()) {
        fail(it->first, field, "expects a mapping of NAME: value, not " + DescribeNodeType(value));
        continue;
      }
      auto& map = field == "env" ? out.env : out.headers;
      for (auto kv = value.begin(); kv != value.end(); ++kv) {
        if (!kv->second.IsScalar()) {
          fail(kv->first, field + "." + kv->first.Scalar(), "expects a value, not " +
                                                                DescribeNodeType(kv->second));
          continue;
        }
        map[kv->first.Scalar()] = kv->second.Scalar();
      }
      continue;
    }
    if (!value.IsScalar()) {
      fail(it->first, field, "expects a value, not " + DescribeNodeType(value));
      continue;
    }
    const std::string& text = value.Scalar();
    if (field == "sandbox" || field == "enabled") {
      const auto b = ParseBool(text);
      if (!b) {
        fail(it->first, field, "expects a boolean (true/false), got \"" + text + "\"");
        continue;
      }
      (field == "sandbox" ? out.sandbox : out.enabled) = *b;
    } else if (field == "startup_timeout_s" || field == "tool_timeout_s") {
      const auto n = ParseInt64(text);
      if (!n || *n < 1) {
        fail(it->first, field, "expects a whole number of seconds, at least 1, got \"" + text +
                                   "\"");
        continue;
      }
      (field == "startup_timeout_s" ? out.startup_timeout_s : out.tool_timeout_s) = *n;
    } else if (field == "command") {
      out.command = text;
    } else if (field == "cwd") {
      out.cwd = text;
    } else if (field == "url") {
      out.url = text;
      if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0) {
        fail(it->first, field, "expects an http:// or https:// URL, got \"" + text + "\"");
      }
    }
  }
  if (out.command.empty() == out.url.empty()) {
    fail(node, "", out.command.empty()
                       ? "set `command` (a stdio server) or `url` (a streamable HTTP server)"
                       : "set either `command` or `url`, not both");
  }
}

}  // namespace

bool IsValidMcpServerName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  if (name.find("__") != std::string_view::npos) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Expected<std::vector<McpServerConfig>, std::string> ReadMcpServersFromFile(
    const std::filesystem::path& path, const std::string& label) {
  std::vector<McpServerConfig> servers;
  auto text = ReadFileIfExists(path);
  if (!text) return MakeUnexpected(text.error());
  if (!text->has_value()) return servers;
  const std::string source = path.string();
  auto root = ParseYaml(**text, source);
  if (!root) return MakeUnexpected(root.error());
  if (!root->IsMap() || !(*root)[kSection]) return servers;
  const YAML::Node section = (*root)[kSection];
  if (section.IsNull()) return servers;
  std::vector<std::string> errors;
  if (!section.IsMap()) {
    return MakeUnexpected(Where(source, section) +
                          ": mcp_servers: expects a mapping of server names, not " +
                          DescribeNodeType(section));
  }
  for (auto it = section.begin(); it != section.end(); ++it) {
    McpServerConfig server;
    server.name = it->first.Scalar();
    server.source = label + ":" + source;
    const std::string prefix = std::string(kSection) + "." + server.name;
    if (!IsValidMcpServerName(server.name)) {
      errors.push_back(Where(source, it->first) + ": " + prefix +
                       ": a server name is 1-32 letters, digits, '-' or '_', without '__' (it "
                       "becomes part of the tool names mcp__<server>__<tool>)");
      continue;
    }
    if (!it->second.IsMap()) {
      errors.push_back(Where(source, it->first) + ": " + prefix +
                       ": expects a mapping (command or url, ...), not " +
                       DescribeNodeType(it->second));
      continue;
    }
    ReadServer(it->second, prefix, source, server, errors);
    servers.push_back(std::move(server));
  }
  if (!errors.empty()) return MakeUnexpected(JoinLines(errors));
  return servers;
}

Expected<std::string, std::string> ExpandEnvReferences(
    std::string_view text, const std::map<std::string, std::string>& env) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = text.find("${", i);
    if (start == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, start - i));
    const size_t end = text.find('}', start + 2);
    if (end == std::string_view::npos) return MakeUnexpected("unterminated \"${\"");
    const std::string name(text.substr(start + 2, end - start - 2));
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return MakeUnexpected("${" + name + "} is not set");
    out += it->second;
    i = end + 1;
  }
  return out;
}

namespace {

// Loads `path` as a mapping (an absent or empty file is an empty mapping).
Expected<YAML::Node, std::string> LoadRoot(const std::filesystem::path& path) {
  auto text = ReadFileIfExists(path);
  if (!text) return MakeUnexpected(text.error());
  auto root = ParseYaml(text->value_or(""), path.string());
  if (!root) return MakeUnexpected(root.error());
  if (root->IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root->IsMap()) return MakeUnexpected(path.string() + ": not a mapping of settings");
  return *root;
}

Expected<Ok, std::string> Save(const std::filesystem::path& path, const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  if (!out.good()) return MakeUnexpected(path.string() + ": cannot write YAML: " + out.GetLastError());
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (auto written = WriteFileAtomic(path, std::string(out.c_str()) + "\n"); !written) {
    return MakeUnexpected(written.error());
  }
  return Ok{};
}

}  // namespace

Expected<Ok, std::string> WriteMcpServer(const std::filesystem::path& path,
                                         const McpServerConfig& server) {
  auto root = LoadRoot(path);
  if (!root) return MakeUnexpected(root.error());
  YAML::Node entry(YAML::NodeType::Map);
  if (!server.command.empty()) {
    entry["command"] = server.command;
    if (!server.args.empty()) {
      YAML::Node args(YAML::NodeType::Sequence);
      for (const std::string& a : server.args) args.push_back(a);
      entry["args"] = args;
    }
    if (!server.cwd.empty()) entry["cwd"] = server.cwd;
  } else {
    entry["url"] = server.url;
  }
  for (const auto& [field, map] : {std::pair{"env", &server.env}, {"headers", &server.headers}}) {
    if (map->empty()) continue;
    YAML::Node m(YAML::NodeType::Map);
    for (const auto& [k, v] : *map) m[k] = v;
    entry[field] = m;
  }
  if (!server.sandbox) entry["sandbox"] = false;
  if (!server.enabled) entry["enabled"] = false;
  if (server.startup_timeout_s != 30) entry["startup_timeout_s"] = server.startup_timeout_s;
  if (server.tool_timeout_s != 120) entry["tool_timeout_s"] = server.tool_timeout_s;
  YAML::Node section = (*root)[kSection];
  if (!section.IsMap()) {
    (*root)[kSection] = YAML::Node(YAML::NodeType::Map);
    section = (*root)[kSection];
  }
  section[server.name] = entry;
  return Save(path, *root);
}

Expected<Ok, std::string> RemoveMcpServer(const std::filesystem::path& path,
                                          const std::string& name) {
  auto root = LoadRoot(path);
  if (!root) return MakeUnexpected(root.error());
  YAML::Node section = (*root)[kSection];
  if (!section.IsMap() || !section[name]) {
    return MakeUnexpected("no MCP server '" + name + "' in " + path.string());
  }
  section.remove(name);
  if (section.size() == 0) root->remove(kSection);
  return Save(path, *root);
}

}  // namespace dsagent
