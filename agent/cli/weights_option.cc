#include "agent/cli/weights_option.h"

namespace dsagent {

void AddWeightsOption(CLI::App& cmd, std::string& weights) {
  cmd.add_option("--weights", weights,
                 "auto (default) | mmap | load: map the weight files, or read them into "
                 "huge-page memory first (faster decode, resident memory the size of the files); "
                 "auto loads them when they fit in half the free memory")
      ->check(CLI::IsMember({"auto", "mmap", "load"}));
}

}  // namespace dsagent
