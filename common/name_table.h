// The names of an enum's values, written once as a table, for the Name/Parse function pairs
// (PermissionModeName / ParsePermissionMode, DTypeName / ParseDType, ...):
//
//   constexpr EnumName<Decision> kDecisionNames[] = {
//       {Decision::kAllow, "allow"}, {Decision::kAsk, "ask"}, {Decision::kDeny, "deny"}};
//   std::string DecisionName(Decision d) { return std::string(NameOf(kDecisionNames, d)); }
//   std::optional<Decision> ParseDecision(std::string_view n) { return ValueNamed(kDecisionNames,
//   n); }
//
// A name comes from a string literal, so NameOf(...).data() is a NUL-terminated C string.
// Header-only; constexpr; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace dsagent {

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

// The name of `value`; "" for a value the table lacks (a table that misses one is a bug, which
// the table's own test catches: every Parse(Name(v)) == v).
template <class E, size_t N>
constexpr std::string_view NameOf(const EnumName<E> (&table)[N], E value) {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name;
  }
  return "";
}

// The value named `name` exactly; nullopt for anything else.
template <class E, size_t N>
constexpr std::optional<E> ValueNamed(const EnumName<E> (&table)[N], std::string_view name) {
  for (const EnumName<E>& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

}  // namespace dsagent
