#include "agent/providers/encoded_prefix.h"

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
  std::string out;
  out.reserve(elements.size() + more.size() + 512);
  out.push_back('{');
  bool first = true;
  bool placed = false;
  const auto field = [&](std::string_view name) {
    if (!first) out.push_back(',');
    first = false;
    out += CanonicalJson(Json(std::string(name)));
    out.push_back(':');
  };
  const auto place_array = [&] {
    field(key);
    out.push_back('[');
    out.append(elements);
    if (!elements.empty() && !more.empty()) out.push_back(',');
    out.append(more);
    out.push_back(']');
    placed = true;
  };
  // nlohmann::json iterates object keys in sorted order, as dump() writes them.
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!placed && std::string_view(it.key()) > key) place_array();
    field(it.key());
    out += CanonicalJson(it.value());
  }
  if (!placed) place_array();
  out.push_back('}');
  return out;
}

}  // namespace dsagent
