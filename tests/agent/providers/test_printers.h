// Readable gtest failure output for provider value types (found by ADL).
#pragma once

#include <ostream>

#include "agent/providers/provider.h"

namespace dsagent {

inline void PrintTo(const Usage& u, std::ostream* os) {
  *os << "Usage{hit=" << u.input_cache_hit << ", miss=" << u.input_cache_miss
      << ", output=" << u.output << ", reasoning=" << u.reasoning << "}";
}

inline void PrintTo(const ToolCall& c, std::ostream* os) {
  *os << "ToolCall{" << c.id << ", " << c.name << ", " << c.arguments << "}";
}

}  // namespace dsagent
