// The model identity a KV record is valid for: a SHA-256 (hex) over what decides the KV state of
// a token sequence — config.json, the weights (the safetensors index, each file's name, size and
// header, and 64 KiB samples of its tensor data at the start, middle and end, so that a fine-tune
// with the same shapes gets another identity without hashing hundreds of GB), the tokenizer and
// the chat template (tokenizer.json, tokenizer_config.json, chat_template.jinja when present).
// Never run-time settings (context size, threads, backend): changing those must keep the cache.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "engine/kernels/numerics_mode.h"

namespace dsagent::engine::kv {

// Error: the directory has no readable config.json, or a listed file cannot be read (named).
Expected<std::string, std::string> ComputeModelIdentity(const std::filesystem::path& model_dir);

// The identity KV records are keyed by for a model loaded with `numerics`: states computed with
// the fast numerics differ from exact ones in their bits, so the two must never be restored into
// each other. Exact keeps the model identity (stores written before the modes existed stay
// valid); fast is SHA-256(model identity + "\nnumerics fast r" + the fast contract's revision,
// kernels::kFastContractRevision), also 64 hex characters: records of an older fast contract
// are never found, and are left to the store's size budget and `cache prune`.
std::string StateIdentity(std::string_view model_identity, kernels::Numerics numerics);

}  // namespace dsagent::engine::kv
