#include "tools/mcp/mcp_server_set.h"

#include <algorithm>
#include <thread>

#include "common/shell_quote.h"

namespace dsagent {
namespace {

bool SameMcpTool(const McpToolInfo& a, const McpToolInfo& b) {
  return a.name == b.name && a.title == b.title && a.description == b.description &&
         a.input_schema == b.input_schema && a.annotations == b.annotations;
}

void SortByToolName(std::vector<McpToolInfo>& tools) {
  std::sort(tools.begin(), tools.end(),
            [](const McpToolInfo& a, const McpToolInfo& b) { return a.name < b.name; });
}

// What connecting one server gives.
struct Connection {
  std::shared_ptr<McpClient> client;
  McpServerState state;
};

Expected<std::unique_ptr<McpTransport>, std::string> OpenTransport(const McpServerSpec& spec) {
  if (spec.stdio) {
    auto t = StdioTransport::Start(*spec.stdio);
    if (!t) return MakeUnexpected(t.error());
    return std::unique_ptr<McpTransport>(std::move(*t));
  }
  if (spec.http) return std::unique_ptr<McpTransport>(new HttpTransport(*spec.http));
  return MakeUnexpected("neither a command nor a url is configured");
}

Connection ConnectOne(const McpServerSpec& spec, const std::string& client_version,
                      const CancelToken& cancel) {
  Connection c;
  c.state.name = spec.name;
  c.state.transport = DescribeMcpTransport(spec);
  auto transport = OpenTransport(spec);
  if (!transport) {
    c.state.error = transport.error();
    return c;
  }
  McpClientOptions options;
  options.client_version = client_version;
  options.request_timeout = spec.startup_timeout;
  auto client = std::make_shared<McpClient>(std::move(*transport), options);
  auto info = client->Initialize(cancel);
  if (!info) {
    c.state.error = info.error();
    return c;
  }
  c.state.info = *info;
  if (info->has_tools) {
    auto tools = client->ListTools(cancel);
    if (!tools) {
      c.state.error = tools.error();
      return c;
    }
    c.state.tools = std::move(*tools);
    SortByToolName(c.state.tools);
  }
  c.state.connected = true;
  c.client = std::move(client);
  return c;
}

}  // namespace

std::string DescribeMcpTransport(const McpServerSpec& spec) {
  if (spec.stdio) {
    std::string line = "stdio: " + ShellQuoteIfNeeded(spec.stdio->command);
    for (const std::string& a : spec.stdio->args) line += " " + ShellQuoteIfNeeded(a);
    return line;
  }
  if (spec.http) return "http: " + spec.http->url;
  return "(no transport)";
}

std::unique_ptr<McpServerSet> McpServerSet::Connect(const std::vector<McpServerSpec>& specs,
                                                    const std::string& client_version,
                                                    const CancelToken& cancel) {
  std::unique_ptr<McpServerSet> set(new McpServerSet());
  std::vector<McpServerSpec> sorted = specs;
  std::sort(sorted.begin(), sorted.end(),
            [](const McpServerSpec& a, const McpServerSpec& b) { return a.name < b.name; });
  std::vector<Connection> connections(sorted.size());
  std::vector<std::thread> threads;
  threads.reserve(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    threads.emplace_back(
        [&, i] { connections[i] = ConnectOne(sorted[i], client_version, cancel); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < sorted.size(); ++i) {
    set->entries_.push_back({sorted[i], std::move(connections[i].client)});
    set->states_.push_back(std::move(connections[i].state));
  }
  return set;
}

McpServerSet::~McpServerSet() = default;

std::vector<std::unique_ptr<McpTool>> McpServerSet::MakeTools() const {
  std::vector<std::unique_ptr<McpTool>> tools;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].client) continue;
    for (const McpToolInfo& info : states_[i].tools) {
      tools.push_back(std::make_unique<McpTool>(entries_[i].client, entries_[i].spec.name, info,
                                                entries_[i].spec.tool_timeout));
    }
  }
  return tools;
}

std::vector<std::string> McpServerSet::ChangedServers() const {
  std::vector<std::string> names;
  for (const Entry& e : entries_) {
    if (e.client && e.client->ToolsChanged()) names.push_back(e.spec.name);
  }
  return names;
}

}  // namespace dsagent

namespace dsagent {

std::vector<McpToolListChange> McpServerSet::Refresh(const CancelToken& cancel) {
  std::vector<McpToolListChange> changes;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const std::shared_ptr<McpClient>& client = entries_[i].client;
    if (!client || !client->ToolsChanged()) continue;
    McpToolListChange change;
    change.server = entries_[i].spec.name;
    auto listed = client->ListTools(cancel);
    if (!listed) {
      change.error = listed.error();
      changes.push_back(std::move(change));
      continue;
    }
    std::vector<McpToolInfo> fresh = std::move(*listed);
    SortByToolName(fresh);
    const std::vector<McpToolInfo>& old = states_[i].tools;
    const auto find = [](const std::vector<McpToolInfo>& in, const std::string& name) {
      return std::find_if(in.begin(), in.end(),
                          [&](const McpToolInfo& t) { return t.name == name; });
    };
    for (const McpToolInfo& t : fresh) {
      const auto before = find(old, t.name);
      if (before == old.end()) {
        change.added.push_back(t);
      } else if (!SameMcpTool(*before, t)) {
        change.changed.push_back(t);
      }
    }
    for (const McpToolInfo& t : old) {
      if (find(fresh, t.name) == fresh.end()) change.removed.push_back(t.name);
    }
    states_[i].tools = std::move(fresh);
    if (change.added.empty() && change.changed.empty() && change.removed.empty()) continue;
    changes.push_back(std::move(change));
  }
  return changes;
}

std::unique_ptr<McpTool> McpServerSet::MakeTool(const std::string& server,
                                                const McpToolInfo& info) const {
  for (const Entry& e : entries_) {
    if (e.spec.name != server || !e.client) continue;
    return std::make_unique<McpTool>(e.client, e.spec.name, info, e.spec.tool_timeout);
  }
  return nullptr;
}

}  // namespace dsagent
