// SHA-256 (OpenSSL) as lowercase hex, for content identities: prompt versions, prefix hashes,
// per-repository user ids. Not for secrets.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

std::string Sha256Hex(std::string_view data);

}  // namespace dsagent
