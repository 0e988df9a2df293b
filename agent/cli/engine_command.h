// `dsagent engine ...`: the built-in inference engine's command-line tools. So far `inspect`.
#pragma once

#include <string>

namespace dsagent {

// `dsagent engine inspect DIR` (a checkpoint: config summary, tensor inventory by dtype, parameter
// counts, missing/unexpected tensors) or `--config FILE` (what a checkpoint for that config must
// hold). Returns the exit code: 0, 1 when the checkpoint does not match its config, 2 bad input.
int EngineInspectCommand(const std::string& dir, const std::string& config_file, bool json);

// `dsagent engine tokenize` (UTF-8 on stdin -> JSON array of ids on stdout) and `detokenize`
// (JSON array of ids on stdin -> text). `tokenizer` is a tokenizer.json, or a model dir holding
// one.
int EngineTokenizeCommand(const std::string& tokenizer, bool detokenize);

}  // namespace dsagent
