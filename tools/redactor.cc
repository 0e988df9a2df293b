#include "tools/redactor.h"

#include <algorithm>

namespace dsagent {

void Redactor::Add(std::string name, std::string value) {
  if (value.size() < kMinSecretBytes) return;
  for (const Secret& s : secrets_) {
    if (s.value == value) return;
  }
  // Keep the longest first so that a secret containing another is replaced whole.
  auto at = std::find_if(secrets_.begin(), secrets_.end(),
                         [&value](const Secret& s) { return s.value.size() < value.size(); });
  secrets_.insert(at, {std::move(name), std::move(value)});
}

std::string Redactor::Redact(std::string_view text) const {
  if (secrets_.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;  // text[copied, pos) is still to be appended
  size_t pos = 0;
  while (pos < text.size()) {
    const Secret* hit = nullptr;
    for (const Secret& s : secrets_) {
      if (text.compare(pos, s.value.size(), s.value) == 0) {
        hit = &s;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    out.append(text.substr(copied, pos - copied));
    out += "[REDACTED:" + hit->name + "]";
    pos += hit->value.size();
    copied = pos;
  }
  out.append(text.substr(copied));
  return out;
}

std::vector<std::string> Redactor::names() const {
  std::vector<std::string> names;
  for (const Secret& s : secrets_) names.push_back(s.name);
  return names;
}

}  // namespace dsagent
