#include "tools/mcp/mcp_server_set.h"

#include <algorithm>
#include <thread>

#include "common/shell_quote.h"

namespace dsagent {
namespace {

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
    std::sort(c.state.tools.begin(), c.state.tools.end(),
              [](const McpToolInfo& a, const McpToolInfo& b) { return a.name < b.name; });
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
    threads.emplace_back([&, i] { connections[i] = ConnectOne(sorted[i], client_version, cancel); });
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
