#include "agent/patch/patch_worktree.h"

#include "tools/git_support.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

std::string Hex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

int AppendPatchLine(const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line,
                    void* payload) {
  auto* out = static_cast<std::string*>(payload);
  if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
      line->origin == GIT_DIFF_LINE_DELETION) {
    out->push_back(line->origin);
  }
  out->append(line->content, line->content_len);
  return 0;
}

char StatusLetter(git_delta_t status) {
  switch (status) {
    case GIT_DELTA_ADDED:
    case GIT_DELTA_UNTRACKED:
      return 'A';
    case GIT_DELTA_DELETED:
      return 'D';
    case GIT_DELTA_RENAMED:
      return 'R';
    case GIT_DELTA_TYPECHANGE:
      return 'T';
    default:
      return 'M';
  }
}

}  // namespace

std::vector<std::string> WorktreeDiff::paths() const {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const FileChange& f : files) out.push_back(f.path);
  return out;
}

Expected<std::unique_ptr<PatchWorktree>, std::string> PatchWorktree::Create(
    const fs::path& repo_dir, const fs::path& parent_dir, const std::string& id) {
  EnsureLibgit2Initialized();
  std::unique_ptr<PatchWorktree> w(new PatchWorktree());
  if (git_repository_open_ext(&w->repo_, repo_dir.c_str(), 0, nullptr) < 0) {
    return MakeUnexpected(repo_dir.string() + " is not inside a git repository");
  }
  git_reference* head = nullptr;
  if (git_repository_head(&head, w->repo_) < 0) {
    return MakeUnexpected("the repository has no commits yet (HEAD is unborn): commit first");
  }
  git_commit* commit = nullptr;
  const int peeled =
      git_reference_peel(reinterpret_cast<git_object**>(&commit), head, GIT_OBJECT_COMMIT);
  git_reference_free(head);
  if (peeled < 0) return MakeUnexpected("cannot resolve HEAD: " + LastGitError());
  git_oid_cpy(&w->base_, git_commit_id(commit));

  w->temp_branch_ = "dsagent-patch/" + id;
  git_reference* branch = nullptr;
  const int made = git_branch_create(&branch, w->repo_, w->temp_branch_.c_str(), commit, 0);
  git_commit_free(commit);
  if (made < 0) return MakeUnexpected("cannot create a temporary branch: " + LastGitError());

  std::error_code ec;
  fs::create_directories(parent_dir, ec);
  if (ec) return MakeUnexpected(parent_dir.string() + ": " + ec.message());
  w->path_ = parent_dir / ("worktree-" + id);
  git_worktree_add_options opts = GIT_WORKTREE_ADD_OPTIONS_INIT;
  opts.ref = branch;
  const std::string name = "dsagent-patch-" + id;
  const int added =
      git_worktree_add(&w->worktree_, w->repo_, name.c_str(), w->path_.c_str(), &opts);
  git_reference_free(branch);
  if (added < 0) return MakeUnexpected("cannot create the worktree: " + LastGitError());
  if (git_repository_open_from_worktree(&w->wt_repo_, w->worktree_) < 0) {
    return MakeUnexpected("cannot open the worktree: " + LastGitError());
  }
  return w;
}

PatchWorktree::~PatchWorktree() {
  if (keep_) {
    if (wt_repo_ != nullptr) git_repository_free(wt_repo_);
    if (worktree_ != nullptr) git_worktree_free(worktree_);
  } else {
    Remove();
  }
  if (repo_ != nullptr) git_repository_free(repo_);
}

std::string PatchWorktree::base_commit() const { return Hex(base_); }

fs::path PatchWorktree::git_common_dir() const { return git_repository_commondir(repo_); }

void PatchWorktree::Keep() { keep_ = true; }

