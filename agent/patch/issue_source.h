// Where a patch task comes from: a markdown/text file, stdin, or a GitHub `issues` /
// `issue_comment` event payload (the JSON file Actions exposes as $GITHUB_EVENT_PATH).
#pragma once

#include <filesystem>
#include <string>

#include "common/expected.h"

namespace dsagent {

struct IssueTask {
  std::string title;  // first heading/line, or the GitHub issue title
  int number = 0;     // GitHub issue number, 0 when unknown
  std::string text;   // the instructions given to the agent
};

// From plain text (a file's or stdin's content): the title is the first non-empty line without
// leading '#'. Error: empty text.
Expected<IssueTask, std::string> IssueFromText(const std::string& text);

// From a GitHub event payload: `issues` (issue.title/body/number) or `issue_comment` (the issue
// plus comment.body as the latest request). Error: unreadable/invalid JSON, or no `issue` object.
Expected<IssueTask, std::string> IssueFromGithubEvent(const std::filesystem::path& event_json);

}  // namespace dsagent
