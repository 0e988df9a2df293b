#include "agent/cli/config_command.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "agent/config/config.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"

namespace dsagent {

void AddConfigCommand(CLI::App& app, CommandTable& table) {
  auto repo = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("config", "Inspect configuration");
  cmd->require_subcommand(1);
  auto* show = cmd->add_subcommand("show", "Print the merged config with each value's source");
  show->add_option("--repo", *repo, "Repository whose .dsagent/config.yaml applies");
  table.Bind(show, [repo] { return ConfigShowCommand(*repo); });
}

int ConfigShowCommand(const std::string& repo) {
  namespace fs = std::filesystem;
  auto config = Config::Load({.repo_dir = repo.empty() ? fs::current_path() : fs::path(repo),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) {
    std::fprintf(stderr, "dsagent: %s\n", config.error().c_str());
    return kExitConfigAuth;
  }
  for (const auto& w : config->Warnings())
    std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());
  std::cout << config->Show();
  // Which variables shell commands do not get (names only), as a comment after the settings.
  auto env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
  if (!env) {
    std::fprintf(stderr, "dsagent: %s\n", env.error().c_str());
    return kExitConfigAuth;
  }
  std::cout << "# shell environment: " << DescribeToolEnvironment(*env) << "\n";
  return kExitDone;
}

}  // namespace dsagent
