// A request body as a list of byte pieces. At a 1M-token context the body is megabytes, nearly all
// of it the serialised messages an encoder already holds (encoded_prefix.h); a WireBody refers to
// those bytes where they are kept instead of copying them into a fresh buffer every step, and the
// HTTP layer sends the pieces one after another (http_client.h). The pieces are immutable and
// kept alive by the body, so a body stays valid while the encoder goes on appending or resets.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent {

class WireBody {
 public:
  WireBody() = default;
  // A body held in one piece (bodies encoded whole, tests).
  explicit WireBody(std::string whole);

  // Appends `bytes`, moved into storage the body owns. For the small pieces around shared ones.
  void Append(std::string bytes);
  // Appends `bytes` without copying them; `owner` keeps them alive and unchanged.
  void AppendShared(std::shared_ptr<const void> owner, std::string_view bytes);

  // Total length in bytes.
  size_t size() const { return size_; }
  // The pieces in order; their concatenation is the body. Valid while this body lives.
  const std::vector<std::string_view>& pieces() const { return pieces_; }
  // The whole body as one string (a copy: for tests and for callers that must parse it).
  std::string Bytes() const;

 private:
  std::vector<std::shared_ptr<const void>> owners_;
  std::vector<std::string_view> pieces_;
  size_t size_ = 0;
};

}  // namespace dsagent
