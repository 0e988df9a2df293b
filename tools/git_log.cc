#include <ctime>
#include <string>

#include "common/utf8.h"
#include "tools/git_support.h"
#include "tools/git_tools.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

constexpr int64_t kDefaultMaxCount = 20;
constexpr int64_t kMaxMaxCount = 500;

// "2024-05-01T12:34:56+02:00": the author's local time with its UTC offset.
std::string IsoDate(const git_time& when) {
  const std::time_t local =
      static_cast<std::time_t>(when.time) + static_cast<std::time_t>(when.offset) * 60;
  std::tm tm{};
  gmtime_r(&local, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const int offset = when.offset < 0 ? -when.offset : when.offset;
  char zone[16];
  std::snprintf(zone, sizeof zone, "%c%02d:%02d", when.offset < 0 ? '-' : '+', offset / 60,
                offset % 60);
  return std::string(buf) + zone;
}

// True when `commit` changed something under `pathspec` compared with its first parent.
Expected<bool, std::string> TouchesPath(git_repository* repo, git_commit* commit,
                                        git_diff_options& opts) {
  git_tree* tree_raw = nullptr;
  if (git_commit_tree(&tree_raw, commit) < 0) return MakeUnexpected(LastGitError());
  GitTree tree(tree_raw);
  GitTree parent_tree;
  if (git_commit_parentcount(commit) > 0) {
    git_commit* parent_raw = nullptr;
    if (git_commit_parent(&parent_raw, commit, 0) < 0) return MakeUnexpected(LastGitError());
    GitCommit parent(parent_raw);
    git_tree* parent_tree_raw = nullptr;
    if (git_commit_tree(&parent_tree_raw, parent.get()) < 0) return MakeUnexpected(LastGitError());
    parent_tree.reset(parent_tree_raw);
  }
  git_diff* diff_raw = nullptr;
  if (git_diff_tree_to_tree(&diff_raw, repo, parent_tree.get(), tree.get(), &opts) < 0) {
    return MakeUnexpected(LastGitError());
  }
  GitDiff diff(diff_raw);
  return git_diff_num_deltas(diff.get()) > 0;
}

class GitLogTool : public Tool {
 public:
  std::string Name() const override { return "git_log"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "max_count": {"type": "integer", "minimum": 1, "description": "How many commits to show, newest first (at most 500). Default 20."},
        "path": {"type": "string", "description": "Only commits that changed this file or directory, relative to the workspace root."}
      },
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const int64_t max_count = IntArg(args, "max_count", kDefaultMaxCount);
    if (max_count < 1) return ErrorResult("max_count must be at least 1");
    auto repo = OpenRepository(ctx.workspace);
    if (!repo) return ErrorResult(repo.error());
    git_repository* r = repo->get();

    auto diff_options = DiffOptionsForPath(r, ctx.workspace, StringArg(args, "path"));
    if (!diff_options) return ErrorResult(diff_options.error());
    git_diff_options& opts = (*diff_options)->opts;

    git_revwalk* walk_raw = nullptr;
    if (git_revwalk_new(&walk_raw, r) < 0) return ErrorResult("git log failed: " + LastGitError());
    GitRevwalk walk(walk_raw);
    git_revwalk_sorting(walk.get(), GIT_SORT_TIME);
    if (git_repository_head_unborn(r) == 1) {
      ToolResult empty;
      empty.output = "no commits yet\n";
      empty.details = {{"commits", 0}};
      return empty;
    }
    if (git_revwalk_push_head(walk.get()) < 0) {
      return ErrorResult("git log failed: " + LastGitError());
    }

    const int64_t limit = std::min(max_count, kMaxMaxCount);
    std::string out;
    int64_t shown = 0;
    bool more = false;
    git_oid oid;
    while (git_revwalk_next(&oid, walk.get()) == 0) {
      if (ctx.cancel.IsCancelled()) return ErrorResult("interrupted");
      git_commit* commit_raw = nullptr;
      if (git_commit_lookup(&commit_raw, r, &oid) < 0) {
        return ErrorResult("cannot read commit: " + LastGitError());
      }
      GitCommit commit(commit_raw);
      if (!(*diff_options)->pathspec.empty()) {
        auto touches = TouchesPath(r, commit.get(), opts);
        if (!touches) return ErrorResult("git log failed: " + touches.error());
        if (!*touches) continue;
      }
      if (shown == limit) {
        more = true;
        break;
      }
      git_buf short_id = GIT_BUF_INIT;
      git_object_short_id(&short_id, reinterpret_cast<const git_object*>(commit.get()));
      const git_signature* author = git_commit_author(commit.get());
      const char* summary = git_commit_summary(commit.get());
      out += std::string(short_id.ptr ? short_id.ptr : "") + " " + IsoDate(author->when) + " " +
             author->name + ": " + (summary ? summary : "") + "\n";
      git_buf_dispose(&short_id);
      ++shown;
    }
    const std::string& spec = (*diff_options)->pathspec;
    if (shown == 0) out = "no commits" + (spec.empty() ? "" : " touch '" + spec + "'") + "\n";
    if (more) out += "[more commits exist; raise max_count to see them]\n";
    ToolResult result;
    result.output = SanitizeUtf8(out);
    result.details = {{"commits", shown}};
    return result;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeGitLogTool() { return std::make_unique<GitLogTool>(); }

}  // namespace dsagent
