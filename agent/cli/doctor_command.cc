#include "agent/cli/doctor_command.h"

#include <git2.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "agent/config/config.h"
#include "agent/core/mcp_setup.h"
#include "agent/core/mcp_trust.h"
#include "agent/core/permission_setup.h"
#include "agent/core/run_setup.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/kernels/device_spec.h"
#include "tools/sandbox.h"

namespace dsagent {
namespace {

// One line per configured MCP server: name, transport, the file that defines it, whether a session
// here trusts it, and whether it starts (with its tool count) — found by starting the trusted ones
// as the interactive assistant would. Env values and header values are never printed.
void PrintMcpServersForDoctor(const Config& config, const std::filesystem::path& workspace,
                              const ToolEnvironment& env, const CancelToken& cancel) {
  const auto& servers = config.McpServers();
  std::printf("mcp servers: %zu configured%s\n", servers.size(),
              servers.empty() ? " (dsagent mcp add NAME -- COMMAND adds one)" : "");
  if (servers.empty()) return;
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(workspace, ec);
  if (ec) canonical = workspace;
  const McpTrustStore store(McpTrustStorePath());
  const McpServerSelection selection =
      SelectTrustedMcpServers(config, canonical, McpTrustFront::kInspect, nullptr, store);
  std::vector<std::string> problems;
  const auto specs = McpServerSpecsFromConfig(config, selection.start, workspace, env.child.vars,
                                              Config::ProcessEnvironment(), problems);
  const auto set = McpServerSet::Connect(specs, DSAGENT_VERSION, cancel);
  const bool config_trusts = RepoMcpServersTrustedByConfig(config);
  for (const McpServerConfig& server : servers) {
    std::string transport;
    if (!server.command.empty()) {
      transport = "stdio (" + server.command + ")";
    } else {
      transport = "http (" + server.url + ")";
    }
    std::string trust;
    if (!IsRepoMcpServer(server)) {
      trust = "your config";
    } else if (config_trusts) {
      trust = "trusted (mcp.trust_repo_servers)";
    } else if (const auto answer = store.Lookup(canonical, server); answer) {
      trust = *answer ? "trusted here (run/patch still need --trust-repo-mcp)" : "declined here";
    } else {
      trust = "not trusted yet (dsagent asks; run/patch need --trust-repo-mcp)";
    }
    std::string state;
    if (!server.enabled) {
      state = "disabled";
    } else if (std::any_of(selection.untrusted.begin(), selection.untrusted.end(),
                           [&](const McpServerConfig& u) { return u.name == server.name; })) {
      state = "not started (`dsagent mcp trust " + server.name + "` allows it)";
    } else {
      state = "not started";
      for (const std::string& p : problems) {
        if (p.find("'" + server.name + "'") != std::string::npos) state = p;
      }
      for (const McpServerState& st : set->States()) {
        if (st.name != server.name) continue;
        state = st.connected ? "starts, " + std::to_string(st.tools.size()) + " tool" +
                                   (st.tools.size() == 1 ? "" : "s")
                             : "fails: " + st.error;
      }
    }
    std::printf("  %s: %s, from %s; %s; %s\n", server.name.c_str(), transport.c_str(),
                server.source.c_str(), trust.c_str(), state.c_str());
  }
}

// The provider line: an HTTP provider's endpoint and key; the local engine's checkpoint and
// device, each checked as `run` checks them before loading (nothing is loaded here).
std::string DescribeProvider(const ProviderOptions& p) {
  if (p.kind != "local") {
    std::string key = "set";
    if (p.api_key.empty()) {
      key =
          p.kind.rfind("deepseek", 0) == 0
              ? "missing (set " + (p.api_key_env.empty() ? "DEEPSEEK_API_KEY" : p.api_key_env) + ")"
              : "not set (optional for " + p.kind + ")";
    }
    return "provider: " + p.kind + " at " + p.base_url + "; API key " + key;
  }
  std::string line = "provider: local, model " + p.model_dir;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(p.model_dir) / "config.json", ec)) {
    line +=
        " [not usable: no config.json there; pass --model DIR or set "
        "providers.local.model_dir to a checkpoint directory]";
  }
  line += ", device " + p.device;
  if (const auto device = engine::kernels::ParseDeviceSpec(p.device); !device) {
    line += " [not usable: " + device.error() + "]";
  } else if (device->kind == engine::kernels::DeviceKind::kCuda) {
    if (auto why = engine::kernels::DeviceUnavailable(*device, engine::kernels::ProbeCuda())) {
      line += " [not usable: " + *why + "]";
    }
    if (!p.gpu_memory.empty()) line += ", at most " + p.gpu_memory + " of it";
  }
  line += ", numerics " + p.numerics + ", weights " + p.weights;
  if (!p.kv_dir.empty()) line += ", KV store " + p.kv_dir;
  return line;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, CommandTable& table) {
  auto* cmd = app.add_subcommand(
      "doctor", "Report the sandbox, API key, directories and MCP servers dsagent would use");
  // Cancellable: listing MCP servers waits on them, and Ctrl-C must not leave them running.
  table.BindCancellable(cmd, [](const CancelToken& cancel) { return DoctorCommand(cancel); });
}

