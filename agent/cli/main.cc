// dsagent's entry point: parses the command line (CLI11) and dispatches to a subcommand.
// Exit codes follow agent/core/termination.h; a command-line error is 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "agent/cli/cache_command.h"
#include "agent/cli/chat_app.h"
#include "agent/cli/doctor_command.h"
#include "agent/cli/engine_command.h"
#include "agent/cli/engine_generate_command.h"
#include "agent/cli/eval_command.h"
#include "agent/cli/map_command.h"
#include "agent/cli/output_format.h"
#include "agent/cli/patch_command.h"
#include "agent/cli/route_command.h"
#include "agent/cli/run_command.h"
#include "agent/cli/serve_command.h"
#include "agent/cli/session_command.h"
#include "agent/config/config.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "common/cancel.h"

namespace {

int ConfigShowCommand(const std::string& repo) {
  namespace fs = std::filesystem;
  auto config =
      dsagent::Config::Load({.repo_dir = repo.empty() ? fs::current_path() : fs::path(repo),
                             .user_file = std::nullopt,
                             .env = dsagent::Config::ProcessEnvironment(),
                             .flags = {}});
  if (!config) {
    std::fprintf(stderr, "dsagent: %s\n", config.error().c_str());
    return dsagent::kExitConfigAuth;
  }
  for (const auto& w : config->Warnings())
    std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());
  std::cout << config->Show();
  // Which variables shell commands do not get (names only), as a comment after the settings.
  auto env = dsagent::ToolEnvironmentFromConfig(*config, dsagent::Config::ProcessEnvironment());
  if (!env) {
    std::fprintf(stderr, "dsagent: %s\n", env.error().c_str());
    return dsagent::kExitConfigAuth;
  }
  std::cout << "# shell environment: " << dsagent::DescribeToolEnvironment(*env) << "\n";
  return dsagent::kExitDone;
}

// The lane options `run` and `chat` share; set ones become config overrides (a pinned model turns
// routing off, as everywhere else).
struct LaneFlags {
  std::string provider, model, thinking, effort, policy;
};

void AddLaneOptions(CLI::App* cmd, LaneFlags& f) {
  cmd->add_option("--provider", f.provider,
                  "deepseek | deepseek-anthropic | openai-compatible | local")
      ->check(CLI::IsMember({"deepseek", "deepseek-anthropic", "openai-compatible", "local"}));
  cmd->add_option(
      "--model", f.model,
      "Model id, e.g. deepseek-v4-flash or deepseek-v4-pro (local: the checkpoint DIR)");
  cmd->add_option("--thinking", f.thinking, "Thinking mode: on | off")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--effort", f.effort, "Reasoning effort: high | max")
      ->check(CLI::IsMember({"high", "max"}));
  cmd->add_option("--policy", f.policy,
                  "Routing policy: a name from configs/routing/ or a YAML file");
}

