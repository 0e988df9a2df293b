#include "agent/cli/cache_command.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "agent/core/termination.h"
#include "common/byte_size.h"
#include "common/json.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/store_maintenance.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;

int Stats(const fs::path& dir, bool json) {
  const auto s = engine::kv::ComputeStoreStats(dir);
  if (json) {
    Json models = Json::object();
    for (const auto& [id, m] : s.models) {
      models[id] = {{"blocks", m.blocks},
                    {"checkpoints", m.checkpoints},
                    {"bytes", m.bytes},
                    {"raw_bytes", m.raw_bytes},
                    {"longest_prefix_tokens", m.longest_prefix_tokens}};
    }
    std::cout << Json{{"dir", dir.string()},
                      {"records", s.records},
                      {"bytes", s.bytes},
                      {"unreadable", s.unreadable},
                      {"models", models}}
                     .dump(2)
              << std::endl;
    return kExitDone;
  }
  std::printf("%s: %lld records, %.2f MiB", dir.c_str(), static_cast<long long>(s.records),
              static_cast<double>(s.bytes) / (1 << 20));
  if (s.unreadable > 0) std::printf(", %lld unreadable", static_cast<long long>(s.unreadable));
  std::printf("\n");
  for (const auto& [id, m] : s.models) {
    std::printf(
        "  model %s: %lld blocks, %lld checkpoints, %.2f MiB on disk (%.2f MiB raw), longest "
        "prefix %lld tokens\n",
        id.substr(0, 16).c_str(), static_cast<long long>(m.blocks),
        static_cast<long long>(m.checkpoints), static_cast<double>(m.bytes) / (1 << 20),
        static_cast<double>(m.raw_bytes) / (1 << 20),
        static_cast<long long>(m.longest_prefix_tokens));
  }
  return kExitDone;
}

int Verify(const fs::path& dir, bool json, bool remove) {
  const auto records = engine::kv::ListRecordFiles(dir).size();
  const auto bad = engine::kv::VerifyStore(dir, remove);
  if (json) {
    Json list = Json::array();
    for (const auto& b : bad) list.push_back({{"file", b.path.string()}, {"reason", b.reason}});
    std::cout << Json{{"records", records}, {"bad", list}, {"removed", remove}}.dump(2)
              << std::endl;
  } else {
    for (const auto& b : bad) std::printf("bad: %s: %s\n", b.path.c_str(), b.reason.c_str());
    std::printf("%zu records, %zu bad%s\n", records, bad.size(),
                remove && !bad.empty() ? " (removed)" : "");
  }
  return bad.empty() ? kExitDone : kExitError;
}

int Prune(const fs::path& dir, const std::string& max_size, bool json) {
  const auto budget = ParseByteSize(max_size);
  if (!budget) {
    std::fprintf(stderr, "dsagent: --max-size BYTES is required (e.g. 8G, 512M, 1000000)\n");
    return kExitUsage;
  }
  auto r = engine::kv::PruneStore(dir, *budget);
  if (!r) {
    std::fprintf(stderr, "dsagent: %s\n", r.error().c_str());
    return kExitError;
  }
  if (json) {
    std::cout << Json{{"removed_records", r->removed_records},
                      {"removed_unusable", r->removed_unusable},
                      {"removed_bytes", r->removed_bytes},
                      {"remaining_bytes", r->remaining_bytes}}
                     .dump(2)
              << std::endl;
  } else {
    std::printf("removed %lld records (%lld unusable, %.2f MiB); %.2f MiB remain\n",
                static_cast<long long>(r->removed_records),
                static_cast<long long>(r->removed_unusable),
                static_cast<double>(r->removed_bytes) / (1 << 20),
                static_cast<double>(r->remaining_bytes) / (1 << 20));
  }
  return kExitDone;
}

}  // namespace

void AddCacheCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<CacheCommandOptions>();
  CacheCommandOptions& o = *options;
  auto* cmd = app.add_subcommand("cache", "The persistent KV prefix cache of the local engine");
  cmd->require_subcommand(1);
  cmd->add_option("--kv-dir", o.kv_dir, "Cache directory (default: $XDG_CACHE_HOME/dsagent/kv)");
  cmd->add_flag("--json", o.json, "JSON output");
  o.stats = cmd->add_subcommand("stats", "Records, bytes and longest prefix per model");
  o.verify = cmd->add_subcommand("verify", "Check every record; list bad ones with the reason");
  o.verify->add_flag("--remove", o.remove, "Also delete the bad records");
  o.prune = cmd->add_subcommand("prune", "Delete least recently used records down to a size");
  o.prune->add_option("--max-size", o.max_size, "Budget in bytes (K/M/G/T suffixes: 1024-based)");
  for (auto* sub : {o.stats, o.verify, o.prune}) {
    sub->add_option("--kv-dir", o.kv_dir, "Cache directory");
    sub->add_flag("--json", o.json, "JSON output");
  }
  table.Bind(cmd, [options] { return CacheCommand(*options); });
}

int CacheCommand(const CacheCommandOptions& o) {
  const fs::path dir = o.kv_dir.empty() ? engine::kv::DefaultKvDir() : fs::path(o.kv_dir);
  if (o.stats && *o.stats) return Stats(dir, o.json);
  if (o.verify && *o.verify) return Verify(dir, o.json, o.remove);
  if (o.prune && *o.prune) return Prune(dir, o.max_size, o.json);
  return kExitUsage;
}

}  // namespace dsagent
