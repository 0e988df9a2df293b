// XDG base directories (https://specifications.freedesktop.org/basedir-spec/): where dsagent keeps
// user config, session traces and caches. Each falls back to the spec's default under $HOME.
#pragma once

#include <filesystem>

namespace dsagent {

std::filesystem::path XdgConfigHome();  // $XDG_CONFIG_HOME or ~/.config
std::filesystem::path XdgDataHome();    // $XDG_DATA_HOME or ~/.local/share
std::filesystem::path XdgCacheHome();   // $XDG_CACHE_HOME or ~/.cache
std::filesystem::path XdgStateHome();   // $XDG_STATE_HOME or ~/.local/state

}  // namespace dsagent
