#include "common/xdg.h"

#include <cstdlib>

namespace dsagent {
namespace {
std::filesystem::path FromEnv(const char* var, const char* fallback_under_home) {
  if (const char* v = std::getenv(var); v != nullptr && v[0] == '/') return v;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr && home[0] != '\0' ? home : "/tmp") /
         fallback_under_home;
}
}  // namespace

std::filesystem::path XdgConfigHome() { return FromEnv("XDG_CONFIG_HOME", ".config"); }
std::filesystem::path XdgDataHome() { return FromEnv("XDG_DATA_HOME", ".local/share"); }
std::filesystem::path XdgCacheHome() { return FromEnv("XDG_CACHE_HOME", ".cache"); }
std::filesystem::path XdgStateHome() { return FromEnv("XDG_STATE_HOME", ".local/state"); }

}  // namespace dsagent