Expected<WorktreeDiff, std::string> PatchWorktree::Diff() {
  git_index* index = nullptr;
  if (git_repository_index(&index, wt_repo_) < 0) return MakeUnexpected(LastGitError());
  GitIndex index_owner(index);
  // Stage everything (new files too; .gitignore respected) in the worktree's own index.
  if (git_index_add_all(index, nullptr, GIT_INDEX_ADD_DEFAULT, nullptr, nullptr) < 0 ||
      git_index_update_all(index, nullptr, nullptr, nullptr) < 0 || git_index_write(index) < 0) {
    return MakeUnexpected("cannot stage the changes: " + LastGitError());
  }
  git_commit* base = nullptr;
  git_tree* tree = nullptr;
  if (git_commit_lookup(&base, wt_repo_, &base_) < 0 || git_commit_tree(&tree, base) < 0) {
    return MakeUnexpected(LastGitError());
  }
  GitCommit base_owner(base);
  GitTree tree_owner(tree);
  git_diff* raw = nullptr;
  if (git_diff_tree_to_index(&raw, wt_repo_, tree, index, nullptr) < 0) {
    return MakeUnexpected("git diff failed: " + LastGitError());
  }
  GitDiff diff(raw);
  WorktreeDiff out;
  for (size_t i = 0; i < git_diff_num_deltas(raw); ++i) {
    const git_diff_delta* d = git_diff_get_delta(raw, i);
    FileChange f;
    f.path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
    f.status = StatusLetter(d->status);
    git_patch* patch = nullptr;
    if (git_patch_from_diff(&patch, raw, i) == 0 && patch != nullptr) {
      size_t context = 0;
      git_patch_line_stats(&context, &f.insertions, &f.deletions, patch);
      git_patch_free(patch);
    }
    f.binary = (d->flags & GIT_DIFF_FLAG_BINARY) != 0;
    out.files.push_back(std::move(f));
  }
  git_diff_stats* stats = nullptr;
  if (git_diff_get_stats(&stats, raw) == 0) {
    out.insertions = git_diff_stats_insertions(stats);
    out.deletions = git_diff_stats_deletions(stats);
    git_diff_stats_free(stats);
  }
  if (git_diff_print(raw, GIT_DIFF_FORMAT_PATCH, AppendPatchLine, &out.patch) < 0) {
    return MakeUnexpected("printing the diff failed: " + LastGitError());
  }
  return out;
}

Expected<std::string, std::string> PatchWorktree::Commit(const std::string& message) {
  if (auto d = Diff(); !d) return MakeUnexpected(d.error());  // stages everything
  git_index* index = nullptr;
  if (git_repository_index(&index, wt_repo_) < 0) return MakeUnexpected(LastGitError());
  GitIndex index_owner(index);
  git_oid tree_id, commit_id;
  git_tree* tree = nullptr;
  git_commit* parent = nullptr;
  if (git_index_write_tree(&tree_id, index) < 0 || git_tree_lookup(&tree, wt_repo_, &tree_id) < 0 ||
      git_commit_lookup(&parent, wt_repo_, &base_) < 0) {
    return MakeUnexpected(LastGitError());
  }
  GitTree tree_owner(tree);
  GitCommit parent_owner(parent);
  git_signature* sig = nullptr;
  if (git_signature_default(&sig, wt_repo_) < 0 &&
      git_signature_now(&sig, "dsagent", "dsagent@localhost") < 0) {
    return MakeUnexpected(LastGitError());
  }
  const git_commit* parents[] = {parent};
  const int rc = git_commit_create(&commit_id, wt_repo_, "HEAD", sig, sig, nullptr, message.c_str(),
                                   tree, 1, parents);
  git_signature_free(sig);
  if (rc < 0) return MakeUnexpected("commit failed: " + LastGitError());
  return Hex(commit_id);
}

Expected<Ok, std::string> PatchWorktree::PublishBranch(const std::string& name,
                                                       const std::string& commit_hex) {
  git_oid oid;
  git_commit* commit = nullptr;
  if (git_oid_fromstr(&oid, commit_hex.c_str()) < 0 ||
      git_commit_lookup(&commit, repo_, &oid) < 0) {
    return MakeUnexpected(LastGitError());
  }
  GitCommit owner(commit);
  git_reference* ref = nullptr;
  if (git_branch_create(&ref, repo_, name.c_str(), commit, 0) < 0) {
    return MakeUnexpected("cannot create branch '" + name + "': " + LastGitError());
  }
  git_reference_free(ref);
  return Ok{};
}

void PatchWorktree::Remove() {
  if (wt_repo_ != nullptr) {
    git_repository_free(wt_repo_);
    wt_repo_ = nullptr;
  }
  if (worktree_ != nullptr) {
    git_worktree_prune_options opts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
    opts.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_WORKING_TREE;
    git_worktree_prune(worktree_, &opts);
    git_worktree_free(worktree_);
    worktree_ = nullptr;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  if (repo_ != nullptr && !temp_branch_.empty()) {
    git_reference* ref = nullptr;
    if (git_branch_lookup(&ref, repo_, temp_branch_.c_str(), GIT_BRANCH_LOCAL) == 0) {
      git_branch_delete(ref);
      git_reference_free(ref);
    }
    temp_branch_.clear();
  }
}

}  // namespace dsagent
