// Redactor: replaces known secret values in text with `[REDACTED:NAME]`. Defence in depth behind
// the environment policy (tools/env_policy.h): a command may still print a secret another way
// (read from a file, a config dump, a child that sets it), and tool output is recorded in the
// session trace and sent to the model. The agent loop runs every tool result through the session's
// redactor once, before it is recorded anywhere, so the trace and the requests carry the same
// bytes (and the provider's prefix cache stays valid on resume).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

// Immutable after the Add calls; Redact is then safe to call from several threads.
class Redactor {
 public:
  // Values shorter than this are ignored: redacting "1" or "true" everywhere would mangle output
  // and reveal which short strings are "secret".
  static constexpr size_t kMinSecretBytes = 8;

  // Registers `value` under `name` (an environment variable or config key). Ignored when the value
  // is shorter than kMinSecretBytes or already registered (the first name stays).
  void Add(std::string name, std::string value);

  // `text` with every occurrence of a registered value replaced by "[REDACTED:NAME]". Where values
  // overlap, the longest one starting earliest wins; replaced text is never scanned again.
  std::string Redact(std::string_view text) const;

  bool empty() const { return secrets_.empty(); }
  // The registered names, longest value first (for diagnostics; never the values).
  std::vector<std::string> names() const;

 private:
  struct Secret {
    std::string name;
    std::string value;
  };
  std::vector<Secret> secrets_;  // longest value first
};

}  // namespace dsagent
