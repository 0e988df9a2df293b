#include "agent/cli/patch_command.h"

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include "agent/cli/device_option.h"
#include "agent/cli/progress_printer.h"
#include "agent/cli/stream_json_printer.h"
#include "agent/config/config.h"
#include "agent/core/run_setup.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "agent/patch/patch_run.h"
#include "common/file_io.h"
#include "tools/sandbox.h"

namespace dsagent {

namespace {

Json TestRunJson(const TestRun& t) {
  return {{"command", t.command},
          {"exit_code", t.exit_code},
          {"timed_out", t.timed_out},
          {"passed", t.passed()},
          {"output_tail", t.output_tail}};
}

// The --json object: the run envelope summed over the rounds, plus what patch made of it.
Json PatchResultJson(const PatchCommandOptions& o, const PatchResult& r) {
  Json j = EnvelopeToJson(r.envelope);
  j["exit_code"] = r.exit_code;
  j["status"] = r.exit_code == 0 ? "success" : j["status"].get<std::string>();
  j["outcome"] = r.outcome;
  j["base_commit"] = r.base_commit;
  j["patch_file"] = o.patch_out.empty() || r.diff.empty() ? Json(nullptr) : Json(o.patch_out);
  j["report_file"] = o.report.empty() ? Json(nullptr) : Json(o.report);
  j["branch"] = r.branch.empty() ? Json(nullptr) : Json(r.branch);
  j["commit"] = r.commit.empty() ? Json(nullptr) : Json(r.commit);
  j["changed_files"] = r.diff.paths();
  Json files = Json::array();
  for (const FileChange& f : r.diff.files) {
    files.push_back({{"path", f.path},
                     {"status", std::string(1, f.status)},
                     {"insertions", f.insertions},
                     {"deletions", f.deletions},
                     {"binary", f.binary}});
  }
  j["diffstat"] = files;
  j["worktree"] = r.worktree.empty() ? Json(nullptr) : Json(r.worktree.string());
  j["trace_path"] = r.trace_path.empty() ? Json(nullptr) : Json(r.trace_path.string());
  Json tests = Json::array();
  for (const auto& t : r.tests) tests.push_back(TestRunJson(t));
  j["tests"] = tests;
  return j;
}

// stream-json's patch events: "round" before each agent round, "test" after each test run.
class PatchEvents : public PatchObserver {
 public:
  explicit PatchEvents(StreamJsonPrinter& events) : events_(events) {}
  void OnRoundStart(int round, const std::string& task) override {
    events_.Emit({{"type", "round"}, {"round", round}, {"task", task}});
  }
  void OnTestRun(int round, const TestRun& test) override {
    Json event = TestRunJson(test);
    event["type"] = "test";
    event["round"] = round;
    events_.Emit(std::move(event));
  }

 private:
  StreamJsonPrinter& events_;
};

}  // namespace

void AddPatchCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<PatchCommandOptions>();
  PatchCommandOptions& o = *options;
  auto* cmd = app.add_subcommand(
      "patch", "Turn an issue into a patch, a branch and a report (headless, for CI)");
  cmd->add_option("--repo", o.repo, "Repository (default: current directory)");
  auto* source = cmd->add_option_group("task source");
  source->add_option("--issue", o.issue_file, "Issue text as markdown/text; - reads stdin");
  source->add_option("--github-event", o.github_event,
                     "A GitHub issues/issue_comment event payload (e.g. $GITHUB_EVENT_PATH)");
  source->require_option(1);
  cmd->add_option("--branch", o.branch, "Branch for --commit (default dsagent/issue-N)");
  cmd->add_flag("--commit", o.commit, "Commit the change on --branch");
  cmd->add_option("--patch-out", o.patch_out, "Write the unified diff to FILE");
  cmd->add_option("--report", o.report, "Write the markdown report (PR body) to FILE");
  cmd->add_option("--test-cmd", o.test_cmd,
                  "Run CMD after the agent; on failure the agent gets up to 2 more tries");
  cmd->add_option("--policy", o.policy, "Routing policy (see dsagent run --help)");
  cmd->add_option("--max-cost", o.max_cost, "Budget in USD across all rounds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", o.timeout_s, "Wall-time limit per agent round, seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--allow-network", o.allow_network,
                "Let shell commands open TCP connections (denied by default)");
  cmd->add_flag("--no-sandbox", o.no_sandbox,
                "Run shell commands without the sandbox (not recommended)");
  cmd->add_flag("--keep-worktree", o.keep_worktree,
                "Leave the agent's worktree in place (its path is in the report and JSON)");
  cmd->add_flag("--trust-repo-mcp", o.trust_repo_mcp,
                "Start the MCP servers the repository's .dsagent/config.yaml defines (skipped "
                "otherwise)");
  AddOutputFormatOptions(*cmd, o.output_format);
  cmd->add_flag("-v,--verbose", o.verbose, "Also stream the model's reasoning to stderr");
  table.BindCancellable(
      cmd, [options](const CancelToken& cancel) { return PatchCommand(*options, cancel); });
}

