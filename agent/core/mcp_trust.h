// Consent for MCP servers that a repository's .dsagent/config.yaml defines. Such a server is a
// command the repository chooses; starting it when a session opens would let any cloned
// repository run code on open. So a repository-defined server starts only with the user's
// consent:
//  - interactive `dsagent` asks once per server; the answer (yes or no) is remembered in
//    $XDG_STATE_HOME/dsagent/mcp-trust.json per repository and server, together with a hash of
//    the server's definition, so a changed definition is asked about again;
//  - headless `run`/`patch`/`eval` never ask and ignore remembered answers: they start such
//    servers only when `mcp.trust_repo_servers` is true in the user file, the environment or a
//    flag (`--trust-repo-mcp`); the repository file itself cannot set it.
// Servers from the user file always start (they are the user's own).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "common/expected.h"

namespace dsagent {

// Where remembered answers live: $XDG_STATE_HOME/dsagent/mcp-trust.json.
std::filesystem::path McpTrustStorePath();

// SHA-256 of what makes the server run what it runs: command, args, env, cwd, url, headers (as
// written, before ${VAR} expansion), sandbox. Timeouts and `enabled` do not count.
std::string McpServerDefinitionHash(const McpServerConfig& server);

// True for a server whose definition comes from a repository file.
bool IsRepoMcpServer(const McpServerConfig& server);

// True when `mcp.trust_repo_servers` is set to true by a layer the repository does not control.
bool RepoMcpServersTrustedByConfig(const Config& config);

// The remembered answers (a JSON file). Reads never fail the caller: an unreadable or malformed
// file counts as empty (and is replaced by the next Record).
class McpTrustStore {
 public:
  explicit McpTrustStore(std::filesystem::path path) : path_(std::move(path)) {}
  // The remembered answer for `server` in `workspace`: true (trusted), false (declined), or
  // nullopt when never asked or asked about another definition.
  std::optional<bool> Lookup(const std::filesystem::path& workspace,
                             const McpServerConfig& server) const;
  // Remembers `trusted` for the server's current definition. Error: the file cannot be written.
  Expected<Ok, std::string> Record(const std::filesystem::path& workspace,
                                   const McpServerConfig& server, bool trusted) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One line for a repository server that was not started for want of consent, with how to allow
// it: "NAME  not started: defined by the repository and not trusted here; `dsagent mcp trust
// NAME` (or --trust-repo-mcp) starts it" (`headless_flag`: mention --trust-repo-mcp; else "...
// starts it in the next session").
std::string UntrustedMcpServerLine(const McpServerConfig& server, bool headless_flag);

enum class McpTrustFront {
  kHeadless,  // config/flag only
  kAsk,       // remembered answers, then `ask` for the rest (interactive dsagent)
  kInspect,   // remembered answers; the rest are not started (mcp list/get, doctor)
};

// Asks the person whether to start `server`; true = yes. Called only with kAsk.
using McpTrustAsk = std::function<bool(const McpServerConfig& server)>;

struct McpServerSelection {
  std::vector<McpServerConfig> start;  // user servers and trusted repository servers
  // Repository servers not started, with one line each saying why and how to allow them.
  std::vector<McpServerConfig> untrusted;
  std::vector<std::string> notes;
};

// Splits config.McpServers() into the servers that may start and those left out for want of
// consent (disabled servers are passed on in `start`; they are skipped later). With kAsk an
// answer is remembered in `store`; a failure to remember goes into `notes`.
McpServerSelection SelectTrustedMcpServers(const Config& config,
                                           const std::filesystem::path& workspace,
                                           McpTrustFront front, const McpTrustAsk& ask,
                                           const McpTrustStore& store);

}  // namespace dsagent
