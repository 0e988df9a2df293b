#include "evals/workspace.h"

#include <git2.h>

#include <fstream>
#include <mutex>

#include "common/shell_quote.h"
#include "tools/shell_command.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });  // never shut down: other threads may use it
}

std::string GitError(const std::string& what) {
  const git_error* e = git_error_last();
  return what + ": " + (e && e->message ? e->message : "unknown libgit2 error");
}

std::string SafeName(const std::string& key) {
  std::string out;
  for (char c : key) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return out;
}

// RAII for the few libgit2 objects used here.
template <class T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  ~Owned() {
    if (p) Free(p);
  }
};
using Repo = Owned<git_repository, git_repository_free>;
using Object = Owned<git_object, git_object_free>;
using Tree = Owned<git_tree, git_tree_free>;
using Index = Owned<git_index, git_index_free>;
using Signature = Owned<git_signature, git_signature_free>;
using Diff = Owned<git_diff, git_diff_free>;

// Commits every file of `dir` (a fresh repository) with a fixed author and date.
Expected<Ok, std::string> CommitAllFixed(const fs::path& dir) {
  Repo repo;
  if (git_repository_init(&repo.p, dir.c_str(), 0) != 0) return MakeUnexpected(GitError("init"));
  Index index;
  if (git_repository_index(&index.p, repo.p) != 0) return MakeUnexpected(GitError("index"));
  char star[] = "*";
  char* patterns[] = {star};
  git_strarray all = {patterns, 1};
  if (git_index_add_all(index.p, &all, GIT_INDEX_ADD_DEFAULT, nullptr, nullptr) != 0 ||
      git_index_write(index.p) != 0) {
    return MakeUnexpected(GitError("add files"));
  }
  git_oid tree_id, commit_id;
  if (git_index_write_tree(&tree_id, index.p) != 0) return MakeUnexpected(GitError("write tree"));
  Tree tree;
  if (git_tree_lookup(&tree.p, repo.p, &tree_id) != 0) return MakeUnexpected(GitError("tree"));
  Signature sig;
  if (git_signature_new(&sig.p, "dsagent evals", "evals@dsagent.invalid", 0, 0) != 0) {
    return MakeUnexpected(GitError("signature"));
  }
  if (git_commit_create(&commit_id, repo.p, "HEAD", sig.p, sig.p, nullptr, "base\n", tree.p, 0,
                        nullptr) != 0) {
    return MakeUnexpected(GitError("commit"));
  }
  return Ok{};
}

}  // namespace

Expected<fs::path, std::string> RepoStore::Materialize(const RepoSource& source) {
  InitLibgit2();
  if (source.kind == RepoSource::Kind::kGitDir) return source.path;
  std::lock_guard lock(mu_);
  if (auto it = done_.find(source.key); it != done_.end()) return it->second;
  const fs::path dest = cache_dir_ / SafeName(source.key);
  std::error_code ec;
  fs::remove_all(dest, ec);  // a half-made one from an interrupted run
  fs::create_directories(cache_dir_, ec);
  if (source.kind == RepoSource::Kind::kGitBundle) {
    ShellOptions sh;
    sh.cwd = cache_dir_;
    sh.timeout = std::chrono::minutes(10);
    auto r = RunShellCommand("git clone -q --mirror " + ShellQuote(source.path.string()) + " " +
                                 ShellQuote(dest.string()),
                             sh);
    if (!r) return MakeUnexpected(r.error());
    if (r->exit_code != 0) {
      return MakeUnexpected("cannot unpack bundle " + source.path.string() + ": " + r->output);
    }
  } else {
    fs::copy(source.path, dest, fs::copy_options::recursive, ec);
    if (ec) return MakeUnexpected("cannot copy " + source.path.string() + ": " + ec.message());
    for (const std::string& rel : source.exclude) fs::remove_all(dest / rel, ec);
    auto c = CommitAllFixed(dest);
    if (!c) return MakeUnexpected(source.path.string() + ": " + c.error());
  }
  done_[source.key] = dest;
  return dest;
}

Expected<std::unique_ptr<TaskWorkspace>, std::string> TaskWorkspace::Create(
    const fs::path& origin, const std::string& base_commit, const fs::path& dir) {
  InitLibgit2();
  std::unique_ptr<TaskWorkspace> ws(new TaskWorkspace());
  ws->path_ = dir;
  git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
  opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
  if (git_clone(&ws->repo_, origin.c_str(), dir.c_str(), &opts) != 0) {
    return MakeUnexpected(GitError("clone " + origin.string()));
  }
  const std::string rev = base_commit.empty() ? "HEAD" : base_commit;
  Object commit;
  if (git_revparse_single(&commit.p, ws->repo_, (rev + "^{commit}").c_str()) != 0) {
    return MakeUnexpected(GitError("base commit " + rev));
  }
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE;
  if (git_checkout_tree(ws->repo_, commit.p, &co) != 0 ||
      git_repository_set_head_detached(ws->repo_, git_object_id(commit.p)) != 0) {
    return MakeUnexpected(GitError("checkout " + rev));
  }
  ws->base_hex_ = git_oid_tostr_s(git_object_id(commit.p));
  return ws;
}

TaskWorkspace::~TaskWorkspace() {
  if (repo_) git_repository_free(repo_);
}

