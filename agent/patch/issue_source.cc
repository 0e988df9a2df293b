#include "agent/patch/issue_source.h"

#include "common/file_io.h"
#include "common/json.h"

namespace dsagent {

Expected<IssueTask, std::string> IssueFromText(const std::string& text) {
  IssueTask t;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    const size_t first = line.find_first_not_of("# \t\r");
    if (first != std::string::npos) {
      t.title = line.substr(first);
      while (!t.title.empty() && (t.title.back() == '\r' || t.title.back() == ' ')) {
        t.title.pop_back();
      }
      break;
    }
    pos = end + 1;
  }
  if (t.title.empty()) return MakeUnexpected("the issue text is empty");
  t.text = text;
  return t;
}

Expected<IssueTask, std::string> IssueFromGithubEvent(const std::filesystem::path& event_json) {
  auto raw = ReadFileToString(event_json);
  if (!raw) return MakeUnexpected(raw.error());
  const Json event = Json::parse(*raw, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    return MakeUnexpected(event_json.string() + ": not valid JSON");
  }
  if (!event.contains("issue") || !event["issue"].is_object()) {
    return MakeUnexpected(event_json.string() +
                          ": not an `issues` or `issue_comment` event (no `issue` object)");
  }
  const Json& issue = event["issue"];
  IssueTask t;
  t.title = issue.value("title", "");
  t.number = issue.value("number", 0);
  const std::string body = issue.contains("body") && issue["body"].is_string()
                               ? issue["body"].get<std::string>()
                               : std::string();
  t.text =
      "# " + t.title + (t.number ? " (#" + std::to_string(t.number) + ")" : "") + "\n\n" + body;
  if (event.contains("comment") && event["comment"].is_object()) {
    t.text += "\n\n## Latest comment\n\n" + event["comment"].value("body", "");
  }
  if (t.title.empty() && body.empty())
    return MakeUnexpected(event_json.string() + ": the issue is empty");
  return t;
}

}  // namespace dsagent
