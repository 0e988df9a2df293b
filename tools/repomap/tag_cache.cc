#include "tools/repomap/tag_cache.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include "common/json.h"
#include "common/sha256.h"
#include "common/xdg.h"

namespace dsagent::repomap {
namespace {

// Bump when the tag format or the extractor's behaviour changes: old entries become misses.
constexpr std::string_view kFormatVersion = "repomap-tags-v1";

const std::string& QueryHash(const Language& language) {
  static std::mutex mu;
  static std::map<const Language*, std::string> hashes;
  std::lock_guard<std::mutex> lock(mu);
  auto it = hashes.find(&language);
  if (it == hashes.end()) {
    it = hashes.emplace(&language, Sha256Hex(TagsQuerySource(language))).first;
  }
  return it->second;
}

Json ToJson(const FileTags& tags) {
  Json t = Json::array();
  for (const Tag& tag : tags.tags) {
    t.push_back(Json::array({tag.name, tag.role == TagRole::kDefinition ? 1 : 0, tag.kind, tag.line,
                             tag.column, tag.start_line, tag.end_line}));
  }
  Json s = Json::array();
  for (const LineRange& r : tags.scopes) s.push_back(Json::array({r.start_line, r.end_line}));
  return Json{{"v", kFormatVersion}, {"errors", tags.parse_errors}, {"tags", t}, {"scopes", s}};
}

std::optional<FileTags> FromJson(const Json& j) {
  if (!j.is_object() || j.value("v", "") != kFormatVersion) return std::nullopt;
  FileTags out;
  out.parse_errors = j.at("errors").get<bool>();
  for (const Json& t : j.at("tags")) {
    Tag tag;
    tag.name = t.at(0).get<std::string>();
    tag.role = t.at(1).get<int>() == 1 ? TagRole::kDefinition : TagRole::kReference;
    tag.kind = t.at(2).get<std::string>();
    tag.line = t.at(3).get<uint32_t>();
    tag.column = t.at(4).get<uint32_t>();
    tag.start_line = t.at(5).get<uint32_t>();
    tag.end_line = t.at(6).get<uint32_t>();
    out.tags.push_back(std::move(tag));
  }
  for (const Json& s : j.at("scopes")) {
    out.scopes.push_back({s.at(0).get<uint32_t>(), s.at(1).get<uint32_t>()});
  }
  return out;
}

}  // namespace

TagCache::TagCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

std::filesystem::path TagCache::DefaultDir() { return XdgCacheHome() / "dsagent" / "repomap"; }

std::string TagCache::Key(const Language& language, std::string_view content_sha256) {
  std::string material(kFormatVersion);
  material += '\0' + language.name + '\0' + QueryHash(language) + '\0';
  material += content_sha256;
  return Sha256Hex(material);
}

std::filesystem::path TagCache::EntryPath(const std::string& key) const {
  return dir_ / key.substr(0, 2) / (key.substr(2) + ".json");
}

std::optional<FileTags> TagCache::Load(const std::string& key) const {
  if (dir_.empty() || key.size() < 3) return std::nullopt;
  std::ifstream in(EntryPath(key), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return FromJson(Json::parse(ss.str()));
  } catch (const std::exception&) {
    return std::nullopt;  // corrupt entry: a miss; the next Store() replaces it
  }
}

void TagCache::Store(const std::string& key, const FileTags& tags) const {
  if (dir_.empty() || key.size() < 3) return;
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path path = EntryPath(key);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return;
  // No fsync: the cache is recomputable, and a torn entry fails to parse and reads as a miss.
  const std::filesystem::path tmp =
      path.string() + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out << ToJson(tags).dump();
    if (!out.flush()) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace dsagent::repomap