Expected<std::string, std::string> TaskWorkspace::DiffAgainstBase() {
  Object tree;
  if (git_revparse_single(&tree.p, repo_, (base_hex_ + "^{tree}").c_str()) != 0) {
    return MakeUnexpected(GitError("base tree"));
  }
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
               GIT_DIFF_SHOW_UNTRACKED_CONTENT | GIT_DIFF_SHOW_BINARY;
  Diff diff;
  if (git_diff_tree_to_workdir_with_index(&diff.p, repo_, reinterpret_cast<git_tree*>(tree.p),
                                          &opts) != 0) {
    return MakeUnexpected(GitError("diff"));
  }
  git_buf buf = GIT_BUF_INIT;
  if (git_diff_to_buf(&buf, diff.p, GIT_DIFF_FORMAT_PATCH) != 0) {
    return MakeUnexpected(GitError("diff text"));
  }
  std::string out(buf.ptr ? buf.ptr : "", buf.size);
  git_buf_dispose(&buf);
  return out;
}

Expected<Ok, std::string> TaskWorkspace::ApplyPatch(const std::string& patch) {
  if (patch.find_first_not_of(" \t\r\n") == std::string::npos) return Ok{};
  Diff diff;
  if (git_diff_from_buffer(&diff.p, patch.data(), patch.size()) != 0) {
    return MakeUnexpected(GitError("parse patch"));
  }
  if (git_apply(repo_, diff.p, GIT_APPLY_LOCATION_WORKDIR, nullptr) != 0) {
    return MakeUnexpected(GitError("apply patch"));
  }
  return Ok{};
}

Expected<Ok, std::string> TaskWorkspace::Ignore(const std::vector<std::string>& patterns) {
  if (patterns.empty()) return Ok{};
  const fs::path exclude = fs::path(git_repository_path(repo_)) / "info" / "exclude";
  std::error_code ec;
  fs::create_directories(exclude.parent_path(), ec);
  std::ofstream out(exclude, std::ios::app);
  for (const std::string& p : patterns) out << p << "\n";
  out.close();
  if (!out) return MakeUnexpected("cannot write " + exclude.string());
  return Ok{};
}

Expected<Ok, std::string> TaskWorkspace::ResetToBase() {
  Object commit;
  if (git_revparse_single(&commit.p, repo_, base_hex_.c_str()) != 0) {
    return MakeUnexpected(GitError("base commit"));
  }
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  if (git_checkout_tree(repo_, commit.p, &co) != 0) return MakeUnexpected(GitError("reset"));
  return Ok{};
}

Expected<Ok, std::string> TaskWorkspace::ResetPaths(const std::vector<std::string>& paths) {
  Object tree;
  if (git_revparse_single(&tree.p, repo_, (base_hex_ + "^{tree}").c_str()) != 0) {
    return MakeUnexpected(GitError("base tree"));
  }
  std::vector<std::string> in_base;
  for (const std::string& p : paths) {
    git_tree_entry* entry = nullptr;
    if (git_tree_entry_bypath(&entry, reinterpret_cast<git_tree*>(tree.p), p.c_str()) == 0) {
      git_tree_entry_free(entry);
      in_base.push_back(p);
    } else {
      std::error_code ec;
      fs::remove(path_ / p, ec);  // added by the test patch: must not exist before it applies
    }
  }
  if (in_base.empty()) return Ok{};
  std::vector<char*> c_paths;
  for (auto& p : in_base) c_paths.push_back(p.data());
  git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
  co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
  co.paths = {c_paths.data(), c_paths.size()};
  if (git_checkout_tree(repo_, tree.p, &co) != 0) return MakeUnexpected(GitError("reset files"));
  return Ok{};
}

std::string FileChangePatch(const std::string& path, const std::optional<std::string>& before,
                            const std::optional<std::string>& after) {
  InitLibgit2();
  git_patch* patch = nullptr;
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  if (git_patch_from_buffers(&patch, before ? before->data() : nullptr, before ? before->size() : 0,
                             path.c_str(), after ? after->data() : nullptr,
                             after ? after->size() : 0, path.c_str(), &opts) != 0) {
    return "";
  }
  git_buf buf = GIT_BUF_INIT;
  std::string out;
  if (git_patch_to_buf(&buf, patch) == 0 && buf.ptr) out.assign(buf.ptr, buf.size);
  git_buf_dispose(&buf);
  git_patch_free(patch);
  return out;
}

Expected<std::vector<std::string>, std::string> PatchedPaths(const std::string& patch) {
  std::vector<std::string> out;
  if (patch.find_first_not_of(" \t\r\n") == std::string::npos) return out;
  InitLibgit2();
  Diff diff;
  if (git_diff_from_buffer(&diff.p, patch.data(), patch.size()) != 0) {
    return MakeUnexpected(GitError("parse patch"));
  }
  for (size_t i = 0; i < git_diff_num_deltas(diff.p); ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.p, i);
    if (d->status != GIT_DELTA_ADDED && d->old_file.path) out.push_back(d->old_file.path);
    if (d->status != GIT_DELTA_DELETED && d->new_file.path &&
        (out.empty() || out.back() != d->new_file.path)) {
      out.push_back(d->new_file.path);
    }
  }
  return out;
}

}  // namespace dsagent::evals