int PatchCommand(const PatchCommandOptions& o, const CancelToken& cancel) {
  PatchOptions p;
  p.repo = o.repo;
  Expected<IssueTask, std::string> issue = MakeUnexpected("no task source");
  if (!o.github_event.empty()) {
    issue = IssueFromGithubEvent(o.github_event);
  } else if (o.issue_file == "-") {
    issue = IssueFromText(
        std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()));
  } else {
    auto text = ReadFileToString(o.issue_file);
    issue = text ? IssueFromText(*text)
                 : Expected<IssueTask, std::string>(MakeUnexpected(text.error()));
  }
  if (!issue) {
    std::fprintf(stderr, "dsagent: %s\n", issue.error().c_str());
    return kExitUsage;
  }
  p.issue = *issue;
  p.branch = o.branch;
  p.commit = o.commit;
  p.patch_out = o.patch_out;
  p.report_out = o.report;
  p.test_cmd = o.test_cmd;
  p.max_cost_usd = o.max_cost;
  if (!o.policy.empty()) p.flags.emplace_back("routing.policy", o.policy);
  if (o.trust_repo_mcp) p.flags.emplace_back("mcp.trust_repo_servers", "true");
  // Safe by default: shell commands write only inside the worktree (and its TMPDIR) and open no
  // TCP connections, unless the user configured network access or passed a flag. They never see
  // dsagent's secrets (tools.env), and the test command's output is redacted like tool output.
  p.keep_worktree = o.keep_worktree;
  auto config = Config::Load(
      {.repo_dir = o.repo.empty() ? std::filesystem::current_path() : std::filesystem::path(o.repo),
       .user_file = std::nullopt,
       .env = Config::ProcessEnvironment(),
       .flags = {}});
  if (config) {
    auto env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
    if (!env) {
      std::fprintf(stderr, "dsagent: %s\n", env.error().c_str());
      return kExitConfigAuth;
    }
    p.test_environment = env->child.vars;
    p.redactor = env->redactor;
  }
  if (!o.no_sandbox) {
    p.sandbox = true;
    bool deny = !o.allow_network;
    if (config && config->Get("sandbox.deny_network").kind != ConfigSourceKind::kDefault) {
      deny = deny && config->GetBool("sandbox.deny_network");
    }
    const SandboxBackend backend = config ? SandboxBackendSetting(*config) : SandboxBackend::kAuto;
    auto chosen = ChooseHeadlessSandbox(ProbeSandbox(), backend, deny);
    if (!chosen) {
      std::fprintf(stderr, "dsagent: %s\n", chosen.error().c_str());
      return kExitConfigAuth;
    }
    if (!chosen->notice.empty()) {
      std::fprintf(stderr, "dsagent: notice: %s\n", chosen->notice.c_str());
    }
    p.deny_network = chosen->deny_network;
  }
  if (o.timeout_s > 0) p.flags.emplace_back("timeout_s", std::to_string(o.timeout_s));
  p.local_load = LocalLoadPrinter("patch");

  // As in `run`: progress on stderr, or, with stream-json, as events on stdout.
  const bool streaming = o.output_format == OutputFormat::kStreamJson;
  ProgressPrinter printer(stderr, o.verbose);
  StreamJsonPrinter events(stdout);
  PatchEvents patch_events(events);
  if (streaming) p.progress = &patch_events;
  const PatchResult r =
      RunPatch(p, streaming ? static_cast<AgentObserver&>(events) : printer, cancel);
  for (const auto& w : r.warnings) std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());
  if (!r.envelope.termination.message.empty()) {
    std::fprintf(stderr, "dsagent: %s\n", r.envelope.termination.message.c_str());
  }
  std::fprintf(stderr, "dsagent: patch %s: %zu file(s) changed, $%.4f\n", r.outcome.c_str(),
               r.diff.files.size(), r.envelope.cost_usd);
  if (streaming) {
    events.Finish(PatchResultJson(o, r));
  } else if (o.output_format == OutputFormat::kJson) {
    std::cout << CanonicalJson(PatchResultJson(o, r)) << std::endl;
  } else {
    std::cout << r.report;
  }
  return r.exit_code;
}

}  // namespace dsagent
