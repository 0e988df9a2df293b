#include <string>

#include "tools/git_support.h"
#include "tools/git_tools.h"
#include "tools/head_tail_buffer.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

// Appends one line of libgit2's patch output; content lines carry their origin ('+', '-', ' ')
// separately, headers and "\ No newline" markers are complete.
int AppendDiffLine(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line,
                   void* payload) {
  auto* out = static_cast<HeadTailBuffer*>(payload);
  if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
      line->origin == GIT_DIFF_LINE_DELETION) {
    const char origin = line->origin;
    out->Append(std::string_view(&origin, 1));
  }
  out->Append(std::string_view(line->content, line->content_len));
  return 0;
}

// HEAD's tree, or null for a repository without commits (diff against the empty tree).
Expected<GitTree, std::string> HeadTree(git_repository* repo) {
  git_reference* ref_raw = nullptr;
  const int rc = git_repository_head(&ref_raw, repo);
  GitReference head(ref_raw);
  if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) return GitTree();
  if (rc < 0) return MakeUnexpected("cannot read HEAD: " + LastGitError());
  git_commit* commit_raw = nullptr;
  if (git_commit_lookup(&commit_raw, repo, git_reference_target(head.get())) < 0) {
    return MakeUnexpected("cannot read the HEAD commit: " + LastGitError());
  }
  GitCommit commit(commit_raw);
  git_tree* tree_raw = nullptr;
  if (git_commit_tree(&tree_raw, commit.get()) < 0) {
    return MakeUnexpected("cannot read HEAD's tree: " + LastGitError());
  }
  return GitTree(tree_raw);
}

class GitDiffTool : public Tool {
 public:
  std::string Name() const override { return "git_diff"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "path": {"type": "string", "description": "Limit the diff to this file or directory, relative to the workspace root. Default: everything."},
        "staged": {"type": "boolean", "description": "Show changes staged in the index (against HEAD) instead of unstaged changes in the working tree. Default false."}
      },
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const bool staged = BoolArg(args, "staged", false);
    auto repo = OpenRepository(ctx.workspace);
    if (!repo) return ErrorResult(repo.error());
    git_repository* r = repo->get();

    auto diff_options = DiffOptionsForPath(r, ctx.workspace, StringArg(args, "path"));
    if (!diff_options) return ErrorResult(diff_options.error());
    git_diff_options& opts = (*diff_options)->opts;

    git_diff* raw = nullptr;
    if (staged) {
      auto tree = HeadTree(r);
      if (!tree) return ErrorResult(tree.error());
      if (git_diff_tree_to_index(&raw, r, tree->get(), nullptr, &opts) < 0) {
        return ErrorResult("git diff --staged failed: " + LastGitError());
      }
    } else if (git_diff_index_to_workdir(&raw, r, nullptr, &opts) < 0) {
      return ErrorResult("git diff failed: " + LastGitError());
    }
    GitDiff diff(raw);
    if (staged) git_diff_find_similar(diff.get(), nullptr);  // show renames, as git does

    HeadTailBuffer out(ctx.output_cap_bytes);
    if (git_diff_print(diff.get(), GIT_DIFF_FORMAT_PATCH, AppendDiffLine, &out) < 0) {
      return ErrorResult("printing the diff failed: " + LastGitError());
    }
    const size_t files = git_diff_num_deltas(diff.get());
    ToolResult result;
    result.output = out.Finish();
    if (files == 0) {
      result.output = staged ? "no staged changes\n"
                             : "no unstaged changes (the working tree matches the index; "
                               "untracked files are listed by git_status)\n";
    }
    result.details = {{"files", files}, {"staged", staged}};
    return result;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeGitDiffTool() { return std::make_unique<GitDiffTool>(); }

}  // namespace dsagent