void AppendLaneOverrides(const LaneFlags& f,
                         std::vector<std::pair<std::string, std::string>>& flags) {
  if (!f.provider.empty()) flags.emplace_back("provider", f.provider);
  if (!f.model.empty()) flags.emplace_back("model", f.model);
  if (!f.policy.empty()) flags.emplace_back("routing.policy", f.policy);
  if (!f.thinking.empty()) flags.emplace_back("thinking", f.thinking == "on" ? "true" : "false");
  if (!f.effort.empty()) flags.emplace_back("effort", f.effort);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dsagent: a coding agent for DeepSeek-V4 that keeps its raw trace in context"};
  app.set_version_flag("--version", "dsagent " DSAGENT_VERSION);
  app.require_subcommand(0, 1);

  // run
  dsagent::RunOptions run;
  LaneFlags run_lane;
  int max_steps = 0;
  double max_cost = 0;
  int timeout_s = 0;
  auto* run_cmd = app.add_subcommand("run", "Run the agent headless on one task (CI-friendly)");
  run_cmd->add_option("task", run.task, "The task; - reads it from stdin");
  run_cmd->add_option("--repo", run.repo, "Workspace directory (default: current directory)");
  AddLaneOptions(run_cmd, run_lane);
  run_cmd->add_option("--max-steps", max_steps, "Stop after N model calls")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--max-cost", max_cost, "Stop once this run has spent USD")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--timeout", timeout_s, "Stop after S seconds of wall time")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--resume", run.resume, "Continue session ID from its trace");
  run_cmd->add_option("--trace", run.trace_file, "Write/read the trace at FILE instead");
  dsagent::AddOutputFormatOptions(*run_cmd, run.output_format);
  run_cmd->add_flag("-v,--verbose", run.verbose, "Also stream the model's reasoning to stderr");
  run_cmd->add_flag("--no-sandbox", run.no_sandbox,
                    "Run shell commands without the sandbox (not recommended)");

  // chat (also what `dsagent` alone runs)
  dsagent::ChatOptions chat;
  LaneFlags chat_lane;
  auto* chat_cmd = app.add_subcommand(
      "chat", "The interactive assistant (the default when no subcommand is given)");
  chat_cmd->add_option("--repo", chat.repo, "Workspace directory (default: current directory)");
  chat_cmd->add_option("--resume", chat.resume, "Continue session ID");
  AddLaneOptions(chat_cmd, chat_lane);
  chat_cmd->add_flag("--show-reasoning", chat.show_reasoning,
                     "Show the model's reasoning in full (/reasoning toggles)");

  // session
  bool session_json = false;
  std::string session_id;
  auto* session_cmd = app.add_subcommand("session", "Inspect recorded sessions");
  session_cmd->require_subcommand(1);
  auto* session_list = session_cmd->add_subcommand("list", "List sessions, newest first");
  session_list->add_flag("--json", session_json, "JSON output");
  auto* session_show = session_cmd->add_subcommand("show", "Show one session's trace");
  session_show->add_option("id", session_id, "Session id (a unique prefix is enough)")->required();
  session_show->add_flag("--json", session_json, "Print the raw trace events (JSONL)");
  bool session_routing = false;
  session_show->add_flag("--routing", session_routing,
                         "Print only the routing decisions (policy, features, lane, alternatives)");

  // config
  std::string config_repo;
  auto* config_cmd = app.add_subcommand("config", "Inspect configuration");
  config_cmd->require_subcommand(1);
  auto* config_show =
      config_cmd->add_subcommand("show", "Print the merged config with each value's source");
  config_show->add_option("--repo", config_repo, "Repository whose .dsagent/config.yaml applies");

  auto* doctor_cmd =
      app.add_subcommand("doctor", "Report the sandbox, API key and directories dsagent would use");

  // patch
  dsagent::PatchCommandOptions patch;
  auto* patch_cmd = dsagent::AddPatchCommand(app, patch);
  dsagent::EvalCommandOptions eval;
  auto* eval_cmd = dsagent::AddEvalCommand(app, eval);
  dsagent::RouteCompareOptions route_compare;
  auto* route_compare_cmd = dsagent::AddRouteCommand(app, route_compare);
  dsagent::MapCommandOptions map;
  auto* map_cmd = dsagent::AddMapCommand(app, map);
  dsagent::CacheCommandOptions cache;
  auto* cache_cmd = dsagent::AddCacheCommand(app, cache);

  // engine
  std::string inspect_dir, inspect_config;
  bool inspect_json = false;
  auto* engine_cmd = app.add_subcommand("engine", "The built-in DeepSeek-V4 inference engine");
  engine_cmd->require_subcommand(1);
  auto* engine_inspect = engine_cmd->add_subcommand(
      "inspect", "Config summary, tensor inventory and parameter counts of a checkpoint");
  engine_inspect->add_option("dir", inspect_dir,
                             "Checkpoint directory (config.json + safetensors)");
  engine_inspect->add_option("--config", inspect_config,
                             "Only a config.json: what its checkpoint must hold");
  engine_inspect->add_flag("--json", inspect_json, "JSON output");
  std::string model_dir, tokenizer_file;
  auto* engine_tokenize =
      engine_cmd->add_subcommand("tokenize", "UTF-8 text on stdin -> JSON token ids on stdout");
  auto* engine_detokenize =
      engine_cmd->add_subcommand("detokenize", "JSON token ids on stdin -> text on stdout");
  for (auto* sub : {engine_tokenize, engine_detokenize}) {
    auto* group = sub->add_option_group("tokenizer source");
    group->add_option("--model", model_dir, "Model directory holding tokenizer.json");
    group->add_option("--tokenizer", tokenizer_file, "A tokenizer.json file");
    group->require_option(1);
  }
  std::string logits_tokens, logits_out;
  int64_t logits_prefill = -1;
  auto* engine_logits = engine_cmd->add_subcommand(
      "logits", "Logits [T, vocab] (float32) for int32 token ids, by prefill and/or decode steps");
  engine_logits->add_option("--model", model_dir, "Checkpoint directory")->required();
  engine_logits->add_option("--tokens", logits_tokens, "Little-endian int32 token ids")->required();
  engine_logits->add_option("--out", logits_out, "Output: float32 logits [T, vocab]")->required();
  engine_logits
      ->add_option("--prefill", logits_prefill,
                   "Prefill the first N tokens, then decode the rest one at a time")
      ->check(CLI::NonNegativeNumber);

  dsagent::EngineGenerateOptions gen;
  std::string gen_thinking = "on";
  auto* engine_generate = engine_cmd->add_subcommand(
      "generate", "Generate text on the built-in engine, streamed to stdout");
  engine_generate->add_option("--model", gen.model_dir, "Checkpoint directory")->required();
  engine_generate->add_option("--tokenizer", gen.tokenizer_file,
                              "tokenizer.json (default: the model's, else the npm V3 one)");
  engine_generate->add_option("--prompt", gen.prompt, "Raw prompt text (BOS is prepended)");
  engine_generate->add_option("--messages", gen.messages_file,
                              "Chat messages (JSON array, or {messages, tools}) in the V4 format");
  engine_generate->add_option("--tokens", gen.tokens_file, "Prompt as little-endian int32 ids");
  engine_generate->add_option("--thinking", gen_thinking, "Thinking mode for --messages: on | off")
      ->check(CLI::IsMember({"on", "off"}));
  engine_generate->add_option("--effort", gen.effort, "Reasoning effort: high | max")
      ->check(CLI::IsMember({"high", "max"}));
  engine_generate->add_option("--max-tokens", gen.max_tokens, "Tokens to generate at most")
      ->check(CLI::PositiveNumber);
  engine_generate->add_option("--temperature", gen.temperature, "0 = greedy (default)")
      ->check(CLI::NonNegativeNumber);
  engine_generate->add_option("--top-p", gen.top_p, "Nucleus sampling mass (default 1)");
  engine_generate->add_option("--top-k", gen.top_k, "Keep the K most likely tokens (0 = off)");
  engine_generate->add_option("--min-p", gen.min_p, "Drop tokens below MIN_P x the best");
  engine_generate->add_option("--seed", gen.seed, "Sampling seed (default 0)");
  engine_generate->add_option("--stop", gen.stop, "Stop string (repeatable)");
  engine_generate->add_option("--ctx-size", gen.context,
                              "Context positions (default: max_position_embeddings)");
  engine_generate->add_option("--threads", gen.threads, "Worker threads (default: all cores)");
  engine_generate->add_option("--numerics", gen.numerics, "exact | fast (default fast)")
      ->check(CLI::IsMember({"exact", "fast"}));

  dsagent::EngineSynthOptions synth;
  auto* engine_synth = engine_cmd->add_subcommand(
      "synth", "Write a checkpoint with a config's shapes, fewer layers/experts, random weights");
  engine_synth->add_option("--config", synth.config_file, "Base config.json (e.g. Flash's)")
      ->required();
  engine_synth->add_option("--out", synth.out_dir, "Output checkpoint directory")->required();
  engine_synth->add_option("--layers", synth.layers, "Decoder layers (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  engine_synth
      ->add_option("--ratios", synth.ratios,
                   "Compress ratio per decoder layer, e.g. 4,128 (default: the base's pattern "
                   "from its first compressed layer)")
      ->delimiter(',');
  engine_synth->add_option("--experts", synth.experts, "Routed experts (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  engine_synth->add_option("--vocab", synth.vocab, "Vocabulary size (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  engine_synth->add_option("--seed", synth.seed, "Random seed (default 0)");
  engine_synth
      ->add_option_function<std::string>(
          "--values", [&synth](const std::string& v) { synth.varied = v == "varied"; },
          "benchmark (default: norms 1, sinks and biases 0) | varied (every parameter drawn at "
          "random, for golden data)")
      ->check(CLI::IsMember({"benchmark", "varied"}));
  engine_synth->add_option("--threads", synth.threads, "Worker threads (default: all cores)");

  // serve
  dsagent::ServeOptions serve;
  auto* serve_cmd =
      app.add_subcommand("serve", "Serve the built-in engine over an OpenAI-compatible HTTP API");
  serve_cmd->add_option("--model", serve.model_dir, "Checkpoint directory")->required();
  serve_cmd->add_option("--tokenizer", serve.tokenizer_file,
                        "tokenizer.json (default: the model's, else the npm V3 one)");
  serve_cmd->add_option("--host", serve.host, "Address to listen on (default 127.0.0.1)");
  serve_cmd->add_option("--port", serve.port, "Port (default 8000; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--parallel", serve.parallel, "Generations at once (default 1)")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--kv-dir", serve.kv_dir, "Persistent prefix-cache directory");
  serve_cmd
      ->add_option("--kv-max-size", serve.kv_max_size,
                   "Size budget of --kv-dir, e.g. 16G or 512M; 0 = no limit")
      ->capture_default_str();
  serve_cmd->add_option("--model-id", serve.model_id,
                        "Model id for /v1/models (default: the directory name)");
  serve_cmd->add_option("--ctx-size", serve.context,
                        "Context positions (default: max_position_embeddings)");
  serve_cmd->add_option("--max-tokens", serve.max_tokens,
                        "Default max_tokens of a request (default 4096)");
  serve_cmd->add_option("--threads", serve.threads, "Worker threads (default: all cores)");
  serve_cmd->add_option("--numerics", serve.numerics, "exact | fast (default fast)")
      ->check(CLI::IsMember({"exact", "fast"}));
  serve_cmd->add_option("--api-key", serve.api_key,
                        "Require 'Authorization: Bearer KEY' (default: $DSAGENT_SERVE_API_KEY); "
                        "needed for a --host other than loopback");
  serve_cmd
      ->add_option("--max-queue", serve.max_queue,
                   "Requests waiting for a slot; more get 503 + Retry-After (default 64)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd
      ->add_option("--max-body", serve.max_body,
                   "Largest request body, e.g. 16M; larger gets 413 (default 16M)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-prompt-tokens", serve.max_prompt_tokens,
                   "Largest prompt in tokens; more gets 400 (default: the context limit)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd
      ->add_option("--request-timeout", serve.request_timeout_s,
                   "Seconds a request may take, queue included; then 504 (default 600; "
                   "0 = none)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd
      ->add_option("--read-timeout", serve.read_timeout_s,
                   "Seconds a client may leave each read of its headers or body idle "
                   "(default 15)")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : dsagent::kExitUsage;
  }

  if (*run_cmd) {
    AppendLaneOverrides(run_lane, run.flags);
    if (max_steps > 0) run.flags.emplace_back("max_steps", std::to_string(max_steps));
    if (max_cost > 0) run.flags.emplace_back("max_cost_usd", std::to_string(max_cost));
    if (timeout_s > 0) run.flags.emplace_back("timeout_s", std::to_string(timeout_s));
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::RunCommand(run, cancel);
  }
  if (*doctor_cmd) return dsagent::DoctorCommand();
  if (*cache_cmd) return dsagent::CacheCommand(cache);
  if (*map_cmd) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::MapCommand(map, cancel);
  }
  if (*eval_cmd) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::EvalCommand(eval, cancel);
  }
  if (*route_compare_cmd) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::RouteCompareCommand(route_compare, cancel);
  }
  if (*patch_cmd) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::PatchCommand(patch, cancel);
  }
  if (*session_list) return dsagent::SessionListCommand(session_json);
  if (*session_show) return dsagent::SessionShowCommand(session_id, session_json, session_routing);
  if (*config_show) return ConfigShowCommand(config_repo);
  if (*engine_tokenize || *engine_detokenize) {
    return dsagent::EngineTokenizeCommand(model_dir.empty() ? tokenizer_file : model_dir,
                                          static_cast<bool>(*engine_detokenize));
  }
  if (*engine_logits) {
    return dsagent::EngineLogitsCommand(model_dir, logits_tokens, logits_out, logits_prefill);
  }
  if (*serve_cmd) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::ServeCommand(serve, cancel);
  }
  if (*engine_generate) {
    gen.thinking = gen_thinking == "on";
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::EngineGenerateCommand(gen, cancel);
  }
  if (*engine_synth) {
    dsagent::CancelToken cancel;
    dsagent::InstallInterruptHandler(cancel);
    return dsagent::EngineSynthCommand(synth, cancel);
  }
  if (*engine_inspect) {
    return dsagent::EngineInspectCommand(inspect_dir, inspect_config, inspect_json);
  }

  // `dsagent chat`, or no subcommand at all.
  AppendLaneOverrides(chat_lane, chat.flags);
  return dsagent::ChatCommand(chat);
}
