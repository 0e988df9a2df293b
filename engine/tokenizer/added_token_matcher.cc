#include "engine/tokenizer/added_token_matcher.h"

#include <algorithm>

namespace dsagent::engine {

AddedTokenMatcher::AddedTokenMatcher() : nodes_(1) {}

int32_t AddedTokenMatcher::Child(int32_t node, unsigned char byte) const {
  const auto& children = nodes_[static_cast<size_t>(node)].children;
  auto it = std::lower_bound(children.begin(), children.end(), byte,
                             [](const auto& c, unsigned char b) { return c.first < b; });
  return it != children.end() && it->first == byte ? it->second : -1;
}

void AddedTokenMatcher::Add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  starts_[static_cast<unsigned char>(text[0])] = true;
  longest_ = std::max(longest_, text.size());
  int32_t node = 0;
  for (char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    int32_t child = Child(node, byte);
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      auto& children = nodes_[static_cast<size_t>(node)].children;
      auto it = std::lower_bound(children.begin(), children.end(), byte,
                                 [](const auto& c, unsigned char b) { return c.first < b; });
      children.insert(it, {byte, child});
    }
    node = child;
  }
  nodes_[static_cast<size_t>(node)].id = id;
}

AddedTokenMatcher::Match AddedTokenMatcher::Next(std::string_view text, size_t from) const {
  // `read` is how far the scan has looked: the byte at each position tried, and each trie walk up
  // to the byte that ended it (one with no child) or to a node with no children (nothing longer
  // to look for, so the byte after it is not read). A walk that runs into the end of the text
  // makes the answer depend on the text ending there.
  size_t read = from;
  for (size_t i = from; i < text.size(); ++i) {
    if (!starts_[static_cast<unsigned char>(text[i])]) continue;
    Match best;
    int32_t node = 0;
    size_t j = i;
    for (; j < text.size(); ++j) {
      node = Child(node, static_cast<unsigned char>(text[j]));
      if (node < 0) break;
      const Node& n = nodes_[static_cast<size_t>(node)];
      if (n.id >= 0) best = {i, j + 1 - i, n.id};
      if (n.children.empty()) break;
    }
    read = j == text.size() ? kReadToEnd : std::max(read, j + 1);
    if (best.id >= 0) {
      best.read_end = read;
      return best;
    }
  }
  return {};
}

}  // namespace dsagent::engine
