// EditJournal: the before-images of the files each turn's file tools (write_file, edit_file)
// touched, so that the interactive assistant's /undo can put the last turn's edit set back, and
// its /diff can show the session's edits where there is no git. Changes made by shell commands
// are not tracked (the git snapshot behind /diff still shows them). Not thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/providers/message.h"

namespace dsagent {

class EditJournal {
 public:
  // `workspace`: canonical; tool paths resolve inside it exactly as the tools resolve them.
  explicit EditJournal(std::filesystem::path workspace) : workspace_(std::move(workspace)) {}

  // Starts recording a new edit set.
  void BeginTurn();
  // Called before a tool call runs: for a file-writing tool, records the file's content (or its
  // absence) the first time the turn touches it. Other tools and unusable paths are ignored.
  void BeforeTool(const ToolCall& call);
  // Closes the edit set: records each file's content now (so that undo can tell whether someone
  // changed it since) and forgets files the turn left as they were. An empty set is dropped.
  void EndTurn();

  // Whether there is an edit set left to undo.
  bool CanUndo() const { return !turns_.empty(); }

  struct UndoReport {
    std::vector<std::string> restored;  // workspace-relative paths put back as they were
    std::vector<std::string> removed;   // files the turn had created, deleted again
    std::vector<std::string> skipped;   // "path: why" — changed since the turn, or an I/O error
  };
  // Puts the latest edit set's files back and forgets the set. A file that changed after the turn
  // ended is left alone unless `force`.
  UndoReport UndoLastTurn(bool force);

  struct FileChange {
    std::string path;                   // workspace-relative
    std::optional<std::string> before;  // before the session's first edit; nullopt: did not exist
    std::optional<std::string> now;     // nullopt: does not exist now
  };
  // Every file the remaining edit sets touched, with its first before-image and its content now;
  // files now back to their first before-image are left out. Sorted by path.
  std::vector<FileChange> SessionChanges() const;

 private:
  struct FileImage {
    std::string path;                   // workspace-relative
    std::filesystem::path absolute;     // where the tool wrote
    std::optional<std::string> before;  // nullopt: the file did not exist
    std::optional<std::string> after;   // at EndTurn
  };
  std::filesystem::path workspace_;
  std::vector<std::vector<FileImage>> turns_;
  std::vector<FileImage> open_;  // the current turn's images
};

}  // namespace dsagent
