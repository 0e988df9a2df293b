// The session trace reader (agent/core/trace.h): traces are read back on --resume after crashes,
// full disks and hand edits. ReadTrace either returns the events (ignoring a torn last line) or an
// error naming the damaged line; it never crashes. Appending a torn line to a file that reads never
// turns it into an error (a crash mid-append must not make a session unresumable).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/core/trace.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("dsagent-fuzz-trace-" + std::to_string(getpid()) + ".jsonl");
  std::string text(dsagent::fuzz::AsText(data, size));
  WriteFile(path, text);
  auto trace = dsagent::ReadTrace(path);
  if (!trace) return 0;
  if (trace->torn_tail || (!text.empty() && text.back() != '\n')) return 0;
  WriteFile(path, text + "{\"type\":\"model_call\",\"torn");
  auto torn = dsagent::ReadTrace(path);
  FUZZ_CHECK(torn.has_value() && torn->torn_tail && torn->events.size() == trace->events.size(),
             "a torn last line made a readable trace unreadable or changed its events");
  return 0;
}
