// Whole-file reads and crash-safe writes.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace dsagent {

// Reads the whole file. Error: a message naming the path and the OS error.
Expected<std::string, std::string> ReadFileToString(const std::filesystem::path& path);

// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename over the
// target, fsync of the directory. A crash leaves either the old or the new content, never a mix.
// Creates missing parent directories. Error: a message naming the path and the OS error
// (e.g. "No space left on device"); the original file is untouched on error.
Expected<Ok, std::string> WriteFileAtomic(
    const std::filesystem::path& path, std::string_view data,
    std::filesystem::perms perms = std::filesystem::perms::none);

// WriteFileAtomic for outputs too large to hold in memory (e.g. multi-GB weights): Create() opens
// a temp file in the target's directory (creating missing parents), Append() writes to it,
// Commit() fsyncs it, renames it over the target and fsyncs the directory. Until Commit()
// succeeds the target is untouched; an uncommitted writer removes its temp file when destroyed
// (a killed process leaves only a hidden ".NAME.tmpN" behind). Errors name the target and the OS
// error. Not thread-safe.
class AtomicFileWriter {
 public:
  // `perms` as for WriteFileAtomic: none keeps an existing target's permissions, else 0644.
  static Expected<std::unique_ptr<AtomicFileWriter>, std::string> Create(
      const std::filesystem::path& path,
      std::filesystem::perms perms = std::filesystem::perms::none);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Expected<Ok, std::string> Append(std::string_view data);
  // After an error from Append or Commit, the writer is finished: the temp file is gone.
  Expected<Ok, std::string> Commit();

 private:
  AtomicFileWriter() = default;
  Expected<Ok, std::string> Fail(const std::string& what);  // also removes the temp file

  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  unsigned mode_ = 0644;
};

}  // namespace dsagent
