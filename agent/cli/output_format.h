// What `dsagent run` and `dsagent patch` print on stdout: `--output-format text|json|stream-json`
// (`--json` is the same as `--output-format json`). See README.md "Streaming events".
#pragma once

#include <CLI/CLI.hpp>

namespace dsagent {

enum class OutputFormat {
  kText,        // the final answer (run) or the report (patch); progress on stderr
  kJson,        // exactly one JSON object: the result envelope
  kStreamJson,  // JSONL: one event per line as the run happens, the envelope last ("result")
};

// Declares --output-format and its alias --json on `cmd`, both writing `format`.
void AddOutputFormatOptions(CLI::App& cmd, OutputFormat& format);

}  // namespace dsagent
