#include "agent/core/run_setup.h"

#include "common/sha256.h"
#include "common/xdg.h"
#include "tools/git_support.h"

namespace dsagent {

ProviderOptions ProviderOptionsFromConfig(const Config& config) {
  ProviderOptions o;
  o.kind = config.GetString("provider");
  const std::string p = "providers." + o.kind + ".";
  // An unknown kind has no providers.<kind> section; MakeProvider reports it.
  if (o.kind == "deepseek" || o.kind == "deepseek-anthropic" || o.kind == "openai-compatible") {
    o.base_url = config.GetString(p + "base_url");
    o.api_key = config.GetString(p + "api_key");
    o.api_key_env = config.GetString(p + "api_key_env");
    o.check_served_model = config.GetBool(p + "check_served_model");
  } else if (o.kind == "local") {
    // `--model DIR` names the checkpoint when providers.local.model_dir is not set.
    o.model_dir = config.GetString(p + "model_dir");
    if (o.model_dir.empty()) o.model_dir = config.GetString("model");
    o.tokenizer_file = config.GetString(p + "tokenizer");
    o.kv_dir = config.GetString(p + "kv_dir");
    o.kv_max_size = config.GetString(p + "kv_max_size");
    o.threads = static_cast<int>(config.GetInt(p + "threads"));
    o.context_tokens = config.GetInt(p + "context_tokens");
    o.numerics = config.GetString(p + "numerics");
    o.weights = config.GetString(p + "weights");
    o.device = config.GetString(p + "device");
    o.gpu_memory = config.GetString(p + "gpu_memory");
    o.speculative = config.GetString(p + "speculative");
    o.speculative_accept = config.GetString(p + "speculative_accept");
  }
  o.retry.max_attempts = static_cast<int>(config.GetInt("retry.max_attempts"));
  o.retry.initial_backoff_ms = static_cast<int>(config.GetInt("retry.initial_backoff_ms"));
  o.retry.max_backoff_ms = static_cast<int>(config.GetInt("retry.max_backoff_ms"));
  o.connect_timeout_s = static_cast<int>(config.GetInt("http.connect_timeout_s"));
  o.idle_timeout_s = static_cast<int>(config.GetInt("http.idle_timeout_s"));
  return o;
}

AgentSettings AgentSettingsFromConfig(const Config& config) {
  AgentSettings s;
  s.lane.model = config.GetString("model");
  s.lane.thinking = config.GetBool("thinking");
  s.lane.effort = config.GetString("effort");
  s.limits.max_steps = static_cast<int>(config.GetInt("max_steps"));
  s.limits.max_cost_usd = config.GetDouble("max_cost_usd");
  s.limits.timeout_s = static_cast<int>(config.GetInt("timeout_s"));
  s.max_output_tokens = config.GetInt("max_output_tokens");
  return s;
}

namespace {
// The git common directory of the repository containing `dir` (where objects and refs live), or
// empty when `dir` is not in a git repository.
std::filesystem::path GitCommonDir(const std::filesystem::path& dir) {
  EnsureLibgit2Initialized();
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, dir.c_str(), 0, nullptr) != 0) return {};
  std::filesystem::path common = git_repository_commondir(repo);
  git_repository_free(repo);
  return common;
}
}  // namespace

SandboxBackend SandboxBackendSetting(const Config& config) {
  return ParseSandboxBackend(config.GetString("sandbox.backend")).value_or(SandboxBackend::kAuto);
}

ToolContext ToolContextFromConfig(const Config& config, const std::filesystem::path& workspace,
                                  const std::filesystem::path& sandbox_temp_dir) {
  ToolContext t;
  const SandboxBackend backend = SandboxBackendSetting(config);
  // auto with nothing available runs unconfined (SandboxNotice tells the user); an explicit
  // backend stays on, so that the bash tool refuses to run without it.
  if (config.GetBool("sandbox.enabled") &&
      (backend != SandboxBackend::kAuto ||
       ProbeSandbox().Choose(backend, config.GetBool("sandbox.deny_network")))) {
    t.sandbox.enabled = true;
    t.sandbox.backend = backend;
    t.sandbox.deny_network = config.GetBool("sandbox.deny_network");
    t.sandbox.writable = {workspace};
    if (auto git = GitCommonDir(workspace); !git.empty()) t.sandbox.writable.push_back(git);
    t.sandbox.temp_dir = sandbox_temp_dir;
  }
  t.workspace = workspace;
  t.bash_timeout_s = static_cast<int>(config.GetInt("tools.bash_timeout_s"));
  t.bash_max_timeout_s = static_cast<int>(config.GetInt("tools.bash_max_timeout_s"));
  t.output_cap_bytes = static_cast<size_t>(config.GetInt("tools.output_cap_bytes"));
  t.read_max_bytes = static_cast<size_t>(config.GetInt("tools.read_max_bytes"));
  t.grep_time_limit_s = config.GetDouble("tools.grep_time_limit_s");
  return t;
}

std::string SandboxNotice(const Config& config) {
  if (!config.GetBool("sandbox.enabled")) return "";
  const SandboxBackend backend = SandboxBackendSetting(config);
  auto chosen = ProbeSandbox().Choose(backend, config.GetBool("sandbox.deny_network"));
  if (chosen) return "";
  return "sandbox: " + chosen.error() +
         (backend == SandboxBackend::kAuto ? "; shell commands run unconfined"
                                           : "; shell commands will be refused");
}

Expected<HeadlessSandbox, std::string> ChooseHeadlessSandbox(const SandboxSupport& support,
                                                             SandboxBackend backend,
                                                             bool deny_network) {
  HeadlessSandbox s;
  s.deny_network = deny_network;
  if (auto with_network = support.Choose(backend, deny_network); deny_network && !with_network) {
    s.notice = with_network.error() + "; the network stays allowed";
    s.deny_network = false;
  }
  auto chosen = support.Choose(backend, s.deny_network);
  if (!chosen) {
    return MakeUnexpected(chosen.error() +
                          ". Shell commands would run unconfined: pass --no-sandbox to accept "
                          "that.");
  }
  s.backend = *chosen;
  return s;
}

std::filesystem::path SessionsDir(const Config& config) {
  const std::string dir = config.GetString("sessions.dir");
  if (!dir.empty()) return dir;
  return XdgDataHome() / "dsagent" / "sessions";
}

bool RoutingApplies(const Config& config) {
  const ConfigValue& policy = config.Get("routing.policy");
  if (policy.value.empty()) return false;
  if (config.Get("model").kind != ConfigSourceKind::kDefault) return false;
  const std::string provider = config.GetString("provider");
  return provider == "deepseek" || provider == "deepseek-anthropic" ||
         policy.kind != ConfigSourceKind::kDefault;
}

std::string RepoUserId(const std::filesystem::path& workspace) {
  return "dsagent-" + Sha256Hex(workspace.string()).substr(0, 16);
}

}  // namespace dsagent