int DoctorCommand(const CancelToken& cancel) {
  std::printf("dsagent %s\n", DSAGENT_VERSION);
  const SandboxSupport sandbox = ProbeSandbox();
  std::printf("landlock: %s\n", sandbox.DescribeLandlock().c_str());
  std::printf("bubblewrap: %s\n", sandbox.DescribeBubblewrap().c_str());
  int major = 0, minor = 0, rev = 0;
  git_libgit2_version(&major, &minor, &rev);
  std::printf("libgit2: %d.%d.%d\n", major, minor, rev);
  // The engine's GPU backend: built or not, and the devices it sees.
  std::printf("%s\n", engine::kernels::DescribeCuda(engine::kernels::ProbeCuda()).c_str());
  auto config = Config::Load({.repo_dir = std::filesystem::current_path(),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) {
    std::printf("config: ERROR %s\n", config.error().c_str());
    return kExitConfigAuth;
  }
  std::printf("%s\n", DescribeProvider(ProviderOptionsFromConfig(*config)).c_str());
  // Which protections a session here would have.
  auto policy = PermissionPolicyFromConfig(*config, std::filesystem::current_path(),
                                           PermissionFront::kInteractive);
  if (!policy) {
    std::printf("permissions: ERROR %s\n", policy.error().c_str());
    return kExitConfigAuth;
  }
  std::printf("permissions: interactive mode %s, headless mode %s; %zu rule(s) from %s\n",
              config->GetString("permissions.mode").c_str(),
              config->GetString("permissions.headless_mode").c_str(), (*policy)->rules().size(),
              config->Get("permissions.rules").source.c_str());
  const std::string backend = config->GetString("sandbox.backend");
  const SandboxBackend wanted = SandboxBackendSetting(*config);
  const bool deny_network = config->GetBool("sandbox.deny_network");
  // `run` and `patch` are always sandboxed unless --no-sandbox (patch also denies the network
  // unless --allow-network); the interactive assistant follows sandbox.enabled.
  if (auto headless = ChooseHeadlessSandbox(sandbox, wanted, deny_network); headless) {
    std::printf("sandbox for `run`: on (--no-sandbox opts out), backend %s -> %s%s\n",
                backend.c_str(), SandboxBackendName(headless->backend).c_str(),
                headless->deny_network ? ", network denied" : ", network allowed");
    if (!headless->notice.empty()) std::printf("  notice: %s\n", headless->notice.c_str());
  } else {
    std::printf(
        "sandbox for `run`: unavailable (backend %s: %s); `run` and `patch` refuse to "
        "start without --no-sandbox\n",
        backend.c_str(), sandbox.Choose(wanted, false).error().c_str());
  }
  std::string chat = "off (sandbox.enabled: false)";
  if (config->GetBool("sandbox.enabled")) {
    chat = SandboxNotice(*config);
    if (chat.empty()) chat = "on";
  }
  std::printf("sandbox for chat: %s\n", chat.c_str());
  auto env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
  if (!env) {
    std::printf("shell environment: ERROR %s\n", env.error().c_str());
    return kExitConfigAuth;
  }
  std::printf("shell environment: %s\n", DescribeToolEnvironment(*env).c_str());
  std::printf("sessions: %s\n", SessionsDir(*config).c_str());
  PrintMcpServersForDoctor(*config, std::filesystem::current_path(), *env, cancel);
  return kExitDone;
}

}  // namespace dsagent
