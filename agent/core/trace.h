// The session trace: one JSON event per line, appended and fsync'd per event (informational events
// may ride on the next event's sync). It is the source of truth for resume, `session show`, costs,
// evals and routing experiments.
// Secrets never enter it: callers pass events built from messages and usage, never headers/config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"

namespace dsagent {

// When an appended event must be on disk.
enum class TraceSync {
  kNow,            // before Append returns: the events resume depends on (messages, tool results)
  kWithNextEvent,  // with the next kNow event, or when the writer closes. For events nothing is
                   // rebuilt from (a request about to be sent, a routing decision), and for a
                   // response whose calls are all reads (agent_loop.cc: its first tool result
                   // follows with no effect in between): a crash can lose only such a tail, which
                   // the file's append order keeps at the end, and a step costs fewer disk syncs.
};

// Appends events to a trace file. Not thread-safe; one writer per session at a time.
class TraceWriter {
 public:
  // Opens (creating parents and the file if needed) for appending. A torn last line left by a
  // crash is cut off first so the next event starts on a clean line. Error: message with the path.
  static Expected<TraceWriter, std::string> Open(const std::filesystem::path& path);

  TraceWriter(TraceWriter&& other) noexcept;
  TraceWriter& operator=(TraceWriter&& other) noexcept;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  ~TraceWriter();

  // Writes `event` plus a "ts" field (UTC, ISO 8601 with ms) as one line, then fsyncs as `sync`
  // says (a kNow sync also covers every deferred line before it). Error: the OS error (e.g. disk
  // full); the file then still ends on a complete line or a torn one that readers and the next
  // Open() ignore.
  Expected<Ok, std::string> Append(Json event, TraceSync sync = TraceSync::kNow);

  // True while a kWithNextEvent line has been written but not yet synced.
  bool has_unsynced_events() const { return unsynced_; }
  // How many bytes at the start of the file a sync has covered: what a power loss now would leave
  // (the file as opened counts as synced). Lets tests check which events a crash can lose.
  uint64_t synced_bytes() const { return synced_bytes_; }

  const std::filesystem::path& path() const { return path_; }

 private:
  TraceWriter(std::filesystem::path path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), written_bytes_(size), synced_bytes_(size) {}
  void CloseSynced();
  std::filesystem::path path_;
  int fd_ = -1;
  bool unsynced_ = false;
  uint64_t written_bytes_ = 0;  // the file's size
  uint64_t synced_bytes_ = 0;
};

struct TraceContents {
  std::vector<Json> events;
  bool torn_tail = false;  // the last line was incomplete or unparseable and was ignored
};

// Streams the events of a trace to `on_event`, one line at a time (memory: one line), with the
// same rules as ReadTrace. Returns whether a torn last line was ignored.
Expected<bool, std::string> ForEachTraceEvent(const std::filesystem::path& path,
                                              const std::function<void(Json&&)>& on_event);

// Reads every event. A torn or unparseable LAST line is ignored (a crash mid-write); an
// unparseable line elsewhere is an error naming the line number (the file was damaged).
Expected<TraceContents, std::string> ReadTrace(const std::filesystem::path& path);

// Current UTC time as "2026-11-23T19:02:13.123Z".
std::string UtcTimestamp();

}  // namespace dsagent
