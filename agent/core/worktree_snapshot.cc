#include "agent/core/worktree_snapshot.h"

#include "tools/git_support.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

struct PrintState {
  std::string out;
  const std::set<std::string>* left_out;
};

// Appends one line of libgit2's patch output; content lines carry their origin ('+', '-', ' ')
// separately, headers and "\ No newline" markers are complete.
int AppendPatchLine(const git_diff_delta* delta, const git_diff_hunk*, const git_diff_line* line,
                    void* payload) {
  auto* state = static_cast<PrintState*>(payload);
  if (delta != nullptr && state->left_out->count(delta->new_file.path) != 0) return 0;
  if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
      line->origin == GIT_DIFF_LINE_DELETION) {
    state->out.push_back(line->origin);
  }
  state->out.append(line->content, line->content_len);
  return 0;
}

}  // namespace

Expected<WorktreeSnapshot, std::string> WorktreeSnapshot::Take(const fs::path& workspace) {
  auto repo = OpenRepository(workspace);
  if (!repo) return MakeUnexpected(repo.error());
  git_repository* r = repo->get();
  if (git_repository_is_bare(r)) return MakeUnexpected("the repository is bare");

  // The repository's index, loaded from disk into this handle only; it is changed in memory to
  // describe the working tree and never written back.
  git_index* index_raw = nullptr;
  if (git_repository_index(&index_raw, r) < 0) {
    return MakeUnexpected("cannot read the git index: " + LastGitError());
  }
  GitIndex index(index_raw);
  if (git_index_has_conflicts(index.get())) {
    return MakeUnexpected("the git index has unresolved conflicts");
  }

  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS;
  git_diff* diff_raw = nullptr;
  if (git_diff_index_to_workdir(&diff_raw, r, index.get(), &opts) < 0) {
    return MakeUnexpected("cannot compare the index with the working tree: " + LastGitError());
  }
  GitDiff diff(diff_raw);

  WorktreeSnapshot snap;
  snap.workspace_ = workspace;
  const fs::path workdir = git_repository_workdir(r);
  for (size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    const char* path = d->new_file.path;
    if (d->status == GIT_DELTA_DELETED) {
      git_index_remove_bypath(index.get(), d->old_file.path);
      continue;
    }
    if (d->status == GIT_DELTA_UNTRACKED) {
      std::error_code ec;
      const auto size = fs::file_size(workdir / path, ec);
      if (ec || size > kMaxUntrackedFileBytes) {
        snap.left_out_.insert(path);
        continue;
      }
    }
    // A file that vanished or cannot be read in between simply keeps its index entry.
    git_index_add_bypath(index.get(), path);
  }

  git_oid tree;
  if (git_index_write_tree(&tree, index.get()) < 0) {
    return MakeUnexpected("cannot store the snapshot tree: " + LastGitError());
  }
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &tree);
  snap.tree_id_ = hex;
  return snap;
}

Expected<std::string, std::string> WorktreeSnapshot::DiffToWorktree() const {
  auto repo = OpenRepository(workspace_);
  if (!repo) return MakeUnexpected(repo.error());
  git_repository* r = repo->get();
  git_oid oid;
  if (git_oid_fromstr(&oid, tree_id_.c_str()) < 0) return MakeUnexpected(LastGitError());
  git_tree* tree_raw = nullptr;
  if (git_tree_lookup(&tree_raw, r, &oid) < 0) {
    return MakeUnexpected("cannot read the session's snapshot: " + LastGitError());
  }
  GitTree tree(tree_raw);
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
               GIT_DIFF_SHOW_UNTRACKED_CONTENT;
  opts.max_size = static_cast<git_off_t>(kMaxUntrackedFileBytes);  // bigger: "Binary files differ"
  git_diff* diff_raw = nullptr;
  if (git_diff_tree_to_workdir(&diff_raw, r, tree.get(), &opts) < 0) {
    return MakeUnexpected("git diff failed: " + LastGitError());
  }
  GitDiff diff(diff_raw);
  PrintState state{"", &left_out_};
  if (git_diff_print(diff.get(), GIT_DIFF_FORMAT_PATCH, AppendPatchLine, &state) < 0) {
    return MakeUnexpected("git diff failed: " + LastGitError());
  }
  return state.out;
}

}  // namespace dsagent
