#include "agent/core/context.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "common/sha256.h"

namespace dsagent {
namespace {

constexpr std::string_view kStubPrefix = "[elided to fit the context window: ";
constexpr size_t kMaxArgumentsInStub = 300;

// What replaces an elided tool result: what it was and how to get it back.
std::string Stub(const Message& result, const ToolCall* call) {
  std::string out(kStubPrefix);
  out += std::to_string(result.content.size()) + " bytes of output";
  if (call == nullptr) {
    out += ". Run the tool again if the output is still needed.]";
    return out;
  }
  std::string args = call->arguments;
  if (args.size() > kMaxArgumentsInStub) args = args.substr(0, kMaxArgumentsInStub) + "...";
  out += " of " + call->name + " " + args + ". ";
  if (call->name == "bash") {
    out += "Re-run the command if you need it again.]";
  } else if (call->name == "read_file") {
    out += "Read the file again if you need it.]";
  } else {
    out += "Call " + call->name + " again with the same arguments if you need it.]";
  }
  return out;
}

bool IsStub(const Message& m) { return m.content.rfind(kStubPrefix, 0) == 0; }

}  // namespace

Json CompactionToJson(const Compaction& c) {
  Json replaced = Json::array();
  for (const auto& r : c.replaced) replaced.push_back({{"index", r.index}, {"content", r.content}});
  return {{"replaced", std::move(replaced)},
          {"tokens_before", c.tokens_before},
          {"tokens_after", c.tokens_after},
          {"uncached_tokens", c.uncached_tokens}};
}

Expected<Compaction, std::string> CompactionFromJson(const Json& j) {
  Compaction c;
  const Json replaced = j.value("replaced", Json());
  if (!replaced.is_array())
    return MakeUnexpected(std::string("compaction event without 'replaced'"));
  for (const Json& r : replaced) {
    if (!r.is_object() || !r.contains("index") || !r["index"].is_number_unsigned() ||
        !r.contains("content") || !r["content"].is_string()) {
      return MakeUnexpected(std::string("compaction event: malformed 'replaced' entry"));
    }
    c.replaced.push_back({r["index"].get<size_t>(), r["content"].get<std::string>()});
  }
  c.tokens_before = j.value("tokens_before", int64_t{0});
  c.tokens_after = j.value("tokens_after", int64_t{0});
  c.uncached_tokens = j.value("uncached_tokens", int64_t{0});
  return c;
}

Context::Context(std::string system_prompt, std::vector<ToolSpec> tools)
    : tools_(std::move(tools)) {
  // Built-in tools sorted by name, then MCP servers' tools (mcp__...) in the order given: the
  // session's fixed order (tools/mcp/mcp_server_set.h), after every built-in.
  const auto key = [](const ToolSpec& t) {
    const bool mcp = t.name.rfind("mcp__", 0) == 0;
    return std::pair<bool, std::string_view>(mcp, mcp ? std::string_view() : t.name);
  };
  std::stable_sort(tools_.begin(), tools_.end(),
                   [&](const ToolSpec& a, const ToolSpec& b) { return key(a) < key(b); });
  canonical_bytes_ = 2 + ToolsCanonicalBytes(tools_);  // 2: the brackets of [tools..., messages...]
  messages_.push_back(SystemMessage(std::move(system_prompt)));
  canonical_bytes_ += static_cast<int64_t>(CanonicalSize(messages_.front()));
  HashPrefix();
}

int64_t Context::ToolsCanonicalBytes(const std::vector<ToolSpec>& tools) {
  int64_t bytes = 0;
  for (const Json& t : ToolSpecsToJson(tools)) {
    bytes += static_cast<int64_t>(CanonicalJson(t).size()) + 1;
  }
  return bytes;
}

void Context::HashPrefix() {
  prefix_hash_ = Sha256Hex(
      CanonicalJson({{"system", messages_.front().content}, {"tools", ToolSpecsToJson(tools_)}}));
}

void Context::SetTools(std::vector<ToolSpec> tools) {
  canonical_bytes_ += ToolsCanonicalBytes(tools) - ToolsCanonicalBytes(tools_);
  tools_ = std::move(tools);
  HashPrefix();
}

size_t Context::CanonicalSize(const Message& m) { return CanonicalJson(MessageToJson(m)).size(); }

void Context::Append(Message message) {
  canonical_bytes_ += static_cast<int64_t>(CanonicalSize(message)) + 1;
  messages_.push_back(std::move(message));
}

Request Context::BuildRequest(const Lane& lane, int64_t max_output_tokens,
                              const std::string& user_id) const {
  Request r;
  r.lane = lane;
  r.messages = messages_;
  r.tools = tools_;
  r.max_output_tokens = max_output_tokens;
  r.user_id = user_id;
  return r;
}

Compaction Context::PlanCompaction(int64_t target_tokens) const {
  Compaction c;
  c.tokens_before = EstimatedTokens();
  // Results after the last assistant message are news to the model: never elided.
  size_t last_assistant = 0;
  for (size_t i = messages_.size(); i-- > 1;) {
    if (messages_[i].role == Role::kAssistant) {
      last_assistant = i;
      break;
    }
  }
  std::map<std::string, const ToolCall*> calls;  // id -> the call, of the calls seen so far
  int64_t bytes = canonical_bytes_;
  const auto tokens = [](int64_t b) { return (b + 3) / 4; };
  for (size_t i = 1; i < last_assistant && tokens(bytes) > target_tokens; ++i) {
    const Message& m = messages_[i];
    if (m.role == Role::kAssistant) {
      for (const ToolCall& call : m.tool_calls) calls[call.id] = &call;
      continue;
    }
    if (m.role != Role::kTool || IsStub(m)) continue;
    auto call = calls.find(m.tool_call_id);
    Message stubbed = m;
    stubbed.content = Stub(m, call == calls.end() ? nullptr : call->second);
    const int64_t saved =
        static_cast<int64_t>(CanonicalSize(m)) - static_cast<int64_t>(CanonicalSize(stubbed));
    if (saved <= 0) continue;  // already small: a stub would not help
    bytes -= saved;
    c.replaced.push_back({i - 1, std::move(stubbed.content)});
  }
  c.tokens_after = tokens(bytes);
  if (!c.replaced.empty()) {
    int64_t before_first = 2;
    for (const Json& t : ToolSpecsToJson(tools_)) {
      before_first += static_cast<int64_t>(CanonicalJson(t).size()) + 1;
    }
    for (size_t i = 0; i <= c.replaced.front().index; ++i) {
      before_first += static_cast<int64_t>(CanonicalSize(messages_[i])) + 1;
    }
    c.uncached_tokens = std::max<int64_t>(0, c.tokens_after - tokens(before_first));
  }
  return c;
}

Expected<Ok, std::string> Context::ApplyCompaction(const Compaction& compaction) {
  for (size_t k = 0; k < compaction.replaced.size(); ++k) {
    const auto& r = compaction.replaced[k];
    if (k > 0 && r.index <= compaction.replaced[k - 1].index) {
      return MakeUnexpected(std::string("compaction entries are not in log order"));
    }
    if (r.index + 1 >= messages_.size() || messages_[r.index + 1].role != Role::kTool) {
      return MakeUnexpected("compaction names log entry " + std::to_string(r.index) +
                            ", which is not a tool result");
    }
  }
  MessageList fresh;
  size_t next = 0;
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (next < compaction.replaced.size() && compaction.replaced[next].index + 1 == i) {
      Message m = messages_[i];
      canonical_bytes_ -= static_cast<int64_t>(CanonicalSize(m));
      m.content = compaction.replaced[next].content;
      canonical_bytes_ += static_cast<int64_t>(CanonicalSize(m));
      fresh.push_back(std::move(m));
      ++next;
    } else {
      fresh.push_back(messages_[i]);
    }
  }
  messages_ = std::move(fresh);
  return Ok{};
}

std::vector<ToolCall> Context::UnansweredToolCalls() const {
  // Find the last assistant message; collect tool results after it.
  size_t i = messages_.size();
  while (i-- > 1 && messages_[i].role != Role::kAssistant) {
  }
  if (i == 0) return {};
  std::set<std::string> answered;
  for (size_t j = i + 1; j < messages_.size(); ++j) {
    if (messages_[j].role == Role::kTool) answered.insert(messages_[j].tool_call_id);
  }
  std::vector<ToolCall> out;
  for (const auto& call : messages_[i].tool_calls) {
    if (!answered.count(call.id)) out.push_back(call);
  }
  return out;
}

Json ToolSpecsToJson(const std::vector<ToolSpec>& tools) {
  Json arr = Json::array();
  for (const auto& t : tools) {
    arr.push_back({{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}});
  }
  return arr;
}

std::vector<ToolSpec> ToolSpecsFromJson(const Json& j) {
  std::vector<ToolSpec> out;
  for (const auto& t : j) {
    out.push_back({t.at("name").get<std::string>(), t.at("description").get<std::string>(),
                   t.at("parameters")});
  }
  return out;
}

}  // namespace dsagent
