#include "agent/cli/output_format.h"

#include <map>
#include <string>

namespace dsagent {

void AddOutputFormatOptions(CLI::App& cmd, OutputFormat& format) {
  const std::map<std::string, OutputFormat> names = {{"text", OutputFormat::kText},
                                                     {"json", OutputFormat::kJson},
                                                     {"stream-json", OutputFormat::kStreamJson}};
  auto* option =
      cmd.add_option_function<std::string>(
             "--output-format",
             [&format, names](const std::string& name) { format = names.at(name); },
             "stdout: text (the answer), json (one result object) or stream-json (one JSON event "
             "per line as the run happens, the result object last)")
          ->check(CLI::IsMember({"text", "json", "stream-json"}));
  cmd.add_flag_callback(
         "--json", [&format] { format = OutputFormat::kJson; },
         "Print exactly one JSON result object on stdout (= --output-format json)")
      ->excludes(option);
}

}  // namespace dsagent
