// An environment as execve takes it ("NAME=VALUE" strings, null-terminated), built in the parent
// so that the child only assigns a pointer between fork and exec. Replaces boost::process's
// environment, whose lookup (operator[] -> find) in Boost 1.74 compares each entry with memcmp
// over the key's length and so reads past entries shorter than the key (AddressSanitizer:
// heap-buffer-overflow in RunShellCommand).
#pragma once

#include <string>
#include <vector>

#include "tools/env_policy.h"

namespace dsagent {

class EnvBlock {
 public:
  explicit EnvBlock(const EnvMap& vars) {
    strings_.reserve(vars.size());
    for (const auto& [name, value] : vars) strings_.push_back(name + "=" + value);
    for (std::string& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  EnvBlock(const EnvBlock&) = delete;
  EnvBlock& operator=(const EnvBlock&) = delete;
  // For boost::process's executor in on_exec_setup: `exec.env = block.envp();`.
  char** envp() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

}  // namespace dsagent
