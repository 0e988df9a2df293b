// The session trace reader (agent/core/trace.h): traces are read back on --resume after crashes,
// full disks and hand edits. ReadTrace either returns the events (ignoring a torn last line) or an
// error naming the damaged line; it never crashes. Appending a torn line to a file that reads never
// turns it into an error (a crash mid-append must not make a session unresumable).
#include <filesystem>
#include <string>

#include "agent/core/trace.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using dsagent::fuzz::WriteBytes;
  static const dsagent::fuzz::ScratchPath scratch("trace.jsonl");
  const std::filesystem::path& path = scratch.path();
  std::string text(dsagent::fuzz::AsText(data, size));
  WriteBytes(path, text);
  auto trace = dsagent::ReadTrace(path);
  if (!trace) return 0;
  if (trace->torn_tail || (!text.empty() && text.back() != '\n')) return 0;
  WriteBytes(path, text + "{\"type\":\"model_call\",\"torn");
  auto torn = dsagent::ReadTrace(path);
  FUZZ_CHECK(torn.has_value() && torn->torn_tail && torn->events.size() == trace->events.size(),
             "a torn last line made a readable trace unreadable or changed its events");
  return 0;
}
