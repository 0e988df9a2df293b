// Context: what every request carries, in cache-friendly order — the static system prompt, the tool
// schemas (built-ins sorted, then MCP tools in the session's order; changed only when an MCP
// server's list changes, see SetTools), then the append-only message log. Nothing is edited in
// place, so request N is a byte prefix of request N+1 up to its new tail — except at a compaction,
// which replaces the oldest tool results with short stubs once, when the next request would not
// fit the context window; the log then continues append-only on the new prefix.
//
// Cost per step: BuildRequest is O(1) in the log's length (the request shares the log's storage,
// see message_list.h) and Append is O(the message). Compaction is O(log), once.
#pragma once

#include <cstdint>
#include <ranges>
#include <string>
#include <vector>

#include "agent/providers/provider.h"
#include "common/json.h"

namespace dsagent {

// One compaction: which log entries (tool results) were replaced, and by what. Recorded in the
// trace as a "compaction" event, so that resume replays it and sends the same bytes.
struct Compaction {
  struct Replacement {
    size_t index;         // position in the log (the system message not counted)
    std::string content;  // the stub that replaces the tool result's content
  };
  std::vector<Replacement> replaced;  // in log order
  int64_t tokens_before = 0;          // estimated prompt tokens before and after
  int64_t tokens_after = 0;
  // Estimated prompt tokens from the first replaced message on: what the next request sends
  // uncached once (everything before it is still a cached prefix).
  int64_t uncached_tokens = 0;

  bool empty() const { return replaced.empty(); }
};

Json CompactionToJson(const Compaction& c);  // the trace event's fields, without "type"
// Error: a malformed event (names the field).
Expected<Compaction, std::string> CompactionFromJson(const Json& j);

class Context {
 public:
  // The log without the system message: a view, valid until the context changes. (A small class
  // rather than std::ranges::subrange, which clang 14 cannot instantiate over libstdc++ 12's deque
  // iterators; the fuzz build uses clang.)
  class LogView {
   public:
    LogView(MessageList::const_iterator begin, MessageList::const_iterator end)
        : begin_(begin), end_(end) {}
    MessageList::const_iterator begin() const { return begin_; }
    MessageList::const_iterator end() const { return end_; }
    size_t size() const { return static_cast<size_t>(end_ - begin_); }
    bool empty() const { return begin_ == end_; }
    const Message& operator[](size_t i) const { return begin_[static_cast<std::ptrdiff_t>(i)]; }
    const Message& back() const { return *(end_ - 1); }

   private:
    MessageList::const_iterator begin_, end_;
  };

  // Built-in tools are sorted by name here, whatever order they arrive in; MCP tools (mcp__...)
  // follow them in the order given (the session's order).
  Context(std::string system_prompt, std::vector<ToolSpec> tools);

  // Appends to the log. The system message is implicit; do not append one.
  void Append(Message message);

  const std::string& system_prompt() const { return messages_.front().content; }
  const std::vector<ToolSpec>& tools() const { return tools_; }
  // Replaces the tool list, in the order given (an MCP server's list changed mid-session: the
  // caller keeps the old order and appends new tools, so the prefix changes as little as it can).
  // PrefixHash() and EstimatedTokens() follow.
  void SetTools(std::vector<ToolSpec> tools);
  // The log without the system message.
  LogView log() const { return {messages_.begin() + 1, messages_.end()}; }

  // The request for the next model call: system message, then the log. O(1) in the log.
  Request BuildRequest(const Lane& lane, int64_t max_output_tokens,
                       const std::string& user_id) const;

  // Estimated prompt tokens of the next request: ceil(bytes / 4) of the canonical JSON of the tool
  // schemas and every message (as the router and the test server's cache model count them).
  // Maintained as messages are appended; O(1).
  int64_t EstimatedTokens() const { return (canonical_bytes_ + 3) / 4; }

  // The compaction that brings EstimatedTokens() to at most `target_tokens` by replacing the
  // oldest tool results with stubs naming the call that produced them (re-run it to get the output
  // back). Tool results already stubbed, and those after the last assistant message (the model
  // has not seen them yet), are kept. Empty when nothing can be elided.
  Compaction PlanCompaction(int64_t target_tokens) const;
  // Applies a planned or replayed compaction. The log moves to fresh storage (requests built
  // earlier keep the old messages). Error: an index that is not a tool result of this log.
  Expected<Ok, std::string> ApplyCompaction(const Compaction& compaction);

  // SHA-256 of the canonical system prompt + tool schemas: identifies the static prefix.
  const std::string& PrefixHash() const { return prefix_hash_; }

  // Assistant tool calls at the end of the log that have no tool result yet (e.g. a session killed
  // mid-step). Resume must answer them before the next model call.
  std::vector<ToolCall> UnansweredToolCalls() const;

 private:
  static size_t CanonicalSize(const Message& m);
  static int64_t ToolsCanonicalBytes(const std::vector<ToolSpec>& tools);
  void HashPrefix();

  std::vector<ToolSpec> tools_;
  MessageList messages_;  // the system message, then the log
  int64_t canonical_bytes_ = 0;
  std::string prefix_hash_;
};

// The canonical JSON of the tool specs as sent (name, description, parameters), for hashing/traces.
Json ToolSpecsToJson(const std::vector<ToolSpec>& tools);
std::vector<ToolSpec> ToolSpecsFromJson(const Json& j);

}  // namespace dsagent
