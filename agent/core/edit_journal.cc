#include "agent/core/edit_journal.h"

#include <algorithm>
#include <map>

#include "common/file_io.h"
#include "common/json.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

// The tools that write a file named by their "path" argument.
bool WritesFile(const std::string& tool) { return tool == "write_file" || tool == "edit_file"; }

// The file's content, nullopt when it does not exist; an error for anything else (a directory,
// an unreadable file).
Expected<std::optional<std::string>, std::string> ReadIfExists(const fs::path& p) {
  std::error_code ec;
  const auto status = fs::symlink_status(p, ec);
  if (ec || status.type() == fs::file_type::not_found) return std::optional<std::string>();
  if (!fs::is_regular_file(p, ec)) return MakeUnexpected("not a regular file");
  auto text = ReadFileToString(p);
  if (!text) return MakeUnexpected(text.error());
  return std::optional<std::string>(std::move(*text));
}

}  // namespace

void EditJournal::BeginTurn() { open_.clear(); }

void EditJournal::BeforeTool(const ToolCall& call) {
  if (!WritesFile(call.name)) return;
  std::string path;
  try {
    const Json args = Json::parse(call.arguments);
    if (!args.is_object() || !args.contains("path") || !args["path"].is_string()) return;
    path = args["path"].get<std::string>();
  } catch (const Json::exception&) {
    return;  // the tool will refuse it too
  }
  auto resolved = ResolveWorkspacePath(workspace_, path, PathAccess::kWrite);
  if (!resolved) return;
  for (const FileImage& f : open_) {
    if (f.absolute == resolved->absolute) return;  // the first before-image of the turn counts
  }
  auto before = ReadIfExists(resolved->absolute);
  if (!before) return;  // the tool cannot write it either
  open_.push_back({resolved->relative, resolved->absolute, std::move(*before), std::nullopt});
}

void EditJournal::EndTurn() {
  std::vector<FileImage> changed;
  for (FileImage& f : open_) {
    auto now = ReadIfExists(f.absolute);
    if (!now) continue;
    f.after = std::move(*now);
    if (f.after != f.before) changed.push_back(std::move(f));
  }
  open_.clear();
  if (!changed.empty()) turns_.push_back(std::move(changed));
}

EditJournal::UndoReport EditJournal::UndoLastTurn(bool force) {
  UndoReport report;
  if (turns_.empty()) return report;
  std::vector<FileImage> files = std::move(turns_.back());
  turns_.pop_back();
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    const FileImage& f = *it;
    auto now = ReadIfExists(f.absolute);
    if (!now) {
      report.skipped.push_back(f.path + ": " + now.error());
      continue;
    }
    if (!force && *now != f.after) {
      report.skipped.push_back(f.path + ": changed since that turn (use /undo force to revert it)");
      continue;
    }
    if (f.before) {
      if (auto w = WriteFileAtomic(f.absolute, *f.before); !w) {
        report.skipped.push_back(f.path + ": " + w.error());
      } else {
        report.restored.push_back(f.path);
      }
    } else {
      std::error_code ec;
      fs::remove(f.absolute, ec);
      if (ec) {
        report.skipped.push_back(f.path + ": " + ec.message());
      } else {
        report.removed.push_back(f.path);
      }
    }
  }
  return report;
}

std::vector<EditJournal::FileChange> EditJournal::SessionChanges() const {
  std::map<std::string, const FileImage*> first;  // path -> its earliest image
  for (const auto& turn : turns_) {
    for (const FileImage& f : turn) first.emplace(f.path, &f);
  }
  std::vector<FileChange> out;
  for (const auto& [path, f] : first) {
    auto now = ReadIfExists(f->absolute);
    if (!now || *now == f->before) continue;
    out.push_back({path, f->before, std::move(*now)});
  }
  return out;
}

}  // namespace dsagent
