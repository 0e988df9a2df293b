#include <string>

#include "common/utf8.h"
#include "tools/git_support.h"
#include "tools/git_tools.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

char IndexCode(unsigned int s) {
  if (s & GIT_STATUS_INDEX_NEW) return 'A';
  if (s & GIT_STATUS_INDEX_MODIFIED) return 'M';
  if (s & GIT_STATUS_INDEX_DELETED) return 'D';
  if (s & GIT_STATUS_INDEX_RENAMED) return 'R';
  if (s & GIT_STATUS_INDEX_TYPECHANGE) return 'T';
  return ' ';
}

char WorkdirCode(unsigned int s) {
  if (s & GIT_STATUS_WT_MODIFIED) return 'M';
  if (s & GIT_STATUS_WT_DELETED) return 'D';
  if (s & GIT_STATUS_WT_RENAMED) return 'R';
  if (s & GIT_STATUS_WT_TYPECHANGE) return 'T';
  return ' ';
}

// "## main...origin/main [ahead 1]", "## HEAD (detached at 1a2b3c4)", "## No commits yet on main".
std::string BranchLine(git_repository* repo) {
  git_reference* raw = nullptr;
  const int rc = git_repository_head(&raw, repo);
  GitReference head(raw);
  if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND) {
    std::string name = "(unknown)";
    git_reference* sym_raw = nullptr;
    if (git_reference_lookup(&sym_raw, repo, "HEAD") == 0) {
      GitReference sym(sym_raw);
      if (const char* target = git_reference_symbolic_target(sym.get())) {
        name = target;
        if (name.rfind("refs/heads/", 0) == 0) name = name.substr(11);
      }
    }
    return "## No commits yet on " + name;
  }
  if (rc < 0) return "## (HEAD unreadable: " + LastGitError() + ")";
  if (git_repository_head_detached(repo) == 1) {
    char hex[8] = {0};
    git_oid_tostr(hex, sizeof hex, git_reference_target(head.get()));
    return std::string("## HEAD (detached at ") + hex + ")";
  }
  std::string line = std::string("## ") + git_reference_shorthand(head.get());
  git_reference* upstream_raw = nullptr;
  if (git_branch_upstream(&upstream_raw, head.get()) == 0) {
    GitReference upstream(upstream_raw);
    line += std::string("...") + git_reference_shorthand(upstream.get());
    size_t ahead = 0, behind = 0;
    const git_oid* local = git_reference_target(head.get());
    const git_oid* remote = git_reference_target(upstream.get());
    if (local && remote && git_graph_ahead_behind(&ahead, &behind, repo, local, remote) == 0 &&
        (ahead || behind)) {
      line += " [";
      if (ahead) line += "ahead " + std::to_string(ahead);
      if (ahead && behind) line += ", ";
      if (behind) line += "behind " + std::to_string(behind);
      line += "]";
    }
  }
  return line;
}

class GitStatusTool : public Tool {
 public:
  std::string Name() const override { return "git_status"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {},
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json&, const ToolContext& ctx) override {
    auto repo = OpenRepository(ctx.workspace);
    if (!repo) return ErrorResult(repo.error());
    git_repository* r = repo->get();

    git_status_options opts = GIT_STATUS_OPTIONS_INIT;
    opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX |
                 GIT_STATUS_OPT_SORT_CASE_SENSITIVELY;
    git_status_list* raw = nullptr;
    if (git_status_list_new(&raw, r, &opts) < 0) {
      return ErrorResult("git status failed: " + LastGitError());
    }
    GitStatusList list(raw);

    const std::string branch = BranchLine(r);
    std::string out = branch + "\n";
    const size_t count = git_status_list_entrycount(list.get());
    size_t shown = 0;
    for (size_t i = 0; i < count && shown < ctx.list_max_entries; ++i) {
      const git_status_entry* e = git_status_byindex(list.get(), i);
      if (!e || e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED)) continue;
      const git_diff_delta* delta = e->head_to_index ? e->head_to_index : e->index_to_workdir;
      if (!delta) continue;
      const auto show = [&](const char* p) {
        return WorkspacePathFromRepository(r, ctx.workspace, p);
      };
      std::string code;
      if (e->status & GIT_STATUS_CONFLICTED) {
        code = "UU";
      } else if (e->status & GIT_STATUS_WT_NEW && !e->head_to_index) {
        code = "??";
      } else {
        code = {IndexCode(e->status), WorkdirCode(e->status)};
      }
      std::string line = code + " ";
      if (e->head_to_index && (e->status & GIT_STATUS_INDEX_RENAMED)) {
        line +=
            show(e->head_to_index->old_file.path) + " -> " + show(e->head_to_index->new_file.path);
      } else {
        line += show(delta->new_file.path ? delta->new_file.path : delta->old_file.path);
      }
      out += line + "\n";
      ++shown;
    }
    if (shown == 0) out += "nothing to commit, working tree clean\n";
    if (count > shown && shown == ctx.list_max_entries) {
      out += "[" + std::to_string(count - shown) + " more entries not shown]\n";
    }
    ToolResult result;
    result.output = SanitizeUtf8(out);
    result.details = {{"branch", SanitizeUtf8(branch.substr(3))}, {"entries", shown}};
    return result;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeGitStatusTool() { return std::make_unique<GitStatusTool>(); }

}  // namespace dsagent
