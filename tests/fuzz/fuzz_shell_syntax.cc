// The shell-syntax analysis behind the permission checker (tools/permissions): the command text is
// written by the model, possibly steered by a hostile repository. It must never crash or hang, and
// the verdict must not depend on anything but the text (the same text twice, the same verdict).
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"
#include "tools/permissions/shell_syntax.h"
#include "tools/permissions/shell_verdict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view command = dsagent::fuzz::AsText(data, size);
  dsagent::AnalyzeShellCommand(command);
  static const std::vector<dsagent::PermissionRule> kNoRules;
  dsagent::ShellCheckInput input;
  input.mode = dsagent::PermissionMode::kAsk;
  input.rules = &kNoRules;
  input.session_rules = &kNoRules;
  input.workspace = "/fuzz/workspace";
  const auto first = dsagent::CheckShellCommand(command, input);
  const auto second = dsagent::CheckShellCommand(command, input);
  FUZZ_CHECK(first.decision == second.decision, "the same command got two verdicts");
  return 0;
}
