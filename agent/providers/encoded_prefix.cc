#include "agent/providers/encoded_prefix.h"

#include <utility>
#include <vector>

namespace dsagent {

bool EncodedPrefix::ContinueOrReset(uint64_t list_storage_id, size_t list_size) {
  if (storage_id == list_storage_id && messages <= list_size) return true;
  storage_id = list_storage_id;
  messages = 0;
  elements.clear();
  elements.shrink_to_fit();  // the old conversation's bytes are dead weight now
  return false;
}

void EncodedPrefix::Append(std::string_view element) {
  if (!elements.empty()) elements.push_back(',');
  elements.append(element);
}

std::string CanonicalJsonWithArray(const Json& object, std::string_view key,
                                   std::string_view elements, std::string_view more) {
  // The other fields are serialised first so that the body is allocated once at its final size:
  // it is megabytes at 1M tokens, and growing it would copy it and fault in fresh pages again.
  std::vector<std::pair<std::string, std::string>> fields;  // canonical key, canonical value
  size_t size =
      2 + CanonicalJson(Json(std::string(key))).size() + 3 + elements.size() + more.size();
  for (auto it = object.begin(); it != object.end(); ++it) {
    fields.emplace_back(CanonicalJson(Json(it.key())), CanonicalJson(it.value()));
    size += fields.back().first.size() + fields.back().second.size() + 2;
  }
  std::string out;
  out.reserve(size);
  out.push_back('{');
  bool first = true;
  const auto separate = [&] {
    if (!first) out.push_back(',');
    first = false;
  };
  bool placed = false;
  const auto place_array = [&] {
    separate();
    out += CanonicalJson(Json(std::string(key)));
    out += ":[";
    out.append(elements);
    if (!elements.empty() && !more.empty()) out.push_back(',');
    out.append(more);
    out.push_back(']');
    placed = true;
  };
  // nlohmann::json iterates object keys in sorted order, as dump() writes them.
  auto field = fields.begin();
  for (auto it = object.begin(); it != object.end(); ++it, ++field) {
    if (!placed && std::string_view(it.key()) > key) place_array();
    separate();
    out += field->first;
    out.push_back(':');
    out += field->second;
  }
  if (!placed) place_array();
  out.push_back('}');
  return out;
}

}  // namespace dsagent
