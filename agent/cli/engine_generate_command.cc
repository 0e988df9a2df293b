#include "agent/cli/engine_generate_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include "agent/cli/device_option.h"
#include "agent/cli/weights_option.h"
#include "agent/core/termination.h"
#include "common/file_io.h"
#include "common/json.h"
#include "engine/forward/logits_runner.h"
#include "engine/generate/chat_completion.h"
#include "engine/runtime/engine_runtime.h"

namespace dsagent {
namespace {

// `prompt_tokens`: the whole prompt, `cache_hit` of them reused from a stored prefix (a chat turn
// may also prefill a new prefix to store before `g`'s own prefill, so g.prompt_tokens can be less).
void PrintStats(const engine::GenerateResult& g, int64_t prompt_tokens, int64_t cache_hit) {
  const double tps =
      g.decode_seconds > 0 ? static_cast<double>(g.tokens.size()) / g.decode_seconds : 0;
  std::fprintf(stderr,
               "\n[prompt %lld tokens (%lld cached), prefill %.1f ms; %zu tokens, %.1f tokens/s; "
               "finish %s]\n",
               static_cast<long long>(prompt_tokens), static_cast<long long>(cache_hit),
               g.prefill_seconds * 1e3, g.tokens.size(), tps, engine::FinishReasonName(g.finish));
  if (g.drafted > 0) {
    std::fprintf(stderr, "[speculative: %lld drafted, %lld accepted (acceptance rate %.1f%%)]\n",
                 static_cast<long long>(g.drafted), static_cast<long long>(g.accepted),
                 100.0 * g.AcceptanceRate());
  }
  if (!g.speculative_off.empty()) {
    std::fprintf(stderr, "[speculative decoding off: %s]\n", g.speculative_off.c_str());
  }
}

int FailEngineGenerate(const std::string& message, int code) {
  std::fprintf(stderr, "dsagent: %s\n", message.c_str());
  return code;
}

engine::GenerateOptions GenerateOptionsFrom(const EngineGenerateOptions& o,
                                            const CancelToken& cancel) {
  engine::GenerateOptions gen;
  gen.sampling = {.temperature = o.temperature,
                  .top_k = o.top_k,
                  .top_p = o.top_p,
                  .min_p = o.min_p,
                  .seed = o.seed};
  gen.max_tokens = o.max_tokens;
  gen.stop = o.stop;
  gen.context_limit = o.context;
  gen.cancel = cancel;
  gen.speculative = engine::ParseSpeculative(o.speculative).value_or(engine::Speculative::kOff);
  gen.speculative_acceptance = engine::ParseSpeculativeAcceptance(o.speculative_accept)
                                   .value_or(engine::SpeculativeAcceptance::kMatch);
  return gen;
}

// --messages: the file's messages (and tools) encoded in the V4 chat format; reasoning streams to
// stderr, content to stdout, then each parsed tool call as a JSON line.
int GenerateChatReply(const EngineGenerateOptions& o, engine::ChatCompleter& chat,
                      const engine::GenerateOptions& gen) {
  auto text = ReadFileToString(o.messages_file);
  if (!text) return FailEngineGenerate(text.error(), kExitUsage);
  engine::ChatRequest req;
  const auto j = engine::OrderedJson::parse(*text, nullptr, false);
  if (j.is_array()) {
    req.messages = j;
  } else if (j.is_object() && j.contains("messages")) {
    req.messages = j["messages"];
    if (j.contains("tools")) req.tools = j["tools"];
  } else {
    return FailEngineGenerate(
        o.messages_file + ": expected a JSON array of messages or {\"messages\": [...]}",
        kExitUsage);
  }
  req.thinking = o.thinking;
  req.reasoning_effort = o.effort;
  req.generate = gen;
  auto r = chat.Complete(req, [](const engine::StreamingCompletionParser::Delta& d) {
    if (!d.reasoning.empty()) std::fputs(d.reasoning.c_str(), stderr);
    if (!d.content.empty()) std::fputs(d.content.c_str(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!r) {
    return FailEngineGenerate(
        r.error().message,
        r.error().kind == engine::ChatError::Kind::kInternal ? kExitError : kExitUsage);
  }
  std::fputs("\n", stdout);
  for (const auto& call : r->message.tool_calls) {
    std::cout << Json{{"tool_call", {{"name", call.name}, {"arguments", call.arguments}}}}.dump()
              << "\n";
  }
  if (!r->parse_error.empty()) std::fprintf(stderr, "[DSML: %s]\n", r->parse_error.c_str());
  PrintStats(r->generation, r->usage.prompt_tokens, r->usage.prompt_cache_hit_tokens);
  return r->cancelled ? kExitInterrupted : kExitDone;
}

// --prompt (BOS + the text's tokens) or --tokens (ids as given): the text streams to stdout, or,
// without a tokenizer, the generated ids are printed as a JSON array.
int GenerateFromPrompt(const EngineGenerateOptions& o, engine::SequenceModel& model,
                       const engine::BpeTokenizer* tokenizer, engine::GenerateOptions gen) {
  const engine::ModelConfig& config = model.config();
  std::vector<int32_t> prompt;
  if (!o.tokens_file.empty()) {
    auto ids = engine::forward::ReadTokenFile(o.tokens_file);
    if (!ids) return FailEngineGenerate(ids.error(), kExitUsage);
    prompt = std::move(*ids);
  } else {
    prompt.push_back(static_cast<int32_t>(config.bos_token_id));
    const auto ids = tokenizer->Encode(o.prompt);
    prompt.insert(prompt.end(), ids.begin(), ids.end());
  }
  gen.stop_token_ids.push_back(static_cast<int32_t>(config.eos_token_id));
  engine::Generator generator(model, tokenizer);
  const std::unique_ptr<engine::ModelSequence> sequence = model.NewSequence();
  auto r = generator.Generate(*sequence, prompt, gen, [&](int32_t, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!r) return FailEngineGenerate(r.error(), kExitUsage);
  if (!tokenizer) std::cout << Json(r->tokens).dump();
  std::fputs("\n", stdout);
  PrintStats(*r, r->prompt_tokens, 0);
  return r->finish == engine::FinishReason::kCancelled ? kExitInterrupted : kExitDone;
}

}  // namespace

void AddEngineGenerateCommand(CLI::App& engine, CommandTable& table) {
  struct Flags {
    EngineGenerateOptions gen;
    std::string thinking = "on";
  };
  auto f = std::make_shared<Flags>();
  EngineGenerateOptions& gen = f->gen;
  auto* cmd =
      engine.add_subcommand("generate", "Generate text on the built-in engine, streamed to stdout");
  cmd->add_option("--model", gen.model_dir, "Checkpoint directory")->required();
  cmd->add_option("--tokenizer", gen.tokenizer_file,
                  "tokenizer.json (default: the model's, else the npm V3 one)");
  cmd->add_option("--prompt", gen.prompt, "Raw prompt text (BOS is prepended)");
  cmd->add_option("--messages", gen.messages_file,
                  "Chat messages (JSON array, or {messages, tools}) in the V4 format");
  cmd->add_option("--tokens", gen.tokens_file, "Prompt as little-endian int32 ids");
  cmd->add_option("--thinking", f->thinking, "Thinking mode for --messages: on | off")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--effort", gen.effort, "Reasoning effort: high | max")
      ->check(CLI::IsMember({"high", "max"}));
  cmd->add_option("--max-tokens", gen.max_tokens, "Tokens to generate at most")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", gen.temperature, "0 = greedy (default)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", gen.top_p, "Nucleus sampling mass (default 1)");
  cmd->add_option("--top-k", gen.top_k, "Keep the K most likely tokens (0 = off)");
  cmd->add_option("--min-p", gen.min_p, "Drop tokens below MIN_P x the best");
  cmd->add_option("--seed", gen.seed, "Sampling seed (default 0)");
  cmd->add_option("--stop", gen.stop, "Stop string (repeatable)");
  cmd->add_option("--ctx-size", gen.context,
                  "Context positions (default: max_position_embeddings)");
  cmd->add_option("--threads", gen.threads, "Worker threads (default: all cores)");
  cmd->add_option("--numerics", gen.numerics, "exact | fast (default fast)")
      ->check(CLI::IsMember({"exact", "fast"}));
  cmd->add_option("--speculative", gen.speculative,
                  "off (default) | mtp: draft with the checkpoint's MTP block (verified by "
                  "--speculative-accept)")
      ->check(CLI::IsMember({"off", "mtp"}));
  cmd->add_option("--speculative-accept", gen.speculative_accept,
                  "match (default): keep a draft when it equals the sampled token, same tokens "
                  "as plain decoding | standard: speculative sampling's min(1, p/q) rule, same "
                  "distribution, not the same tokens")
      ->check(CLI::IsMember({"match", "standard"}));
  cmd->add_option("--kv-dir", gen.kv_dir,
                  "With --messages: persistent KV prefix store (a later run with the same "
                  "conversation start prefills only the rest; the stats line says how many "
                  "tokens were cached)");
  AddDeviceOptions(*cmd, gen.device, gen.gpu_memory);
  AddWeightsOption(*cmd, gen.weights);
  table.BindCancellable(cmd, [f](const CancelToken& cancel) {
    EngineGenerateOptions options = f->gen;
    options.thinking = f->thinking == "on";
    return EngineGenerateCommand(options, cancel);
  });
}

int EngineGenerateCommand(const EngineGenerateOptions& o, const CancelToken& cancel) {
  const int sources = !o.prompt.empty() + !o.messages_file.empty() + !o.tokens_file.empty();
  if (sources != 1)
    return FailEngineGenerate("give one of --prompt, --messages, --tokens", kExitUsage);
  if (!o.kv_dir.empty() && o.messages_file.empty()) {
    // --prompt and --tokens run the Generator directly, without the chat turn's prefix cache.
    return FailEngineGenerate("--kv-dir works with --messages (chat turns reuse stored prefixes)",
                              kExitUsage);
  }
  engine::kernels::DeviceSpec device;
  int64_t gpu_memory = 0;
  if (const int rc =
          CheckDeviceOptions(o.device, o.gpu_memory, "engine generate", &device, &gpu_memory);
      rc != kExitDone)
    return rc;
  const auto numerics =
      engine::kernels::ParseNumerics(o.numerics).value_or(engine::kernels::Numerics::kFast);
  // Token ids in and out need no tokenizer; text does. One prompt per run: no prefix cache in
  // memory, only the disk store with --kv-dir.
  auto runtime =
      engine::EngineRuntime::Open({.model_dir = o.model_dir,
                                   .tokenizer_file = o.tokenizer_file,
                                   .tokenizer_required = o.tokens_file.empty(),
                                   .threads = o.threads,
                                   .numerics = numerics,
                                   .weights = WeightsFromOption(o.weights),
                                   .device = device,
                                   .gpu_memory = gpu_memory,
                                   .context = o.context,
                                   .upload_progress = UploadProgressPrinter("engine generate"),
                                   .cancel = cancel,
                                   .memory_cache_entries = 0,
                                   .kv_dir = o.kv_dir});
  if (!runtime) {
    return FailEngineGenerate(runtime.error(),
                              cancel.IsCancelled() ? kExitInterrupted : kExitUsage);
  }
  if (!(*runtime)->placement().empty())
    std::fprintf(stderr, "dsagent engine generate: %s", (*runtime)->placement().c_str());

  const engine::GenerateOptions gen = GenerateOptionsFrom(o, cancel);
  if (auto ok = engine::CheckSamplingParams(gen.sampling); !ok)
    return FailEngineGenerate(ok.error(), kExitUsage);
  if (!o.messages_file.empty()) return GenerateChatReply(o, (*runtime)->completer(), gen);
  return GenerateFromPrompt(o, (*runtime)->sequence_model(), (*runtime)->tokenizer(), gen);
}

}  // namespace dsagent
