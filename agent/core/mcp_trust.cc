#include "agent/core/mcp_trust.h"

#include "agent/config/yaml_util.h"
#include "common/file_io.h"
#include "common/json.h"
#include "common/sha256.h"
#include "common/xdg.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTrustConfigKey = "mcp.trust_repo_servers";

Json ReadTrustFile(const fs::path& path) {
  auto text = ReadFileIfExists(path);
  if (!text || !text->has_value()) return Json::object();
  try {
    Json j = Json::parse(**text);
    if (j.is_object() && j.contains("repos") && j["repos"].is_object()) return j;
  } catch (const Json::exception&) {
  }
  return Json::object();
}

// How to allow a server that was not started, for the notes.
std::string HowToTrust(const McpServerConfig& server, McpTrustFront front) {
  if (front == McpTrustFront::kHeadless) {
    return "pass --trust-repo-mcp, or set mcp.trust_repo_servers: true in your user config (" +
           (XdgConfigHome() / "dsagent" / "config.yaml").string() + ")";
  }
  return "run `dsagent mcp trust " + server.name + "` or answer yes when dsagent asks";
}

}  // namespace

fs::path McpTrustStorePath() { return XdgStateHome() / "dsagent" / "mcp-trust.json"; }

std::string McpServerDefinitionHash(const McpServerConfig& server) {
  const Json definition = {{"command", server.command}, {"args", server.args},
                           {"env", server.env},         {"cwd", server.cwd},
                           {"url", server.url},         {"headers", server.headers},
                           {"sandbox", server.sandbox}};
  return Sha256Hex(CanonicalJson(definition));
}

bool IsRepoMcpServer(const McpServerConfig& server) { return server.source.rfind("repo:", 0) == 0; }

bool RepoMcpServersTrustedByConfig(const Config& config) {
  const ConfigValue& v = config.Get(kTrustConfigKey);
  return v.kind != ConfigSourceKind::kRepo && v.value == "true";
}

std::optional<bool> McpTrustStore::Lookup(const fs::path& workspace,
                                          const McpServerConfig& server) const {
  const Json file = ReadTrustFile(path_);
  if (file.empty()) return std::nullopt;
  const Json& repos = file["repos"];
  const auto repo = repos.find(workspace.string());
  if (repo == repos.end() || !repo->is_object()) return std::nullopt;
  const auto entry = repo->find(server.name);
  if (entry == repo->end() || !entry->is_object()) return std::nullopt;
  if (entry->value("sha256", "") != McpServerDefinitionHash(server)) return std::nullopt;
  const auto trusted = entry->find("trusted");
  if (trusted == entry->end() || !trusted->is_boolean()) return std::nullopt;
  return trusted->get<bool>();
}

Expected<Ok, std::string> McpTrustStore::Record(const fs::path& workspace,
                                                const McpServerConfig& server, bool trusted) const {
  // Read again just before writing, so answers given by another session meanwhile are kept.
  Json file = ReadTrustFile(path_);
  if (file.empty()) file = {{"version", 1}, {"repos", Json::object()}};
  file["repos"][workspace.string()][server.name] = {{"sha256", McpServerDefinitionHash(server)},
                                                    {"trusted", trusted}};
  if (auto w = WriteFileAtomic(path_, file.dump(2) + "\n",
                               fs::perms::owner_read | fs::perms::owner_write);
      !w) {
    return MakeUnexpected("cannot remember the answer for MCP server '" + server.name +
                          "': " + w.error());
  }
  return Ok{};
}

McpServerSelection SelectTrustedMcpServers(const Config& config, const fs::path& workspace,
                                           McpTrustFront front, const McpTrustAsk& ask,
                                           const McpTrustStore& store) {
  McpServerSelection out;
  const bool trust_all = RepoMcpServersTrustedByConfig(config);
  if (config.Get(kTrustConfigKey).kind == ConfigSourceKind::kRepo &&
      config.GetBool(kTrustConfigKey)) {
    out.notes.push_back(std::string(kTrustConfigKey) +
                        " is ignored in a repository config file (a repository cannot trust "
                        "itself); set it in your user config or pass --trust-repo-mcp");
  }
  for (const McpServerConfig& server : config.McpServers()) {
    if (!IsRepoMcpServer(server) || !server.enabled || trust_all) {
      out.start.push_back(server);
      continue;
    }
    std::optional<bool> trusted;
    if (front != McpTrustFront::kHeadless) trusted = store.Lookup(workspace, server);
    if (!trusted && front == McpTrustFront::kAsk && ask) {
      trusted = ask(server);
      if (auto r = store.Record(workspace, server, *trusted); !r) out.notes.push_back(r.error());
    }
    if (trusted.value_or(false)) {
      out.start.push_back(server);
      continue;
    }
    const std::string why = !trusted ? "needs your consent" : "was declined for this repository";
    out.notes.push_back("MCP server '" + server.name + "' is defined by the repository (" +
                        server.source.substr(5) + ") and was not started: it " + why + "; to " +
                        "allow it, " + HowToTrust(server, front));
    out.untrusted.push_back(server);
  }
  return out;
}

std::string UntrustedMcpServerLine(const McpServerConfig& server, bool headless_flag) {
  return server.name +
         "  not started: defined by the repository and not trusted here; `dsagent mcp trust " +
         server.name + "`" +
         (headless_flag ? " (or --trust-repo-mcp) starts it" : " starts it in the next session");
}

}  // namespace dsagent
