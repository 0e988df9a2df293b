#include "common/json.h"

namespace dsagent {

std::string CanonicalJson(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace dsagent
