#include "agent/providers/wire_body.h"

#include <utility>

namespace dsagent {

WireBody::WireBody(std::string whole) { Append(std::move(whole)); }

void WireBody::Append(std::string bytes) {
  if (bytes.empty()) return;
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  const std::string_view view = *owned;
  AppendShared(std::move(owned), view);
}

void WireBody::AppendShared(std::shared_ptr<const void> owner, std::string_view bytes) {
  if (bytes.empty()) return;
  owners_.push_back(std::move(owner));
  pieces_.push_back(bytes);
  size_ += bytes.size();
}

std::string WireBody::Bytes() const {
  std::string out;
  out.reserve(size_);
  for (std::string_view piece : pieces_) out.append(piece);
  return out;
}

}  // namespace dsagent
